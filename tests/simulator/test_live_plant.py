"""Physics, DVCC and dbus-mqtt-battery over the real broker."""

from __future__ import annotations

import asyncio
import json

from freezegun.api import FrozenDateTimeFactory

from simulator.bms import BmsConfig
from simulator.chargers import MpptConfig, MultiPlusConfig
from simulator.mqtt_battery import MqttBatteryConfig
from simulator.pack import PackConfig
from simulator.plant import PlantConfig
from tests.simulator.conftest import SimFactory
from tests.simulator.helpers import PORTAL, Observer, elapse, wait_until

N = f"N/{PORTAL}"
SETTINGS = f"W/{PORTAL}/settings/0/Settings"
VEBUS_CCL = f"{N}/vebus/276/Link/ChargeCurrent"
MPPT_CCL = f"{N}/solarcharger/278/Link/ChargeCurrent"
MQTT_BATTERY = f"{N}/battery/100"
TOPIC = "enphase/battery"
STEP = 0.05  # the plant's and the test's time step (s)


async def write(observer: Observer, path: str, value: object) -> None:
    await observer.publish(f"{SETTINGS}/{path}", json.dumps({"value": value}))


async def test_dvcc_current_limit_shows_only_on_chargers_after_1_3_to_2_3_s(
    freezer: FrozenDateTimeFactory, observer: Observer, make_sim: SimFactory
) -> None:
    plant = PlantConfig(
        pack=PackConfig(soc=0.5),
        multiplus=MultiPlusConfig(grid_charging=False),
        mppt=MpptConfig(),
        step=STEP,
    )
    sim = await make_sim(plant=plant, keepalive_timeout=30.0)
    await observer.keepalive()
    assert observer.last(f"{N}/system/0/Control/SolarChargeVoltage").value == 0
    assert observer.last(VEBUS_CCL).value is None  # DVCC off: not controlled
    await write(observer, "Services/Bol", 1)
    await elapse(freezer, 2.4, step=STEP)
    assert observer.last(MPPT_CCL).value == 50.0  # the BMS CCL
    assert observer.last(f"{N}/system/0/Control/SolarChargeVoltage").value == 1
    loop = asyncio.get_running_loop()
    for user, expected in ((10, 10.0), (-1, 50.0)):
        observer.clear()
        sent = loop.time()
        await write(observer, "SystemSetup/MaxChargeCurrent", user)
        await elapse(freezer, 1.25, step=STEP)
        assert not any(m.value == expected for m in observer.on(VEBUS_CCL))
        await elapse(freezer, 1.25, step=STEP)
        seen = next(m for m in observer.on(VEBUS_CCL) if m.value == expected)
        # Within a plant step of the 1.3-2.3 s delay, and a step to publish it (the
        # frozen loop clock reads ~1.8e9 s: its float steps are ~2e-7 s).
        assert 1.3 - STEP - 1e-6 <= seen.at - sent <= 2.3 + 2 * STEP + 1e-6
        assert any(m.value == expected for m in observer.on(MPPT_CCL))
        # The user limit never appears under system/0 (behaviour 23).
        assert all(
            m.value in (True, 0)
            for m in observer.messages
            if "/system/0/" in m.topic and "MaxChargeCurrent" in m.topic
        )
    assert sim.settings_writes == 3


async def test_aggressive_charge_counts_ovp_events(
    observer: Observer, make_sim: SimFactory
) -> None:
    plant = PlantConfig(
        pack=PackConfig(soc=0.96),
        bms=BmsConfig(max_cell_voltage=3.65, ccl_by_cell_voltage=False, max_charge_current=200),
        multiplus=MultiPlusConfig(),
    )
    sim = await make_sim(plant=plant, speed=600.0, keepalive_timeout=30.0)
    await observer.keepalive()
    await write(observer, "Services/Bol", 1)
    await wait_until(lambda: sim.ovp_events >= 1, timeout=10.0)
    battery = f"{N}/battery/512"
    await wait_until(
        lambda: (
            bool(observer.on(f"{battery}/Io/AllowToCharge"))
            and observer.last(f"{battery}/Io/AllowToCharge").value == 0
        )
    )
    await wait_until(lambda: observer.last(f"{battery}/Alarms/HighVoltage").value == 2)
    assert sim.plant is not None
    assert sim.plant.bms.ovp_events[0].voltage >= 3.65


async def test_mqtt_battery_appears_on_valid_json_and_vanishes_after_timeout(
    freezer: FrozenDateTimeFactory, observer: Observer, make_sim: SimFactory
) -> None:
    config = MqttBatteryConfig(timeout=0.6, update_interval=0.1)
    sim = await make_sim(battery=None, mqtt_battery=config, keepalive_timeout=30.0)
    await observer.keepalive()
    observer.clear()
    await observer.publish(TOPIC, json.dumps({"Dc": {"Power": 10.0, "Voltage": 52.0}}))  # no Soc
    await observer.publish(TOPIC, b"not json")
    await elapse(freezer, 0.3)
    assert not [t for t in observer.topics_seen() if t.startswith(MQTT_BATTERY)]
    body = {
        "Dc": {"Power": 321.6, "Voltage": 52.7},
        "Soc": 63,
        "Voltages": {"Cell1": 3.29, "Cell2": 3.31},
    }
    # Wrapped as {"value":"<json string>"} (behaviour 28).
    await observer.publish(TOPIC, json.dumps({"value": json.dumps(body)}))
    await wait_until(lambda: sim.store.service("battery", 100) is not None)
    service = sim.store.service("battery", 100)
    assert service is not None
    await observer.wait_service(MQTT_BATTERY, service.items)
    assert observer.last(f"{MQTT_BATTERY}/ProductId").value == 65535
    assert observer.last(f"{MQTT_BATTERY}/ProductName").value == "MQTT Battery"
    assert observer.last(f"{MQTT_BATTERY}/Voltages/Cell2").value == 3.31
    assert observer.last(f"{MQTT_BATTERY}/Voltages/Cell24").value is None
    assert observer.last(f"{MQTT_BATTERY}/Dc/0/Current").value == round(321.6 / 52.7, 3)
    await elapse(freezer, 0.5)
    assert len(observer.on(f"{MQTT_BATTERY}/UpdateIndex")) >= 4
    assert observer.last(f"{MQTT_BATTERY}/Soc").payload != b""
    # No more messages: gone after the timeout, with zero-byte payloads.
    await elapse(freezer, 0.2)
    topics = {f"{MQTT_BATTERY}{path}" for path in service.items}
    assert all(observer.last(t).payload == b"" for t in topics)
    assert sim.store.service("battery", 100) is None
    await observer.publish(TOPIC, json.dumps(body))
    await wait_until(lambda: observer.last(f"{MQTT_BATTERY}/Soc").payload != b"")
    assert sim.mqtt_battery is not None
    assert sim.mqtt_battery.restarts == 1


async def test_mqtt_battery_write_is_echoed_then_reverted_and_dvcc_follows_it(
    freezer: FrozenDateTimeFactory, observer: Observer, make_sim: SimFactory
) -> None:
    config = MqttBatteryConfig(update_interval=0.1)
    await make_sim(mqtt_battery=config, keepalive_timeout=30.0)
    await observer.keepalive()
    body = {
        "Dc": {"Power": 0.0, "Voltage": 53.0},
        "Soc": 63,
        "Info": {"MaxChargeVoltage": 55.0, "MaxChargeCurrent": 80, "MaxDischargeCurrent": 120},
    }
    await observer.publish(TOPIC, json.dumps(body))
    await observer.wait_topic(f"{MQTT_BATTERY}/Soc")
    await write(observer, "Services/Bol", 1)
    system = f"{N}/system/0"
    await wait_until(
        lambda: (
            bool(observer.on(f"{system}/Control/EffectiveChargeVoltage"))
            and observer.last(f"{system}/Control/EffectiveChargeVoltage").value == 55.0
        )
    )
    assert (
        observer.last(f"{system}/ActiveBmsService").value
        == "com.victronenergy.battery.mqtt_battery_100"
    )
    observer.clear()
    ccl = f"{MQTT_BATTERY}/Info/MaxChargeCurrent"
    await observer.publish(f"W/{PORTAL}/battery/100/Info/MaxChargeCurrent", '{"value": 10}')
    await wait_until(lambda: bool(observer.on(ccl)))
    assert observer.last(ccl).value == 10  # the echo
    await elapse(freezer, 0.3)  # the driver's updates go on
    assert observer.last(ccl).value == 10  # no JSON yet: it stays
    # The next JSON omits Info entirely, and still reverts the write (behaviour 29).
    await observer.publish(TOPIC, json.dumps({"Dc": body["Dc"], "Soc": 64}))
    await elapse(freezer, 0.2)  # the driver's next update (every 0.1 s)
    assert observer.last(ccl).value == 80
    assert observer.last(f"{MQTT_BATTERY}/Soc").value == 64
