"""The Python API the integration tests drive: values, cells, vanish, restart, stop."""

from __future__ import annotations

import asyncio

import pytest
from freezegun.api import FrozenDateTimeFactory

from simulator import BatteryConfig, VenusSimulator
from tests.broker import MosquittoBroker, free_port
from tests.simulator.conftest import SimFactory
from tests.simulator.helpers import PORTAL, Observer, elapse, wait_until

N = f"N/{PORTAL}"
BATTERY = f"{N}/battery/512"
SYSTEM = f"{N}/system/0"
HEARTBEAT = f"{N}/heartbeat"
DC_BATTERY = (
    "Voltage",
    "Current",
    "Power",
    "Soc",
    "Temperature",
    "ConsumedAmphours",
    "TimeToGo",
    "Capacity",
)


def non_heartbeat(observer: Observer) -> list[str]:
    return [m.topic for m in observer.messages if m.topic != HEARTBEAT]


async def test_set_value_publishes_only_changes_and_only_while_alive(
    sim: VenusSimulator, observer: Observer
) -> None:
    """Changes go out on N/ while alive; an equal value is not republished."""
    sim.set_value("system", 0, "/Dc/Pv/Power", 900.0)  # not alive: silent
    await observer.keepalive()
    observer.clear()
    sim.set_value("system", 0, "Dc/Pv/Power", 1200.0)  # leading slash optional
    sim.set_value("system", 0, "/Dc/Pv/Power", 1200.0)
    await observer.wait_topic(f"{SYSTEM}/Dc/Pv/Power")
    await observer.quiet()
    assert non_heartbeat(observer) == [f"{SYSTEM}/Dc/Pv/Power"]
    assert observer.last(f"{SYSTEM}/Dc/Pv/Power").value == 1200.0
    assert sim.get_value("system", 0, "/Dc/Pv/Power") == 1200.0
    with pytest.raises(KeyError):
        sim.set_value("system", 0, "/No/Such/Path", 1)
    with pytest.raises(KeyError):
        sim.get_value("battery", 7, "/Soc")


async def test_cell_voltages_recompute_derived_values(
    sim: VenusSimulator, observer: Observer
) -> None:
    """Min/max/ids, Sum/Diff, pack voltage and power, and the system mirror follow the cells."""
    await observer.keepalive()
    volts = [3.30] * 16
    volts[2] = 3.41
    volts[9] = 3.25
    sim.set_value("battery", 512, "/Dc/0/Current", 10.0)
    sim.set_cell_voltages(volts)
    expected = {
        f"{BATTERY}/Voltages/Cell3": 3.41,
        f"{BATTERY}/System/MaxCellVoltage": 3.41,
        f"{BATTERY}/System/MaxVoltageCellId": "C3",
        f"{BATTERY}/System/MinCellVoltage": 3.25,
        f"{BATTERY}/System/MinVoltageCellId": "C10",
        f"{BATTERY}/Voltages/Sum": round(sum(volts), 3),
        f"{BATTERY}/Voltages/Diff": 0.16,
        f"{BATTERY}/Dc/0/Voltage": round(sum(volts), 2),
        f"{SYSTEM}/Dc/Battery/Voltage": round(sum(volts), 2),
        f"{SYSTEM}/Dc/Battery/Current": 10.0,
    }
    await wait_until(
        lambda: all(observer.on(t) and observer.last(t).value == v for t, v in expected.items())
    )
    expected_power = pytest.approx(round(sum(volts), 2) * 10.0)
    # The battery's power and then the system mirror follow; wait for both.
    await wait_until(
        lambda: (
            observer.on(f"{BATTERY}/Dc/0/Power")
            and observer.last(f"{BATTERY}/Dc/0/Power").value == expected_power
            and observer.on(f"{SYSTEM}/Dc/Battery/Power")
            and observer.last(f"{SYSTEM}/Dc/Battery/Power").value == expected_power
        )
    )
    observer.clear()
    sim.set_value("battery", 512, "/Balances/Cell3", 1)
    await observer.wait_topic(f"{BATTERY}/Balancing")
    assert observer.last(f"{BATTERY}/Balancing").value == 1
    with pytest.raises(ValueError, match="16 cells"):
        sim.set_cell_voltages([3.3] * 15)


async def test_set_cell_count_serialbattery_vanishes_cells(
    sim: VenusSimulator, observer: Observer
) -> None:
    """Removed serialbattery cells get zero-byte payloads; added ones appear."""
    await observer.keepalive()
    observer.clear()
    sim.set_cell_count(14)
    gone = {f"{BATTERY}/{kind}/Cell{i}" for kind in ("Voltages", "Balances") for i in (15, 16)}
    await wait_until(lambda: gone <= observer.topics_seen())
    assert all(observer.last(t).payload == b"" for t in gone)
    await wait_until(lambda: bool(observer.on(f"{BATTERY}/System/NrOfCellsPerBattery")))
    assert observer.last(f"{BATTERY}/System/NrOfCellsPerBattery").value == 14
    assert observer.last(f"{BATTERY}/Info/MaxChargeVoltage").value == pytest.approx(48.3)
    assert sim.batteries[512].cells == 14
    with pytest.raises(KeyError):
        sim.get_value("battery", 512, "/Voltages/Cell15")
    observer.clear()
    sim.set_cell_count(16)
    await wait_until(lambda: gone <= observer.topics_seen())
    assert all(isinstance(observer.last(t).value, int | float) for t in gone)
    with pytest.raises(ValueError, match="cells"):
        sim.set_cell_count(0)


async def test_set_cell_count_mqtt_battery_nulls_cells(
    make_sim: SimFactory, observer: Observer
) -> None:
    """mqtt_battery keeps its 24 slots: removed cells become null, not zero-byte."""
    sim = await make_sim(battery=BatteryConfig(instance=100, cells=16, flavour="mqtt_battery"))
    await observer.keepalive()
    observer.clear()
    sim.set_cell_count(15)
    topic = f"{N}/battery/100/Voltages/Cell16"
    await observer.wait_topic(topic)
    assert observer.last(topic).payload == b'{"value":null}'
    assert sim.get_value("battery", 100, "/Voltages/Cell16") is None
    with pytest.raises(ValueError, match=r"1\.\.24"):
        sim.set_cell_count(25)


async def test_battery_vanishes_and_reappears(sim: VenusSimulator, observer: Observer) -> None:
    """10/25: zero-byte on every battery topic, system mirror null; add_battery restores."""
    await observer.keepalive()
    battery = sim.store.service("battery", 512)
    assert battery is not None
    topics = {f"{BATTERY}{path}" for path in battery.items}
    observer.clear()
    sim.remove_service("battery", 512)
    await wait_until(lambda: topics <= observer.topics_seen())
    assert all(observer.last(t).payload == b"" for t in topics)
    await wait_until(
        lambda: (
            bool(observer.on(f"{SYSTEM}/AutoSelectedBatteryService"))
            and observer.last(f"{SYSTEM}/AutoSelectedBatteryService").value
            == "No battery monitor found"
        )
    )
    await wait_until(lambda: all(observer.on(f"{SYSTEM}/Dc/Battery/{p}") for p in DC_BATTERY[:3]))
    for path in DC_BATTERY:
        assert sim.get_value("system", 0, f"/Dc/Battery/{path}") is None
    assert sim.get_value("system", 0, "/ActiveBatteryService") is None
    assert sim.get_value("system", 0, "/AvailableBmsServices") == []

    observer.clear()
    sim.add_battery(BatteryConfig(instance=512))
    await wait_until(lambda: topics <= observer.topics_seen())
    assert observer.last(f"{BATTERY}/Soc").value == 50.0
    await wait_until(
        lambda: (
            bool(observer.on(f"{SYSTEM}/ActiveBatteryService"))
            and observer.last(f"{SYSTEM}/ActiveBatteryService").value
            == "com.victronenergy.battery/512"
        )
    )
    with pytest.raises(ValueError, match="already exists"):
        sim.add_battery(BatteryConfig(instance=512))


async def test_vanish_while_not_alive_is_still_published(
    sim: VenusSimulator, observer: Observer
) -> None:
    """6 (exception) / 10: a vanishing device's zero-byte payloads go out even without a
    keepalive; the service is gone from a later full publish."""
    paths = len(sim.store.service("battery", 512).items)  # type: ignore[union-attr]
    sim.remove_service("battery", 512)
    await wait_until(lambda: len(observer.messages) >= paths)
    assert all(m.payload == b"" and "/battery/512/" in m.topic for m in observer.messages)
    assert len({m.topic for m in observer.messages}) == paths  # one by one, each once
    observer.messages.clear()
    await observer.keepalive()
    assert not any("/battery/" in t for t in observer.topics_seen())


async def test_dvcc_charge_voltage(sim: VenusSimulator, observer: Observer) -> None:
    """21/22: ChargeVoltage = min(BMS CVL, user limit if > 0) with DVCC on, else null."""

    async def write(path: str, value: float) -> None:
        await observer.publish(f"W/{PORTAL}/settings/0/Settings/{path}", f'{{"value": {value}}}')
        await wait_until(lambda: sim.get_value("settings", 0, f"/Settings/{path}") == value)

    def charge_voltage() -> object:
        return sim.get_value("system", 0, "/Dc/Battery/ChargeVoltage")

    await observer.keepalive()
    assert charge_voltage() is None
    await write("Services/Bol", 1)
    assert charge_voltage() == 55.2
    await write("SystemSetup/MaxChargeVoltage", 54.0)
    assert charge_voltage() == 54.0
    assert sim.get_value("system", 0, "/Control/EffectiveChargeVoltage") == 54.0
    await wait_until(
        lambda: (
            bool(observer.on(f"{SYSTEM}/Dc/Battery/ChargeVoltage"))
            and observer.last(f"{SYSTEM}/Dc/Battery/ChargeVoltage").value == 54.0
        )
    )
    await write("SystemSetup/MaxChargeVoltage", 58.4)  # can only lower, never raise
    assert charge_voltage() == 55.2
    await write("SystemSetup/BmsInstance", -255)  # no BMS control
    assert charge_voltage() is None
    assert sim.get_value("system", 0, "/ActiveBmsService") is None
    await write("SystemSetup/BmsInstance", -1)
    await write("Services/Bol", 0)
    assert charge_voltage() is None
    assert sim.get_value("system", 0, "/Control/Dvcc") is False
    assert sim.settings_writes == 6


async def test_heartbeat_pause_and_expire_keepalive(
    freezer: FrozenDateTimeFactory, sim: VenusSimulator, observer: Observer
) -> None:
    """Fault injection: heartbeats stop while alive; expire_keepalive ends all traffic."""
    await observer.keepalive()
    sim.pause_heartbeat()
    await observer.quiet()
    observer.clear()
    await elapse(freezer, 0.3)
    assert observer.on(HEARTBEAT) == []
    assert sim.alive
    sim.resume_heartbeat()
    await elapse(freezer, 0.2)
    assert observer.on(HEARTBEAT)
    sim.expire_keepalive()
    assert sim.plugin.alive is False
    await observer.quiet()
    observer.clear()
    sim.set_value("system", 0, "/Dc/Pv/Power", 77.0)
    await elapse(freezer, 0.3)
    assert observer.messages == []


async def test_publish_raw(sim: VenusSimulator, observer: Observer) -> None:
    """Arbitrary bytes reach subscribers; a raw W/ goes through the normal write path."""
    await sim.publish_raw(f"{BATTERY}/Soc", b"\xff not json")
    await observer.wait_topic(f"{BATTERY}/Soc")
    assert observer.last(f"{BATTERY}/Soc").payload == b"\xff not json"
    await sim.publish_raw(f"W/{PORTAL}/settings/0/Settings/Services/Bol", b"{")
    await wait_until(lambda: len(sim.rejected_writes) == 1)
    assert sim.rejected_writes[0][1] == "payload is not JSON"


async def test_survives_broker_restart(
    sim: VenusSimulator, observer: Observer, mqtt_broker: MosquittoBroker
) -> None:
    """Reconnect with backoff, re-subscribe, re-publish the retained Serial."""
    mqtt_broker.stop()
    await wait_until(lambda: not sim.connected)
    sim.set_value("system", 0, "/Dc/Pv/Power", 321.0)  # dropped, not queued forever
    mqtt_broker.start()  # same port, empty retained store
    await wait_until(lambda: sim.connected and sim.connect_count == 2, timeout=5.0)
    late = Observer(mqtt_broker.host, mqtt_broker.port)
    await late.start()
    try:
        serial = await late.wait_topic(f"{SYSTEM}/Serial")
        assert serial.retain is True
        done = await late.keepalive()
        assert isinstance(done.value, int)
        assert late.last(f"{SYSTEM}/Dc/Pv/Power").value == 321.0
        await late.publish(f"W/{PORTAL}/settings/0/Settings/Services/Bol", '{"value": 1}')
        await wait_until(lambda: sim.get_value("settings", 0, "/Settings/Services/Bol") == 1)
    finally:
        await late.stop()


async def test_stop_leaves_nothing_behind(
    freezer: FrozenDateTimeFactory, make_sim: SimFactory, observer: Observer
) -> None:
    """stop() cancels every task and timer, disconnects, and can be called twice."""
    loop = asyncio.get_running_loop()
    tasks_before = asyncio.all_tasks()
    timers_before = set(loop._scheduled)  # type: ignore[attr-defined]
    sim = await make_sim(
        battery=BatteryConfig(instance=100, flavour="mqtt_battery", update_interval=0.1)
    )
    await observer.keepalive()
    assert sim.alive
    await sim.stop()
    await sim.stop()
    assert sim.plugin.alive is False
    assert sim.connected is False
    await observer.quiet()  # what was sent before stop() arrives
    observer.clear()
    await elapse(freezer, 0.3)  # no heartbeat, no UpdateIndex ticks any more
    assert observer.messages == []
    await observer.stop()  # its reader task churns; take it out of the picture
    assert asyncio.all_tasks() - tasks_before == set()
    timers = set(loop._scheduled) - timers_before  # type: ignore[attr-defined]
    assert [h for h in timers if not h.cancelled()] == []


async def test_start_without_broker_fails_cleanly() -> None:
    """No broker: start() raises ConnectionError and leaves no task behind."""
    tasks_before = asyncio.all_tasks()
    sim = VenusSimulator("127.0.0.1", free_port())
    with pytest.raises(ConnectionError):
        await sim.start(timeout=0.5)
    await sim.stop()
    assert asyncio.all_tasks() - tasks_before == set()


async def test_restart_after_stop_announces_again(make_sim: SimFactory, observer: Observer) -> None:
    """A stopped simulator can start again; that is a plugin start (keepalive 1 again)."""
    sim = await make_sim()
    announce = f"{N}/keepalive"
    await observer.wait_topic(announce)
    await sim.stop()
    await sim.start()
    await observer.wait_topic(announce, count=2)
    await observer.keepalive()
    assert sim.alive
