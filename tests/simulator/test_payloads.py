"""Behaviours 9, 11, 12, 13: payload format, type drift, battery flavours, UpdateIndex."""

from __future__ import annotations

import itertools
import json

from simulator import BatteryConfig, VenusSimulator
from tests.simulator.conftest import SimFactory
from tests.simulator.helpers import PORTAL, Observer, wait_until

N = f"N/{PORTAL}"
SYSTEM = f"{N}/system/0"
SETTINGS = f"{N}/settings/0/Settings"
BATTERY = f"{N}/battery/512"
IDENTITY = (
    "/ProductId",
    "/ProductName",
    "/DeviceInstance",
    "/Connected",
    "/FirmwareVersion",
    "/Mgmt/ProcessName",
    "/CustomName",
)


async def test_value_and_settings_payloads(sim: VenusSimulator, observer: Observer) -> None:
    """9: {"value":X}; settings add min/max; invalid is {"value":null}."""
    await observer.keepalive()
    assert (
        observer.last(f"{SETTINGS}/SystemSetup/MaxChargeCurrent").payload
        == b'{"max":10000,"min":-1,"value":-1}'
    )
    assert (
        observer.last(f"{SETTINGS}/SystemSetup/MaxChargeVoltage").payload
        == b'{"max":80.0,"min":0.0,"value":0.0}'
    )
    assert observer.last(f"{SETTINGS}/Services/Bol").payload == b'{"max":7,"min":0,"value":0}'
    assert observer.last(f"{BATTERY}/Soc").payload == b'{"value":50.0}'
    assert observer.last(f"{BATTERY}/TimeToGo").payload == b'{"value":null}'
    # DVCC is off by default: no charge voltage (behaviour 21).
    assert observer.last(f"{SYSTEM}/Dc/Battery/ChargeVoltage").payload == b'{"value":null}'
    assert observer.last(f"{SYSTEM}/Control/EffectiveChargeVoltage").payload == b'{"value":null}'
    for message in observer.messages:
        if "/settings/" in message.topic or message.topic == f"{N}/keepalive":
            continue
        body = message.json()
        keys = {"value", "full-publish-completed-echo"}
        assert "value" in body, message
        assert set(body) <= keys, message
    for service in ("system/0", "settings/0", "battery/512"):
        for path in IDENTITY:
            assert observer.on(f"{N}/{service}{path}"), (service, path)


async def test_type_drift(sim: VenusSimulator, observer: Observer) -> None:
    """11: Dvcc false->1, MaxChargeCurrent a flag, floats for ints, JSON strings vs arrays."""
    await observer.keepalive()
    assert observer.last(f"{SYSTEM}/Control/Dvcc").payload == b'{"value":false}'
    assert observer.last(f"{SYSTEM}/Control/MaxChargeCurrent").payload == b'{"value":0}'
    assert observer.last(f"{BATTERY}/InstalledCapacity").payload == b'{"value":280.0}'
    available = observer.last(f"{SYSTEM}/AvailableBatteries").value
    assert isinstance(available, str)
    assert "com.victronenergy.battery/512" in json.loads(available)
    bms = observer.last(f"{SYSTEM}/AvailableBmsServices").value
    assert isinstance(bms, list)
    assert bms[0]["instance"] == 512
    batteries = observer.last(f"{SYSTEM}/Batteries").value
    assert isinstance(batteries, list)
    assert batteries[0]["instance"] == 512
    assert batteries[0]["active_battery_service"] is True
    assert observer.last(f"{SYSTEM}/ActiveBatteryService").value == "com.victronenergy.battery/512"
    assert observer.last(f"{SYSTEM}/ActiveBmsService").value == "com.victronenergy.battery.ttyUSB0"
    assert observer.last(f"{SYSTEM}/ActiveBmsInstance").value == 512

    await observer.publish(f"W/{PORTAL}/settings/0/Settings/Services/Bol", '{"value": 1}')
    await wait_until(lambda: observer.on(f"{SYSTEM}/Control/Dvcc")[-1].payload == b'{"value":1}')
    await wait_until(
        lambda: observer.last(f"{SYSTEM}/Control/MaxChargeCurrent").payload == b'{"value":true}'
    )


async def test_serialbattery_publishes_exactly_its_cells(
    sim: VenusSimulator, observer: Observer
) -> None:
    """12: serialbattery: Cell1..N, Balances1..N, Voltages/Sum and /Diff."""
    await observer.keepalive()
    seen = observer.topics_seen()
    cells = {t for t in seen if t.startswith(f"{BATTERY}/Voltages/Cell")}
    balances = {t for t in seen if t.startswith(f"{BATTERY}/Balances/Cell")}
    assert cells == {f"{BATTERY}/Voltages/Cell{i}" for i in range(1, 17)}
    assert balances == {f"{BATTERY}/Balances/Cell{i}" for i in range(1, 17)}
    volts = [observer.last(f"{BATTERY}/Voltages/Cell{i}").value for i in range(1, 17)]
    assert all(3.29 < v < 3.31 for v in volts)
    assert observer.last(f"{BATTERY}/Voltages/Sum").value == round(sum(volts), 3)
    assert observer.last(f"{BATTERY}/Voltages/Diff").value == round(max(volts) - min(volts), 3)
    assert observer.last(f"{BATTERY}/System/NrOfCellsPerBattery").value == 16
    min_id = observer.last(f"{BATTERY}/System/MinVoltageCellId").value
    assert min_id == f"C{volts.index(min(volts)) + 1}"
    assert f"{BATTERY}/UpdateIndex" not in seen


async def test_mqtt_battery_publishes_24_cell_slots(
    make_sim: SimFactory, observer: Observer
) -> None:
    """12: mqtt_battery: Cell1..24 always, null beyond the pack; ProductId 65535."""
    await make_sim(battery=BatteryConfig(instance=100, cells=16, flavour="mqtt_battery"))
    await observer.keepalive()
    base = f"{N}/battery/100"
    for index in range(1, 25):
        volts = observer.last(f"{base}/Voltages/Cell{index}").value
        balance = observer.last(f"{base}/Balances/Cell{index}").value
        if index <= 16:
            assert isinstance(volts, float)
            assert balance == 0
        else:
            assert volts is None
            assert balance is None
    assert observer.last(f"{base}/ProductId").value == 65535
    assert observer.last(f"{base}/ProductName").value == "MQTT Battery"
    assert f"{base}/Voltages/Sum" not in observer.topics_seen()
    assert (
        observer.last(f"{SYSTEM}/ActiveBmsService").value
        == "com.victronenergy.battery.mqtt_battery_100"
    )


async def test_mqtt_battery_update_index_ticks(make_sim: SimFactory, observer: Observer) -> None:
    """13: UpdateIndex counts up (mod 256) on its own: constant traffic."""
    assert BatteryConfig().update_interval == 1.0  # the driver's 1 Hz by default
    sim = await make_sim(
        battery=BatteryConfig(instance=100, flavour="mqtt_battery", update_interval=0.1)
    )
    await observer.keepalive()
    topic = f"{N}/battery/100/UpdateIndex"
    start = len(observer.on(topic))
    await observer.wait_topic(topic, count=start + 4, timeout=2.0)
    values = [m.value for m in observer.on(topic)[start:]]
    assert all(b == (a + 1) % 256 for a, b in itertools.pairwise(values)), values
    sim.set_value("battery", 100, "/UpdateIndex", 255)
    await wait_until(lambda: observer.on(topic)[-1].value == 0)
