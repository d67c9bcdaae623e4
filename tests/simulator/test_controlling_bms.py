"""venus-observed 31-35: the controlling BMS, MultipleBatteries, cell count 0, restarts."""

from __future__ import annotations

import json

from simulator import BatteryConfig, VenusSimulator
from simulator.mqtt_battery import MqttBatteryConfig
from tests.simulator.conftest import SimFactory
from tests.simulator.helpers import PORTAL, Observer, wait_until

N = f"N/{PORTAL}"
TOPIC = "enphase/battery"
BODY = {
    "Dc": {"Power": 500.0, "Voltage": 53.0, "Current": 9.4},
    "Soc": 80,
    "Info": {"MaxChargeVoltage": 56.8, "MaxChargeCurrent": 30.0},
    "Voltages": {"Cell1": 3.31, "Cell2": 3.32},
}


def system(sim: VenusSimulator, path: str) -> object:
    return sim.get_value("system", 0, path)


async def with_virtual_bms(make_sim: SimFactory, observer: Observer) -> VenusSimulator:
    """A real BMS (512) and the dbus-mqtt-battery driver (100) fed one JSON."""
    sim = await make_sim(
        battery=BatteryConfig(instance=512, cells=16),
        mqtt_battery=MqttBatteryConfig(update_interval=0.1),
        keepalive_timeout=30.0,
    )
    await observer.keepalive()
    sim.set_value("settings", 0, "/Settings/Services/Bol", 1)
    await observer.publish(TOPIC, json.dumps(BODY))
    await wait_until(lambda: sim.store.service("battery", 100) is not None)
    return sim


async def test_bms_instance_chooses_the_controlling_bms(
    make_sim: SimFactory, observer: Observer
) -> None:
    """31/32: -1 = the lowest instance with a CVL, an instance = that one, -255 = none;
    a missing instance means no BMS limits at all."""
    sim = await with_virtual_bms(make_sim, observer)
    await wait_until(lambda: system(sim, "/ActiveBmsInstance") == 100)  # automatic: lowest
    assert system(sim, "/Control/EffectiveChargeVoltage") == 56.8
    await observer.publish(
        f"W/{PORTAL}/settings/0/Settings/SystemSetup/BmsInstance", '{"value": 512}'
    )
    await wait_until(lambda: system(sim, "/ActiveBmsInstance") == 512)
    assert system(sim, "/Control/EffectiveChargeVoltage") == 55.2  # the real BMS's CVL
    await observer.wait_topic(f"{N}/settings/0/Settings/SystemSetup/BmsInstance")  # echoed
    sim.set_value("settings", 0, "/Settings/SystemSetup/BmsInstance", 7)  # gone/never there
    assert system(sim, "/ActiveBmsService") is None
    assert system(sim, "/Control/EffectiveChargeVoltage") is None
    assert system(sim, "/Dc/Battery/ChargeVoltage") is None
    sim.set_value("settings", 0, "/Settings/SystemSetup/BmsInstance", -255)
    assert system(sim, "/ActiveBmsInstance") is None


async def test_two_bms_services_raise_multiple_batteries(
    make_sim: SimFactory, observer: Observer
) -> None:
    """33: raised while both exist, whichever is chosen; gone with the driver."""
    sim = await with_virtual_bms(make_sim, observer)
    assert system(sim, "/Dvcc/Alarms/MultipleBatteries") == 1
    sim.set_value("settings", 0, "/Settings/SystemSetup/BmsInstance", 512)
    assert system(sim, "/Dvcc/Alarms/MultipleBatteries") == 1
    sim.remove_driver_service(sim.store.service("battery", 100))  # type: ignore[arg-type]
    assert system(sim, "/Dvcc/Alarms/MultipleBatteries") == 0


async def test_mqtt_battery_without_a_cell_count_reports_zero(
    make_sim: SimFactory, observer: Observer
) -> None:
    """34: NrOfCellsPerBattery 0 unless the JSON carries a count."""
    sim = await with_virtual_bms(make_sim, observer)
    await wait_until(lambda: sim.get_value("battery", 100, "/System/NrOfCellsPerBattery") == 0)
    await observer.publish(TOPIC, json.dumps({**BODY, "System": {"NrOfCellsPerBattery": 2}}))
    await wait_until(lambda: sim.get_value("battery", 100, "/System/NrOfCellsPerBattery") == 2)
    # A pack behind dbus-mqtt-battery reports 0 too.
    other = await make_sim(
        battery=BatteryConfig(instance=513, cells=8, flavour="mqtt_battery"),
        portal_id="0123456789ab",
    )
    assert other.get_value("battery", 513, "/System/NrOfCellsPerBattery") == 0


async def test_a_driver_restart_arrives_topic_by_topic(
    make_sim: SimFactory, observer: Observer
) -> None:
    """35: vanishing and reappearing one path at a time (zero-byte payloads, then values),
    in hash order: a reader sees the service shrink and grow, never all at once."""
    sim = await make_sim(battery=BatteryConfig(instance=512, cells=16), keepalive_timeout=30.0)
    await observer.keepalive()
    config = sim.batteries[512]
    service = sim.store.service("battery", 512)
    assert service is not None
    paths = list(service.items)
    observer.clear()
    sim.remove_service("battery", 512)
    prefix = f"{N}/battery/512"

    def battery_messages() -> list[tuple[str, bytes]]:
        return [
            (m.topic.removeprefix(prefix), m.payload)
            for m in observer.messages
            if m.topic.startswith(prefix + "/")
        ]

    await wait_until(lambda: len(battery_messages()) >= len(paths))
    assert [payload for _, payload in battery_messages()] == [b""] * len(paths)
    assert {path for path, _ in battery_messages()} == set(paths)
    observer.clear()
    sim.add_battery(config)
    await observer.wait_service(prefix, paths)
    order = [path for path, _ in battery_messages()]
    assert len(order) == len(paths)  # one message per path
    assert order != paths  # not in the registration order
