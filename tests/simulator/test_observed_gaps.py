"""venus-observed.md behaviours and issue #3 rules that no other simulator test pins down.

See docs/simulator-coverage.md for the full behaviour/rule -> test table.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest
from freezegun.api import FrozenDateTimeFactory

from simulator import BatteryConfig, EvModel, OpenEvseModel, VenusSimulator
from simulator.bms import Bms, BmsConfig
from simulator.chargers import MultiPlusConfig
from simulator.chemistry import LIFEPO4
from simulator.gx_broker import SIMULATOR_USER, mosquitto_acl, mosquitto_config
from simulator.mqtt_battery import MqttBatteryConfig
from simulator.mqtt_ev_charger import MqttEvChargerConfig
from simulator.pack import Pack, PackConfig
from simulator.plant import PlantConfig, PlantModel
from tests.broker import MosquittoBroker
from tests.simulator.conftest import SimFactory
from tests.simulator.helpers import PORTAL, Observer, elapse, wait_until

N = f"N/{PORTAL}"
SYSTEM = f"{N}/system/0"
BATTERY = f"{N}/battery/512"
MQTT_BATTERY = f"{N}/battery/100"
EVC = f"{N}/evcharger/100"
SERIAL = f"{SYSTEM}/Serial"
HEARTBEAT = f"{N}/heartbeat"
DONE = f"{N}/full_publish_completed"
BATTERY_TOPIC = MqttBatteryConfig.topic
EVC_TOPIC = MqttEvChargerConfig.topic
NO_BATTERY = "No battery monitor found"


async def write_setting(observer: Observer, path: str, value: object) -> None:
    """A W/ to settings/0/Settings/<path>."""
    await observer.publish(f"W/{PORTAL}/settings/0/Settings/{path}", json.dumps({"value": value}))


def shows(observer: Observer, topic: str, value: object) -> bool:
    """The latest message on ``topic`` carries ``value``."""
    found = observer.on(topic)
    return bool(found) and found[-1].payload != b"" and found[-1].value == value


# ---------------------------------------------------------------- 2, 5, 6, 13, 26, 27
async def test_full_publish_is_one_burst_over_every_service(
    make_sim: SimFactory, observer: Observer
) -> None:
    """2: every service (battery, evcharger, platform, settings, system) in one burst."""
    sim = await make_sim(mqtt_ev_charger=MqttEvChargerConfig())
    await observer.publish(EVC_TOPIC, json.dumps({"Ac": {"Power": 2300.0}}))
    await wait_until(lambda: sim.store.service("evcharger", 100) is not None)
    await observer.wait_topic(f"{N}/keepalive")  # the plugin's start-up announcement
    observer.clear()
    await observer.keepalive()
    received = [m.topic for m in observer.messages]
    end = received.index(DONE)
    expected = {f"{N}/{s.service_type}/{s.instance}{path}" for s in sim.store for path in s.items}
    count = sim.store.item_count()
    assert len(expected) == count
    # One burst: the `count` messages before the completion are every topic once, with
    # nothing interleaved (no driver UpdateIndex tick; the first heartbeat comes after).
    burst = received[end - count : end]
    assert len(set(burst)) == count
    assert set(burst) == expected
    assert {topic.split("/")[2] for topic in burst} == {
        "battery",
        "evcharger",
        "platform",
        "settings",
        "system",
    }


def test_default_timers_are_the_observed_ones() -> None:
    """5: heartbeat every 3 s; 6: 60 s keepalive; 13: 1 Hz drivers; 26/27: instance 100, 60 s."""
    sim = VenusSimulator("127.0.0.1", 1)
    assert sim.plugin.heartbeat_interval == 3.0
    assert sim.plugin.keepalive_timeout == 60.0
    assert sim.clock.speed == 1.0  # real time unless asked otherwise (the demo)
    battery, charger = MqttBatteryConfig(), MqttEvChargerConfig()
    assert (battery.instance, battery.timeout, battery.update_interval) == (100, 60.0, 1.0)
    assert (charger.instance, charger.timeout, charger.update_interval) == (100, 60.0, 1.0)
    assert BatteryConfig(flavour="mqtt_battery").update_interval == 1.0


async def test_after_the_timeout_only_the_retained_serial_remains(
    freezer: FrozenDateTimeFactory,
    make_sim: SimFactory,
    observer: Observer,
    mqtt_broker: MosquittoBroker,
) -> None:
    """6: UpdateIndex ticks and heartbeats stop too; a newcomer finds only the Serial."""
    battery = BatteryConfig(instance=100, flavour="mqtt_battery", update_interval=0.05)
    sim = await make_sim(battery=battery, keepalive_timeout=1.0)
    await observer.keepalive()
    ticks = f"{MQTT_BATTERY}/UpdateIndex"
    start = len(observer.on(ticks))
    await elapse(freezer, 0.2)
    assert len(observer.on(ticks)) >= start + 2  # constant traffic while alive
    await elapse(freezer, 0.85)
    assert not sim.alive
    observer.clear()
    await elapse(freezer, 0.3)
    assert observer.messages == []
    late = Observer(mqtt_broker.host, mqtt_broker.port)
    await late.start()
    try:
        await late.wait_topic(SERIAL)
        await late.quiet()
        assert late.topics_seen() == {SERIAL}
        assert late.last(SERIAL).retain
    finally:
        await late.stop()


async def test_drivers_tick_update_index_without_new_json(
    make_sim: SimFactory, observer: Observer
) -> None:
    """13: both mr-manuel drivers tick UpdateIndex on their own: traffic without changes."""
    await make_sim(
        battery=None,
        mqtt_battery=MqttBatteryConfig(update_interval=0.05),
        mqtt_ev_charger=MqttEvChargerConfig(update_interval=0.05),
    )
    await observer.keepalive()
    await observer.publish(
        BATTERY_TOPIC, json.dumps({"Dc": {"Power": 0.0, "Voltage": 52.0}, "Soc": 50})
    )
    await observer.publish(EVC_TOPIC, json.dumps({"Ac": {"Power": 0.0}}))
    for base in (MQTT_BATTERY, EVC):
        topic = f"{base}/UpdateIndex"
        await observer.wait_topic(topic, count=6, timeout=5.0)
        values = [m.value for m in observer.on(topic)]
        assert all(b == (a + 1) % 256 for a, b in itertools.pairwise(values)), values
    # Nothing else changed: each value went out once, with the service.
    assert len(observer.on(f"{MQTT_BATTERY}/Soc")) == 1
    assert len(observer.on(f"{EVC}/Ac/Power")) == 1


# -------------------------------------------------------------------------- 7, 18
async def test_w_and_r_are_relayed_to_every_subscriber(
    sim: VenusSimulator, observer: Observer, mqtt_broker: MosquittoBroker
) -> None:
    """7 and 18: own and foreign W/ and R/ reach other subscribers; only ours are answered."""
    relay = Observer(mqtt_broker.host, mqtt_broker.port, topics=("W/#", "R/#"))
    await relay.start()
    try:
        other = "0123456789ab"
        sent = [
            (f"R/{other}/keepalive", b""),
            (f"W/{other}/settings/0/Settings/Services/Bol", b'{"value": 1}'),
            (f"R/{PORTAL}/keepalive", b""),
            (f"W/{PORTAL}/settings/0/Settings/SystemSetup/MaxChargeCurrent", b'{"value": 12}'),
        ]
        for topic, payload in sent:
            await observer.publish(topic, payload)
        await wait_until(lambda: len(relay.messages) == len(sent))
        assert [(m.topic, m.payload) for m in relay.messages] == sent
        await observer.wait_topic(f"{N}/settings/0/Settings/SystemSetup/MaxChargeCurrent")
        assert sim.full_publish_count == 1  # the foreign keepalive got nothing
        assert sim.get_value("settings", 0, "/Settings/Services/Bol") == 0
        assert sim.rejected_writes == [(sent[1][0], "wrong portal id")]
        assert not [m for m in observer.messages if f"/{other}/" in m.topic]
    finally:
        await relay.stop()


# ------------------------------------------------------------------------------ 11
async def test_floats_are_published_unrounded(sim: VenusSimulator, observer: Observer) -> None:
    """11: Dc/0/Power is voltage x current as computed: 58.25600000000001, not 58.256."""
    await observer.keepalive()
    sim.set_value("battery", 512, "/Dc/0/Current", 1.1)
    sim.set_cell_voltages([3.31] * 16)  # Dc/0/Voltage 52.96
    expected = b'{"value":58.25600000000001}'
    topics = (f"{BATTERY}/Dc/0/Power", f"{SYSTEM}/Dc/Battery/Power")
    await wait_until(
        lambda: all(bool(observer.on(t)) and observer.last(t).payload == expected for t in topics)
    )
    assert sim.get_value("battery", 512, "/Dc/0/Voltage") == 52.96


# -------------------------------------------------------------------------- 19, 20
class GxMosquitto(MosquittoBroker):
    """mosquitto configured by simulator.gx_broker: FlashMQ's rules for N/ and localhost."""

    def _write_config(self) -> Path:
        acl = self._workdir / "acl"
        acl.write_text(mosquitto_acl())
        config = self._workdir / "mosquitto.conf"
        extra = "user root\nlog_dest stderr\nlog_type error\n"
        config.write_text(mosquitto_config(self.port, acl, self.host) + extra)
        return config


@pytest.fixture
def gx_broker() -> Iterator[GxMosquitto]:
    """A broker with the GX's publish rules."""
    broker = GxMosquitto()
    broker.start()
    yield broker
    broker.close()


@pytest.fixture
async def gx_sim(gx_broker: GxMosquitto) -> AsyncIterator[VenusSimulator]:
    """The simulator on the GX broker, connected as the one user allowed to publish N/."""
    sim = VenusSimulator(
        gx_broker.host,
        gx_broker.port,
        username=SIMULATOR_USER,
        heartbeat_interval=0.1,
        keepalive_timeout=2.0,
    )
    await sim.start()
    yield sim
    await sim.stop()


async def test_clients_may_not_publish_on_n(gx_broker: GxMosquitto, gx_sim: VenusSimulator) -> None:
    """19: forged N/ messages never reach anyone; W/ and R/ still work."""
    client = Observer(gx_broker.host, gx_broker.port)  # anonymous, subscribed to N/#
    await client.start()
    try:
        assert (await client.wait_topic(SERIAL)).value == PORTAL  # the simulator's N/ is fine
        soc = f"{BATTERY}/Soc"
        await client.publish(soc, '{"value": 1}')
        await client.publish(HEARTBEAT, '{"value": 1}')
        await client.publish(SERIAL, '{"value": "forged"}', retain=True)
        await client.keepalive()  # sent after the forgeries, answered by the simulator
        assert [m.value for m in client.on(soc)] == [50.0]
        assert all(m.value != 1 for m in client.on(HEARTBEAT))
        assert [m.value for m in client.on(SERIAL)] == [PORTAL, PORTAL]
        await write_setting(client, "Services/Bol", 1)
        await wait_until(lambda: shows(client, f"{N}/settings/0/Settings/Services/Bol", 1))
    finally:
        await client.stop()
    late = Observer(gx_broker.host, gx_broker.port)
    await late.start()
    try:
        # The forged retained Serial was not stored either.
        assert (await late.wait_topic(SERIAL)).value == PORTAL
    finally:
        await late.stop()


async def test_local_clients_need_no_credentials(
    gx_broker: GxMosquitto, gx_sim: VenusSimulator
) -> None:
    """20: anonymous MQTT 3.1.1 and 5 clients on localhost are accepted and served."""
    observer = Observer(gx_broker.host, gx_broker.port)  # MQTT 5, no credentials
    await observer.start()
    try:
        async with aiomqtt.Client(
            gx_broker.host, gx_broker.port, protocol=aiomqtt.ProtocolVersion.V311
        ) as legacy:
            await legacy.publish(f"R/{PORTAL}/keepalive", b"")
        await observer.wait_topic(DONE)
        assert gx_sim.alive
        assert gx_sim.keepalive_count == 1
    finally:
        await observer.stop()


# ------------------------------------------------------------------------------ 22
async def test_charge_voltage_follows_at_once(
    freezer: FrozenDateTimeFactory, sim: VenusSimulator, observer: Observer
) -> None:
    """22: a user or BMS CVL change shows on system/0 within a moment (observed ~50 ms)."""
    await observer.keepalive()
    await write_setting(observer, "Services/Bol", 1)
    charge_voltage = f"{SYSTEM}/Dc/Battery/ChargeVoltage"
    effective = f"{SYSTEM}/Control/EffectiveChargeVoltage"
    await wait_until(lambda: shows(observer, charge_voltage, 55.2))
    loop = asyncio.get_running_loop()
    sent = loop.time()
    await write_setting(observer, "SystemSetup/MaxChargeVoltage", 54.0)
    await elapse(freezer, 0.1)
    assert shows(observer, charge_voltage, 54.0)
    assert shows(observer, effective, 54.0)
    # Unlike the charge current (1.3-2.3 s, behaviour 23), no control-loop delay.
    assert observer.last(effective).at - sent <= 0.1
    sim.set_value("battery", 512, "/Info/MaxChargeVoltage", 53.5)  # the BMS lowers its CVL
    await wait_until(
        lambda: shows(observer, charge_voltage, 53.5) and shows(observer, effective, 53.5)
    )
    sim.set_value("battery", 512, "/Info/MaxChargeVoltage", None)  # no BMS CVL: no DVCC voltage
    await wait_until(lambda: shows(observer, charge_voltage, None))
    assert sim.get_value("system", 0, "/Control/EffectiveChargeVoltage") is None


# ------------------------------------------------------------------------------ 24
async def test_without_chargers_dvcc_has_nothing_to_act_on(
    make_sim: SimFactory, observer: Observer
) -> None:
    """24: voltage computed, Control/SolarCharge*, BmsParameters stay 0, no charger limits."""
    sim = await make_sim(plant=PlantConfig(), speed=20.0, keepalive_timeout=30.0)
    await observer.keepalive()
    await write_setting(observer, "Services/Bol", 1)
    await wait_until(lambda: shows(observer, f"{SYSTEM}/Dc/Battery/ChargeVoltage", 55.2))
    assert sim.plant is not None
    runs = sim.plant.dvcc.runs
    await wait_until(lambda: sim.plant is not None and sim.plant.dvcc.runs >= runs + 2)
    assert sim.plant.charger_limits.current == 50.0  # computed from the BMS CCL ...
    for path in ("SolarChargeVoltage", "SolarChargeCurrent", "BmsParameters"):
        assert [m.value for m in observer.on(f"{SYSTEM}/Control/{path}")] == [0]  # ... unused
        assert sim.get_value("system", 0, f"/Control/{path}") == 0
    assert not [t for t in observer.topics_seen() if "/vebus/" in t or "/solarcharger/" in t]


# ------------------------------------------------------------------ 25, 26, 27, 29
async def test_systemcalc_follows_the_mqtt_battery_and_forgets_it(
    freezer: FrozenDateTimeFactory,
    make_sim: SimFactory,
    observer: Observer,
    mqtt_broker: MosquittoBroker,
) -> None:
    """25: active battery/BMS, Capacity = InstalledCapacity; null when the driver exits."""
    source = Observer(mqtt_broker.host, mqtt_broker.port, topics=("enphase/#",))
    await source.start()
    try:
        config = MqttBatteryConfig(timeout=2.0, update_interval=0.1)
        sim = await make_sim(battery=None, mqtt_battery=config, keepalive_timeout=30.0)
        await observer.keepalive()
        assert observer.last(f"{SYSTEM}/AutoSelectedBatteryService").value == NO_BATTERY
        assert observer.last(f"{SYSTEM}/ActiveBatteryService").value is None
        body = {
            "Dc": {"Power": 530.0, "Voltage": 53.0, "Temperature": 21.0},
            "Soc": 63,
            "InstalledCapacity": 280.0,
            "Info": {"MaxChargeVoltage": 55.2, "MaxChargeCurrent": 80, "MaxDischargeCurrent": 120},
        }
        await observer.publish(BATTERY_TOPIC, json.dumps(body))
        expected = {
            "ActiveBatteryService": "com.victronenergy.battery/100",
            "ActiveBmsService": "com.victronenergy.battery.mqtt_battery_100",
            "ActiveBmsInstance": 100,
            "AvailableBmsServices": [{"instance": 100, "name": "MQTT Battery"}],
            "AutoSelectedBatteryService": "MQTT Battery",
            "Dc/Battery/Capacity": 280.0,
            "Dc/Battery/Soc": 63,
            "Dc/Battery/Voltage": 53.0,
            "Dc/Battery/Current": 10.0,
        }
        await wait_until(
            lambda: all(shows(observer, f"{SYSTEM}/{p}", v) for p, v in expected.items())
        )
        assert observer.last(f"{MQTT_BATTERY}/InstalledCapacity").value == 280.0
        # 29: a write is echoed, but the driver forwards nothing to its MQTT source.
        await observer.publish(f"W/{PORTAL}/battery/100/Soc", '{"value": 10}')
        await wait_until(lambda: shows(observer, f"{MQTT_BATTERY}/Soc", 10))
        await source.quiet()
        assert [m.topic for m in source.messages] == [BATTERY_TOPIC]
        # 27: the driver exits after 2 s; 25: systemcalc finds no battery any more.
        await elapse(freezer, 1.9, step=0.05)
        assert observer.last(f"{MQTT_BATTERY}/Soc").payload != b""
        await elapse(freezer, 0.4, step=0.05)  # its next 0.1 s update sees the timeout
        assert observer.last(f"{MQTT_BATTERY}/Soc").payload == b""
        assert shows(observer, f"{SYSTEM}/AutoSelectedBatteryService", NO_BATTERY)
        gone = ("Voltage", "Current", "Power", "Soc", "Temperature", "Capacity")
        assert all(shows(observer, f"{SYSTEM}/Dc/Battery/{p}", None) for p in gone)
        for path in ("ActiveBatteryService", "ActiveBmsService", "ActiveBmsInstance"):
            assert sim.get_value("system", 0, f"/{path}") is None
        assert sim.get_value("system", 0, "/AvailableBmsServices") == []
    finally:
        await source.stop()


# ---------------------------------------------------------------- DVCC (issue #3)
async def test_dvcc_settings_are_published_with_min_max(
    sim: VenusSimulator, observer: Observer
) -> None:
    """The four DVCC settings, each with localsettings' range."""
    await observer.keepalive()
    settings = f"{N}/settings/0/Settings"
    assert {
        path: observer.last(f"{settings}/{path}").json()
        for path in (
            "SystemSetup/MaxChargeCurrent",
            "SystemSetup/MaxChargeVoltage",
            "Services/Bol",
            "SystemSetup/BmsInstance",
        )
    } == {
        "SystemSetup/MaxChargeCurrent": {"max": 10000, "min": -1, "value": -1},
        "SystemSetup/MaxChargeVoltage": {"max": 80.0, "min": 0.0, "value": 0.0},
        "Services/Bol": {"max": 7, "min": 0, "value": 0},
        "SystemSetup/BmsInstance": {"max": 1000, "min": -255, "value": -1},
    }


async def test_dvcc_follows_the_mqtt_battery_on_the_chargers(
    make_sim: SimFactory, observer: Observer
) -> None:
    """dbus-mqtt-battery as the BMS DVCC follows: its CVL and CCL reach the MultiPlus."""
    plant = PlantConfig(pack=PackConfig(soc=0.5), multiplus=MultiPlusConfig())
    sim = await make_sim(
        plant=plant,
        speed=10.0,
        mqtt_battery=MqttBatteryConfig(update_interval=0.1),
        keepalive_timeout=30.0,
    )
    await observer.keepalive()

    async def send(ccl: float) -> None:
        info = {"MaxChargeVoltage": 54.0, "MaxChargeCurrent": ccl, "MaxDischargeCurrent": 100}
        body = {"Dc": {"Power": 0.0, "Voltage": 53.0}, "Soc": 50, "Info": info}
        await observer.publish(BATTERY_TOPIC, json.dumps(body))

    await send(20)
    await write_setting(observer, "Services/Bol", 1)
    vebus = f"{N}/vebus/276/Link"
    # The JSON's CVL, not the 55.2 V of the plant's own BMS (battery 512).
    await wait_until(
        lambda: (
            shows(observer, f"{vebus}/ChargeCurrent", 20.0)
            and shows(observer, f"{vebus}/ChargeVoltage", 54.0)
        ),
        5.0,
    )
    assert sim.get_value("system", 0, "/ActiveBmsInstance") == 100
    assert sim.plant is not None
    await wait_until(lambda: sim.plant is not None and sim.plant.flows.battery_current > 0)
    assert sim.plant.flows.battery_current == pytest.approx(20.0)  # min(CCL, its 70 A)
    await send(35)
    await wait_until(lambda: shows(observer, f"{vebus}/ChargeCurrent", 35.0), 5.0)


# ------------------------------------------------------------ pack and BMS (issue #3)
def test_default_pack_is_16s_280ah_lifepo4() -> None:
    """Defaults: 16 cells of 280 Ah LiFePO4 (capacities spread around 280 Ah)."""
    for pack in (Pack(PackConfig()), PlantModel().pack):
        assert len(pack.cells) == 16
        assert pack.chemistry is LIFEPO4
        assert pack.config.capacity_ah == 280.0
        mean = sum(cell.capacity_ah for cell in pack.cells) / 16
        assert mean == pytest.approx(280.0, rel=0.02)
        assert pack.voltage(0.0) == pytest.approx(16 * 3.30, abs=0.3)  # about 52.8 V


def bms_for(socs: list[float], config: BmsConfig | None = None) -> Bms:
    pack = Pack(PackConfig(cells=len(socs), soc_spread=0.0, capacity_spread=0.0))
    pack.set_socs(socs)
    bms = Bms(config or BmsConfig(), pack)
    bms.update(0.0)
    return bms


def test_bleed_balancing_start_voltage_threshold_and_current() -> None:
    """Passive balancing: configurable start voltage, delta threshold and bleed current."""
    top = [0.985, 0.985, 0.985, 0.98]  # 3.45, 3.45, 3.45, 3.433 V
    assert bms_for(top).balancing == [True, True, True, False]  # 17 mV > the 10 mV default
    assert not any(bms_for(top, BmsConfig(balance_threshold=0.02)).balancing)
    assert not any(bms_for(top, BmsConfig(balance_start=3.46)).balancing)
    middle = [0.5, 0.5, 0.7, 0.7]  # 3.300, 3.300, 3.325, 3.325 V: below the 3.40 V default
    assert not any(bms_for(middle).balancing)
    assert bms_for(middle, BmsConfig(balance_start=3.30)).balancing == [False, False, True, True]
    for amps in (None, 2.0):
        bms = bms_for(top) if amps is None else bms_for(top, BmsConfig(balance_current=amps))
        before = [cell.charge_ah for cell in bms.pack.cells]
        bms.pack.step(0.0, 3600.0)
        moved = [b - c.charge_ah for c, b in zip(bms.pack.cells, before, strict=True)]
        bled = 1.0 if amps is None else amps  # 1 A by default
        assert moved == pytest.approx([bled, bled, bled, 0.0])


async def test_bms_publishes_the_simulated_pack(make_sim: SimFactory, observer: Observer) -> None:
    """The BMS reports the physics like dbus-serialbattery: cells, balances, Info, Io, System."""
    sim = await make_sim(plant=PlantConfig(pack=PackConfig(soc=0.5)), keepalive_timeout=30.0)
    await observer.keepalive()
    assert sim.plant is not None
    pack = sim.plant.pack
    volts = [round(v, 3) for v in pack.cell_voltages()]
    shown = [observer.last(f"{BATTERY}/Voltages/Cell{i}").value for i in range(1, 17)]
    assert shown == volts
    assert len(set(volts)) > 1  # the seeded SoC spread shows
    assert [observer.last(f"{BATTERY}/Balances/Cell{i}").value for i in range(1, 17)] == [0] * 16
    expected = {
        "Info/MaxChargeVoltage": 55.2,
        "Info/MaxChargeCurrent": 50.0,
        "Info/MaxDischargeCurrent": 60.0,
        "Io/AllowToCharge": 1,
        "Io/AllowToDischarge": 1,
        "Alarms/HighVoltage": 0,
        "System/NrOfCellsPerBattery": 16,
        "System/MinCellVoltage": min(volts),
        "System/MaxCellVoltage": max(volts),
        "System/MaxVoltageCellId": f"C{volts.index(max(volts)) + 1}",
        "Soc": round(pack.soc * 100, 1),
        "InstalledCapacity": pack.config.capacity_ah,
    }
    assert {p: observer.last(f"{BATTERY}/{p}").value for p in expected} == expected


# ------------------------------------------------------------------ clock and profiles
async def test_live_clock_runs_faster_than_real_time(
    freezer: FrozenDateTimeFactory, make_sim: SimFactory
) -> None:
    """600x for benchmarks (ten simulated minutes a second); 1x for the demo."""
    fast = await make_sim(plant=PlantConfig(), speed=600.0)
    real = await make_sim(plant=PlantConfig(), portal_id="02fc00000002")
    assert fast.plant is not None
    assert real.plant is not None
    fast_clock, fast_plant = fast.clock.now(), fast.plant.now
    real_clock = real.clock.now()
    await elapse(freezer, 1.2, step=0.05)  # the loop clock: the wall as the simulator sees it
    assert fast.clock.now() - fast_clock == pytest.approx(600 * 1.2)
    assert fast.plant.now - fast_plant >= 600 * 1.2 - 2  # the physics keeps up ...
    assert 0 <= fast.clock.now() - fast.plant.now < 2  # ... to within a 1 s step
    assert real.clock.speed == 1.0
    assert real.clock.now() - real_clock == pytest.approx(1.2)
    assert 1.0 <= real.plant.now <= real.clock.now()  # 1 s steps, in step with the wall


def test_tmy_pv_profile_scales_with_the_array() -> None:
    """pvlib TMY profile: a configurable kWp scales the power."""
    pytest.importorskip("pvlib")
    from simulator.profiles import tmy_pv_profile

    small = tmy_pv_profile(5.0, start_hour=24 * 172)
    large = tmy_pv_profile(10.0, start_hour=24 * 172)
    noon = 13 * 3600.0
    assert small(noon) > 1000.0
    assert large(noon) == pytest.approx(2 * small(noon))


# ------------------------------------------------------------------------- openEVSE
def test_ev_defaults_six_amp_minimum_one_phase_230_v() -> None:
    """The EV behind the station: 6 A onboard minimum, 1 phase at 230 V by default."""
    ev = EvModel(plugged=True)
    assert (ev.min_current, ev.phases) == (6.0, 1)
    assert ev.accepted_current(5.9) == 0.0
    assert ev.accepted_current(6.0) == 6.0
    station = OpenEvseModel(ev)
    assert station.voltage == 230.0
    assert station.power == pytest.approx(32 * 230)  # default claim: full current, 1 phase


# ----------------------------------------------------------- fault: glitching cell
async def test_glitching_cell_reading_and_recovery(
    freezer: FrozenDateTimeFactory, sim: VenusSimulator, observer: Observer
) -> None:
    """A cell reads nonsense for a while; derived values follow; then the true value returns."""
    await observer.keepalive()
    cell3 = f"{BATTERY}/Voltages/Cell3"
    observer.clear()
    loop = asyncio.get_running_loop()
    started = loop.time()
    sim.glitch_cell(3, 65.535, duration=0.4)
    assert sim.glitching_cells == [(512, 3)]
    assert sim.get_value("battery", 512, "/Voltages/Cell3") == 65.535
    await wait_until(
        lambda: (
            shows(observer, f"{BATTERY}/System/MaxCellVoltage", 65.535)
            and shows(observer, f"{BATTERY}/System/MaxVoltageCellId", "C3")  # C4 before
        )
    )
    assert observer.last(cell3).value == 65.535
    sim.set_cell_voltages([3.31] * 16)  # the true readings move on meanwhile
    await observer.quiet()
    assert shows(observer, f"{BATTERY}/Voltages/Cell4", 3.31)
    await elapse(freezer, 0.39)
    assert observer.last(cell3).value == 65.535  # held back
    await elapse(freezer, 0.02)
    assert shows(observer, cell3, 3.31)
    assert observer.last(cell3).at - started == pytest.approx(0.4, abs=0.011)
    assert [m.value for m in observer.on(cell3)] == [65.535, 3.31]
    await wait_until(lambda: shows(observer, f"{BATTERY}/System/MaxCellVoltage", 3.31))
    assert sim.glitching_cells == []
    # A one-reading glitch (duration 0), and one until end_glitch().
    sim.glitch_cell(3, 0.0, duration=0)
    await elapse(freezer, 0.01)
    assert [m.value for m in observer.on(cell3)][-2:] == [0.0, 3.31]
    sim.glitch_cell(3, None, duration=None)  # a reading that fails: null
    await wait_until(lambda: shows(observer, cell3, None))
    await elapse(freezer, 0.5)
    assert observer.last(cell3).value is None
    sim.end_glitch(3)
    await wait_until(lambda: shows(observer, cell3, 3.31))
    with pytest.raises(KeyError):
        sim.glitch_cell(17, 3.3)  # a 16-cell pack
    with pytest.raises(KeyError):
        sim.glitch_cell(1, 3.3, instance=7)
    # stop() ends a pending glitch: the true reading is back.
    sim.glitch_cell(5, 9.9, duration=60.0)
    await sim.stop()
    assert sim.glitching_cells == []
    assert sim.get_value("battery", 512, "/Voltages/Cell5") == 3.31


async def test_glitching_reading_does_not_touch_the_physics(
    freezer: FrozenDateTimeFactory, make_sim: SimFactory, observer: Observer
) -> None:
    """A reading above OVP trips nothing: the BMS and the pack see the true cell."""
    plant = PlantConfig(pack=PackConfig(soc=0.5), multiplus=MultiPlusConfig())
    sim = await make_sim(plant=plant, speed=600.0, keepalive_timeout=30.0)
    await observer.keepalive()
    cell5 = f"{BATTERY}/Voltages/Cell5"
    sim.glitch_cell(5, 4.2, duration=None)
    await wait_until(lambda: shows(observer, cell5, 4.2))
    await elapse(freezer, 0.5, step=0.05)  # five simulated minutes of charging at 70 A
    assert sim.plant is not None
    assert sim.plant.flows.battery_current == pytest.approx(70.0)
    assert sim.ovp_events == 0
    assert sim.get_value("battery", 512, "/Io/AllowToCharge") == 1
    readings = [m.value for m in observer.on(cell5)]
    # (A reading or two may still have been in flight when the glitch started.)
    assert set(readings[readings.index(4.2) :]) == {4.2}
    sim.end_glitch(5)
    true_cell = sim.plant.pack.cell_voltages()[4]
    await observer.quiet()
    assert observer.last(cell5).value == pytest.approx(true_cell, abs=0.005)


async def test_glitching_cell_of_the_mqtt_battery_driver(
    make_sim: SimFactory, observer: Observer
) -> None:
    """A driver's reading glitches too; its next JSON's value waits for the glitch to end."""
    config = MqttBatteryConfig(update_interval=0.05)
    sim = await make_sim(battery=None, mqtt_battery=config, keepalive_timeout=30.0)
    await observer.keepalive()

    async def send(cell2: float) -> None:
        cells = {"Cell1": 3.3, "Cell2": cell2}
        body = {"Dc": {"Power": 0.0, "Voltage": 53.0}, "Soc": 50, "Voltages": cells}
        await observer.publish(BATTERY_TOPIC, json.dumps(body))

    await send(3.31)
    cell2 = f"{MQTT_BATTERY}/Voltages/Cell2"
    await wait_until(lambda: shows(observer, cell2, 3.31))
    sim.glitch_cell(2, 0.0, duration=None, instance=100)
    await wait_until(lambda: shows(observer, cell2, 0.0))
    assert observer.last(f"{MQTT_BATTERY}/System/MinCellVoltage").value == 3.3  # the driver's own
    await send(3.32)
    ticks = len(observer.on(f"{MQTT_BATTERY}/UpdateIndex"))
    await observer.wait_topic(f"{MQTT_BATTERY}/UpdateIndex", count=ticks + 3)
    assert observer.last(cell2).value == 0.0
    sim.end_glitch(2, instance=100)
    await wait_until(lambda: shows(observer, cell2, 3.32))
