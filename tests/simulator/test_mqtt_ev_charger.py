"""dbus-mqtt-ev-charger (behaviours 26, 27, 29, 30): units, then over the real broker."""

from __future__ import annotations

import json

from freezegun.api import FrozenDateTimeFactory

from simulator.__main__ import build_mqtt_ev_charger, build_parser
from simulator.items import JsonValue, Service
from simulator.mqtt_ev_charger import (
    MqttEvChargerConfig,
    MqttEvChargerDriver,
    default_values,
    merge,
)
from tests.broker import MosquittoBroker
from tests.simulator.conftest import SimFactory
from tests.simulator.helpers import PORTAL, Observer, elapse, wait_until

N = f"N/{PORTAL}"
EVC = f"{N}/evcharger/100"
TOPIC = MqttEvChargerConfig.topic
FULL = {
    "Ac": {
        "Power": 7000.0,
        "L1": {"Power": 2400.0},
        "L2": {"Power": 2300.0},
        "L3": {"Power": 2300.0},
        "Energy": {"Forward": 342.4},
    },
    "Current": 10.1,
    "MaxCurrent": 32,
    "SetCurrent": 16,
    "AutoStart": 1,
    "ChargingTime": 63,
    "EnableDisplay": 0,
    "Mode": 2,
    "StartStop": 0,
    "Status": 22,
}


class FakeHost:
    """DriverHost recording what the driver does, without a GX."""

    def __init__(self) -> None:
        self.services: list[Service] = []
        self.removed = 0

    def add_driver_service(self, service: Service) -> None:
        self.services.append(service)

    def update_driver_service(self, service: Service, values: dict[str, JsonValue]) -> None:
        for path, value in values.items():
            if path in service.items:
                service.items[path].value = value

    def remove_driver_service(self, service: Service) -> None:
        self.removed += 1


def test_current_is_derived_per_phase_count_unless_given() -> None:
    values = default_values()
    merge(values, {"Ac": {"Power": 2300}}, 230.0)
    assert values["/Current"] == 10.0  # behaviour 30: power / 230 V
    merge(values, {"Ac": {"Power": 6900, "L1": {"Power": 2300}, "L2": {"Power": 2300}}}, 230.0)
    assert values["/Current"] == 15.0
    three: dict[str, JsonValue] = {"Ac": {"Power": 6900, "L1": {}, "L2": {}, "L3": {}}}
    merge(values, three, 230.0)
    assert values["/Current"] == 10.0
    merge(values, {"Ac": {"Power": 0}}, 230.0)
    assert values["/Current"] == 0
    merge(values, {"Ac": {"Power": 2300}, "Current": 7.5, "Position": 1, "Bogus": 3}, 230.0)
    assert values["/Current"] == 7.5
    assert "/Position" not in values  # from the config, not the JSON
    assert "/Bogus" not in values
    merge(values, {"Ac": {"Power": 1}, "SetCurrent": True, "Mode": [1]}, 230.0)
    assert values["/SetCurrent"] is None  # bools and lists are refused
    assert values["/Mode"] == 1  # default kept


def test_charging_time_is_counted_and_reaches_dbus_with_the_next_json() -> None:
    now = [1000.0]
    host = FakeHost()
    driver = MqttEvChargerDriver(MqttEvChargerConfig(timeout=0), host, lambda: now[0])
    driver.handle_message(b'{"Ac":{"Power":0}}')
    service = host.services[0]

    def on_dbus() -> JsonValue:
        return service.items["/ChargingTime"].value

    def counted() -> JsonValue:
        return driver.values["/ChargingTime"]

    driver.tick()
    assert counted() is None  # not charging yet
    driver.handle_message(b'{"Ac":{"Power":3000}}')
    driver.tick()  # starts counting at 1000
    now[0] = 1063.0
    driver.tick()
    assert counted() == 63
    # The 3000 W JSON was pushed before the count started: D-Bus lags one JSON behind.
    assert on_dbus() is None
    driver.handle_message(b'{"Ac":{"Power":0}}')
    driver.tick()
    assert on_dbus() == 63
    now[0] = 1063.0 + 301
    driver.tick()
    assert counted() is None  # 300 s at 0 W: reset
    driver.handle_message(b'{"Ac":{"Power":5},"ChargingTime":7}')
    driver.tick()
    assert on_dbus() == 7  # given: no counting
    assert service.items["/UpdateIndex"].value == 6
    assert host.removed == 0  # timeout 0 disables the exit


def test_cli_options() -> None:
    parser = build_parser()
    assert build_mqtt_ev_charger(parser.parse_args([])) is None
    args = parser.parse_args(
        [
            *("--mqtt-ev-charger", "--mqtt-ev-charger-topic", "evse/json"),
            *("--mqtt-ev-charger-instance", "11", "--mqtt-ev-charger-position", "1"),
        ]
    )
    assert build_mqtt_ev_charger(args) == MqttEvChargerConfig(
        topic="evse/json", instance=11, position=1
    )
    assert parser.parse_args(["--mqtt-ev-charger"]).mqtt_ev_charger_topic == "custom/ev-charger"


async def test_appears_on_first_valid_json_with_current_from_power(
    observer: Observer, make_sim: SimFactory
) -> None:
    """26 and 30; bad JSON and JSON without Ac.Power are ignored and counted."""
    config = MqttEvChargerConfig(update_interval=0.1)
    sim = await make_sim(battery=None, mqtt_ev_charger=config, keepalive_timeout=30.0)
    await observer.keepalive()
    observer.clear()
    await observer.publish(TOPIC, b"not json")
    await observer.publish(TOPIC, json.dumps({"Ac": {"Energy": {"Forward": 1.0}}}))
    await observer.publish(TOPIC, b"")
    await observer.quiet()
    assert not [t for t in observer.topics_seen() if t.startswith(EVC)]
    assert sim.store.service("evcharger", 100) is None
    driver = sim.mqtt_ev_charger
    assert driver is not None
    assert (driver.ignored, driver.messages) == (3, 0)
    await observer.publish(TOPIC, json.dumps({"Ac": {"Power": 321.6}}))
    await wait_until(lambda: sim.store.service("evcharger", 100) is not None)
    service = sim.store.service("evcharger", 100)
    assert service is not None
    await observer.wait_service(EVC, service.items)
    assert observer.last(f"{EVC}/ProductId").value == 65535
    assert observer.last(f"{EVC}/ProductName").value == "MQTT EV Charger"
    assert observer.last(f"{EVC}/DeviceInstance").value == 100
    assert observer.last(f"{EVC}/Ac/Power").value == 321.6
    assert observer.last(f"{EVC}/Current").value == round(321.6 / 230, 3)
    assert observer.last(f"{EVC}/Position").value == 0
    for path in ("Ac/L1/Power", "Ac/L3/Power", "Ac/Energy/Forward", "SetCurrent", "Status"):
        assert observer.last(f"{EVC}/{path}").value is None
    assert observer.last(f"{EVC}/StartStop").value == 1
    assert observer.last(f"{EVC}/Mode").value == 1
    expected = {
        *(f"/Ac/{p}" for p in ("Power", "L1/Power", "L2/Power", "L3/Power", "Energy/Forward")),
        *("/Current", "/MaxCurrent", "/SetCurrent", "/AutoStart", "/ChargingTime"),
        *("/EnableDisplay", "/Mode", "/Position", "/StartStop", "/Status", "/UpdateIndex"),
        *("/Mgmt/ProcessName", "/Mgmt/Connection", "/Connected", "/CustomName"),
    }
    assert {f"{EVC}{p}" for p in expected} <= observer.topics_seen()
    # Wrapped like dbus-mqtt-battery's {"value":"<json>"}; merged into what is there.
    await observer.publish(TOPIC, json.dumps({"value": json.dumps({"Ac": {"Power": 2300}})}))
    await wait_until(lambda: observer.last(f"{EVC}/Current").value == 10.0)
    await observer.wait_topic(f"{EVC}/UpdateIndex", count=2)
    assert (driver.ignored, driver.messages) == (3, 2)
    # A full publish includes the charger.
    await observer.keepalive()
    assert observer.last(f"{EVC}/Ac/Power").value == 2300


async def test_values_pass_through(observer: Observer, make_sim: SimFactory) -> None:
    """Status, Mode and every other key of the full JSON reach N/ unchanged."""
    config = MqttEvChargerConfig(update_interval=0.1, position=1, instance=11)
    sim = await make_sim(battery=None, mqtt_ev_charger=config, keepalive_timeout=30.0)
    await observer.keepalive()
    await observer.publish(TOPIC, json.dumps(FULL))
    evc = f"{N}/evcharger/11"
    await wait_until(lambda: sim.store.service("evcharger", 11) is not None)
    service = sim.store.service("evcharger", 11)
    assert service is not None
    await observer.wait_service(evc, service.items)
    expected = {
        "Ac/Power": 7000.0,
        "Ac/L1/Power": 2400.0,
        "Ac/L2/Power": 2300.0,
        "Ac/L3/Power": 2300.0,
        "Ac/Energy/Forward": 342.4,
        "Current": 10.1,
        "MaxCurrent": 32,
        "SetCurrent": 16,
        "AutoStart": 1,
        "ChargingTime": 63,
        "EnableDisplay": 0,
        "Mode": 2,
        "StartStop": 0,
        "Status": 22,
        "Position": 1,
    }
    assert {path: observer.last(f"{evc}/{path}").value for path in expected} == expected
    for status, mode in ((2, 0), (24, 1), (4, 2)):
        body = {"Ac": {"Power": 0}, "Status": status, "Mode": mode}
        await observer.publish(TOPIC, json.dumps(body))

        def shown(status: int = status, mode: int = mode) -> bool:
            return bool(
                observer.last(f"{evc}/Status").value == status
                and observer.last(f"{evc}/Mode").value == mode
            )

        await wait_until(shown)


async def test_exits_after_timeout_and_comes_back(
    freezer: FrozenDateTimeFactory, observer: Observer, make_sim: SimFactory
) -> None:
    """27: zero-byte payloads on all its topics, back on the next JSON."""
    config = MqttEvChargerConfig(timeout=0.5, update_interval=0.1)
    sim = await make_sim(battery=None, mqtt_ev_charger=config, keepalive_timeout=30.0)
    await observer.keepalive()
    observer.clear()
    await observer.publish(TOPIC, json.dumps(FULL))
    await wait_until(lambda: sim.store.service("evcharger", 100) is not None)
    service = sim.store.service("evcharger", 100)
    assert service is not None
    await observer.wait_service(EVC, service.items)
    topics = {t for t in observer.topics_seen() if t.startswith(EVC + "/")}
    # Not-JSON does not keep it alive; a parseable JSON without Ac.Power would.
    for _ in range(2):
        await elapse(freezer, 0.2)
        await observer.publish(TOPIC, b"{broken")
        await observer.quiet()
    await elapse(freezer, 0.05)
    assert observer.last(f"{EVC}/Status").payload != b""  # 0.45 s after the valid JSON
    await elapse(freezer, 0.2)  # the broken ones did not refresh the 0.5 s timeout
    assert observer.last(f"{EVC}/Status").payload == b""
    assert all(observer.last(t).payload == b"" for t in topics)
    assert sim.store.service("evcharger", 100) is None
    observer.clear()
    await observer.publish(TOPIC, json.dumps({"Ac": {"Power": 1150}}))
    await observer.wait_topic(f"{EVC}/Status")
    # A new process: defaults again, not the old JSON's values.
    assert observer.last(f"{EVC}/Status").value is None
    assert observer.last(f"{EVC}/Mode").value == 1
    assert observer.last(f"{EVC}/Current").value == 5.0
    driver = sim.mqtt_ev_charger
    assert driver is not None
    assert driver.restarts == 1


async def test_gui_write_is_echoed_then_reverted_by_the_next_json(
    freezer: FrozenDateTimeFactory,
    observer: Observer,
    make_sim: SimFactory,
    mqtt_broker: MosquittoBroker,
) -> None:
    """29: SetCurrent/StartStop/Mode writes echo on N/, the next JSON (without them) reverts."""
    source = Observer(mqtt_broker.host, mqtt_broker.port, topics=("custom/#",))
    await source.start()
    try:
        config = MqttEvChargerConfig(update_interval=0.1)
        sim = await make_sim(battery=None, mqtt_ev_charger=config, keepalive_timeout=30.0)
        await observer.keepalive()
        await observer.publish(TOPIC, json.dumps(FULL))
        await wait_until(lambda: sim.store.service("evcharger", 100) is not None)
        service = sim.store.service("evcharger", 100)
        assert service is not None
        await observer.wait_service(EVC, service.items)
        observer.clear()
        writes = {"SetCurrent": 10, "StartStop": 1, "Mode": 0}
        for path, value in writes.items():
            await observer.publish(f"W/{PORTAL}/evcharger/100/{path}", json.dumps({"value": value}))
        await wait_until(lambda: all(observer.on(f"{EVC}/{p}") for p in writes))
        assert {p: observer.last(f"{EVC}/{p}").value for p in writes} == writes  # the echoes
        await elapse(freezer, 0.3)  # the driver's updates go on
        assert {p: observer.last(f"{EVC}/{p}").value for p in writes} == writes  # no JSON yet
        # The next JSON omits them all, and still reverts them.
        await observer.publish(TOPIC, json.dumps({"Ac": {"Power": 6900.0}}))
        reverted = {"SetCurrent": 16, "StartStop": 0, "Mode": 2, "Ac/Power": 6900.0}
        await elapse(freezer, 0.2)  # the driver's next update (every 0.1 s)
        assert all(observer.last(f"{EVC}/{p}").value == v for p, v in reverted.items())
        # The driver forwarded nothing to its MQTT source: only our two JSONs are there.
        assert [m.topic for m in source.messages] == [TOPIC, TOPIC]
    finally:
        await source.stop()
