"""The managed top balance and the hold, against the simulated GX: what reached the wire.

Every assertion about safety is made on what the other side of the wire shows: the
dbus-mqtt-battery driver's values (what DVCC follows), the GX's settings as echoed, and
systemcalc's choice of controlling BMS. Items refer to the safety-envelope issue.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any
from unittest.mock import patch

import aiomqtt
import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.victron_balance.const import DOMAIN
from custom_components.victron_balance.logic.update_interval import Pace
from custom_components.victron_balance.logic.venus_topics import ServiceKey
from custom_components.victron_balance.transport.mqtt_session import SessionClient
from custom_components.victron_balance.transport.venus_link import HEARTBEAT_TIMEOUT
from simulator import BatteryConfig, VenusSimulator
from simulator.mqtt_battery import MqttBatteryConfig
from tests.broker import MosquittoBroker
from tests.helpers import PORTAL_ID, advance, settle, wait_until

STATE = "sensor.battery_top_balance"
MODE = "select.victron_gx_charge_mode"
VIRTUAL = 100
REAL = 512
BMS_INSTANCE = "/Settings/SystemSetup/BmsInstance"
REAL_CVL = round(16 * 3.45, 3)  # the simulated serialbattery's CVL (55.2 V)
REAL_CCL = 50.0


@pytest.fixture
async def simulator(mqtt_broker: MosquittoBroker) -> AsyncIterator[VenusSimulator]:
    """A GX with a real BMS (512), DVCC on, "automatic" controlling BMS, and the
    dbus-mqtt-battery driver installed (absent until it gets a JSON)."""
    sim = VenusSimulator(
        mqtt_broker.host,
        mqtt_broker.port,
        portal_id=PORTAL_ID,
        battery=BatteryConfig(instance=REAL, cells=16),
        mqtt_battery=MqttBatteryConfig(instance=VIRTUAL),
        seed=1,
    )
    await sim.start()
    sim.set_value("settings", 0, "/Settings/Services/Bol", 1)
    await settle()
    yield sim
    await sim.stop()


def virtual(simulator: VenusSimulator, path: str) -> object:
    """What the driver shows (what DVCC follows when it is the BMS); None when absent."""
    try:
        return simulator.get_value("battery", VIRTUAL, path)
    except KeyError:
        return None


def system(simulator: VenusSimulator, path: str) -> object:
    return simulator.get_value("system", 0, path)


def setting(simulator: VenusSimulator, path: str) -> object:
    return simulator.get_value("settings", 0, path)


def bms_writes(simulator: VenusSimulator) -> list[object]:
    return [value for topic, value in simulator.received_writes if topic.endswith(BMS_INSTANCE)]


async def start(hass: HomeAssistant, entry: MockConfigEntry, **data: float) -> None:
    await hass.services.async_call(
        DOMAIN, "start_top_balance", {"config_entry_id": entry.entry_id, **data}, blocking=True
    )


async def stop(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await hass.services.async_call(
        DOMAIN, "stop_top_balance", {"config_entry_id": entry.entry_id}, blocking=True
    )


async def select_mode(hass: HomeAssistant, option: str) -> None:
    await hass.services.async_call(
        "select", "select_option", {ATTR_ENTITY_ID: MODE, "option": option}, blocking=True
    )


async def gx_sets(
    simulator: VenusSimulator,
    entry: MockConfigEntry,
    service: str,
    instance: int,
    path: str,
    value: Any,
) -> None:
    """A value changes on the GX; returns once the integration has it."""
    simulator.set_value(service, instance, path, value)
    state = entry.runtime_data.link.state
    key = ServiceKey(service, instance)
    await wait_until(lambda: _same(state.value(key, path), value))


def _same(seen: Any, value: Any) -> bool:
    if isinstance(value, bool) or isinstance(seen, bool):
        return bool(seen) == bool(value) and seen is not None
    if isinstance(value, int | float) and isinstance(seen, int | float):
        return float(seen) == float(value)
    return bool(seen == value)


async def shows(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    check: Any,
    within: float = 3.0,
) -> None:
    """Until the other side of the wire shows it: the next document plus the driver's
    1 s update loop (venus-observed 13) is at most ~2 s of simulated time. Between the
    simulated seconds the broker gets real time to deliver (a busy machine is slow)."""
    waited = 0.0
    while True:
        try:
            await wait_until(check, timeout=2.0)
            return
        except AssertionError:
            if waited >= within:
                raise AssertionError(f"not shown within {within} s") from None
        await run_for(hass, freezer, entry, 1)
        waited += 1


async def run_for(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, entry: MockConfigEntry, seconds: float
) -> None:
    await advance(hass, freezer, seconds)


async def steering(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    """Until DVCC follows the virtual BMS."""
    for _ in range(40):
        if system(simulator, "/ActiveBmsInstance") == VIRTUAL:
            return
        await run_for(hass, freezer, entry, 1)
    raise AssertionError("DVCC never followed the virtual BMS")


async def crash(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """The Home Assistant process dies: nothing is given back, the store keeps its last save."""
    runtime = entry.runtime_data

    async def dead(*_args: Any) -> None:
        runtime.charge._stop_ticking()

    with (
        patch.object(runtime.charge, "async_shutdown", dead),
        patch.object(runtime.balancer, "async_shutdown", dead),
    ):
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()


async def test_a_run_steers_the_chargers_through_the_virtual_bms(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    # Someone left DVCC user limits on the GX: they would cap the run.
    await gx_sets(
        simulator, init_integration, "settings", 0, "/Settings/SystemSetup/MaxChargeCurrent", 30
    )
    await start(hass, init_integration, target_cell_voltage=3.55, max_current=60)
    assert hass.states.get(MODE).state == "top_balance"
    await steering(hass, freezer, init_integration, simulator)
    # I5: the controlling BMS was switched to the virtual one, once, and echoed.
    await shows(
        hass, freezer, init_integration, lambda: setting(simulator, BMS_INSTANCE) == VIRTUAL
    )
    assert bms_writes(simulator) == [VIRTUAL]
    cvl = virtual(simulator, "/Info/MaxChargeVoltage")
    assert isinstance(cvl, float)
    assert REAL_CVL < cvl <= 16 * 3.55  # only a run may exceed the real BMS's CVL
    assert virtual(simulator, "/Info/MaxChargeCurrent") <= REAL_CCL  # never above it (I1)
    assert virtual(simulator, "/Io/AllowToCharge") == 1
    assert system(simulator, "/Control/EffectiveChargeVoltage") == cvl
    assert hass.states.get(STATE).state == "bulk"
    # We keep reading the real BMS, not our own copy of it.
    assert init_integration.runtime_data.venus.battery_instance == REAL
    # The user limit was lent out for the run and comes back after it.
    await wait_until(lambda: setting(simulator, "/Settings/SystemSetup/MaxChargeCurrent") == -1)
    await stop(hass, init_integration)
    await run_for(hass, freezer, init_integration, 35)
    await wait_until(lambda: setting(simulator, "/Settings/SystemSetup/MaxChargeCurrent") == 30)


async def test_start_needs_dvcc(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
    issue_registry: ir.IssueRegistry,
) -> None:
    simulator.set_value("settings", 0, "/Settings/Services/Bol", 0)
    link = init_integration.runtime_data.link
    await wait_until(
        lambda: link.state.value(ServiceKey("settings", 0), "/Settings/Services/Bol") == 0
    )
    with pytest.raises(ServiceValidationError) as raised:
        await start(hass, init_integration)
    assert raised.value.translation_key == "dvcc_required"
    assert issue_registry.async_get_issue(DOMAIN, f"dvcc_disabled_{init_integration.entry_id}")
    assert hass.states.get(STATE).state == "idle"
    assert simulator.mqtt_battery is not None
    assert simulator.mqtt_battery.messages == 0  # nothing announced


async def test_stop_is_safe_at_once_and_the_real_bms_takes_over_again(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    """I2 and I5 with "automatic": the next document is safe; DVCC follows the real BMS
    again at once (its instance, as automatic would pick the lingering virtual one), and
    "automatic" comes back when the driver has gone. No MultipleBatteries after that."""
    await start(hass, init_integration)
    await steering(hass, freezer, init_integration, simulator)
    await shows(
        hass, freezer, init_integration, lambda: setting(simulator, BMS_INSTANCE) == VIRTUAL
    )
    driver = simulator.mqtt_battery
    assert driver is not None
    before = driver.messages
    await stop(hass, init_integration)
    assert hass.states.get(MODE).state == "follow_bms"
    # The stop's own document is already on its way (not at the next tick).
    await wait_until(lambda: driver.messages > before)
    await shows(
        hass,
        freezer,
        init_integration,
        lambda: virtual(simulator, "/Info/MaxChargeVoltage") <= REAL_CVL,
    )
    assert virtual(simulator, "/Info/MaxChargeCurrent") <= REAL_CCL
    # Give-back: the real BMS's instance first (the spacing of flash writes allowing).
    await run_for(hass, freezer, init_integration, 31)
    await wait_until(lambda: setting(simulator, BMS_INSTANCE) == REAL)
    await run_for(hass, freezer, init_integration, 2)
    assert system(simulator, "/ActiveBmsInstance") == REAL
    # The driver exits 60 s after our last document; then "automatic" again.
    await run_for(hass, freezer, init_integration, 70)
    assert virtual(simulator, "/ProductId") is None
    await wait_until(lambda: setting(simulator, BMS_INSTANCE) == -1)
    await run_for(hass, freezer, init_integration, 2)
    assert system(simulator, "/ActiveBmsInstance") == REAL
    assert system(simulator, "/Dvcc/Alarms/MultipleBatteries") == 0
    assert bms_writes(simulator) == [VIRTUAL, REAL, -1]
    report = init_integration.runtime_data.charge.supervisor.reports[-1]
    assert report.outcome == "aborted:stopped"


async def test_an_explicit_controlling_bms_costs_two_writes_per_run(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    await gx_sets(simulator, init_integration, "settings", 0, BMS_INSTANCE, REAL)
    await start(hass, init_integration)
    await steering(hass, freezer, init_integration, simulator)
    await run_for(hass, freezer, init_integration, 31)
    await stop(hass, init_integration)
    await run_for(hass, freezer, init_integration, 3)
    await wait_until(lambda: setting(simulator, BMS_INSTANCE) == REAL)
    await run_for(hass, freezer, init_integration, 70)
    assert bms_writes(simulator) == [VIRTUAL, REAL]
    assert system(simulator, "/Dvcc/Alarms/MultipleBatteries") == 0


async def test_missing_driver_aborts_with_a_repair_and_never_points_dvcc_at_nothing(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    mqtt_broker: MosquittoBroker,
    issue_registry: ir.IssueRegistry,
) -> None:
    """No dbus-mqtt-battery driver on the GX: the controlling BMS is never switched to an
    instance that does not exist (no BMS limits at all, venus-observed 32); the run stops
    and a repair says what to install."""
    sim = VenusSimulator(
        mqtt_broker.host,
        mqtt_broker.port,
        portal_id=PORTAL_ID,
        battery=BatteryConfig(instance=REAL, cells=16),
        seed=1,
    )
    await sim.start()
    try:
        sim.set_value("settings", 0, "/Settings/Services/Bol", 1)
        await settle()
        config_entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
        await start(hass, config_entry)
        await run_for(hass, freezer, config_entry, 65)
        supervisor = config_entry.runtime_data.charge.supervisor
        assert supervisor.controller.abort_reason == "virtual_bms_missing"
        assert hass.states.get(MODE).state == "follow_bms"
        issue = issue_registry.async_get_issue(
            DOMAIN, f"virtual_bms_missing_{config_entry.entry_id}"
        )
        assert issue is not None
        assert issue.translation_placeholders == {"topic": "enphase/battery", "instance": "100"}
        assert bms_writes(sim) == []
        assert sim.get_value("system", 0, "/ActiveBmsInstance") == REAL
        await hass.config_entries.async_unload(config_entry.entry_id)
    finally:
        await sim.stop()


async def test_venus_lost_refuses_charge(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    await start(hass, init_integration)
    await steering(hass, freezer, init_integration, simulator)
    simulator.pause_heartbeat()
    await run_for(hass, freezer, init_integration, HEARTBEAT_TIMEOUT + 2)
    assert not init_integration.runtime_data.link.alive
    await run_for(hass, freezer, init_integration, 2)
    assert virtual(simulator, "/Io/AllowToCharge") == 0
    assert virtual(simulator, "/Info/MaxChargeCurrent") == 0.0
    assert virtual(simulator, "/Info/MaxChargeVoltage") <= REAL_CVL


@pytest.mark.parametrize("alarm", ["HighVoltage", "HighCellVoltage", "BmsCable"])
async def test_an_abort_for_a_bms_alarm_blocks_charge_while_the_alarm_lasts(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
    alarm: str,
) -> None:
    """Item 3 (and 8: alarms that used to be ignored): aborted, and the virtual BMS says
    AllowToCharge 0 and 0 A for as long as the real BMS's alarm stands."""
    await start(hass, init_integration)
    await steering(hass, freezer, init_integration, simulator)
    await gx_sets(simulator, init_integration, "battery", REAL, f"/Alarms/{alarm}", 2)
    await run_for(hass, freezer, init_integration, 2)
    supervisor = init_integration.runtime_data.charge.supervisor
    assert supervisor.controller.abort_reason == "bms_alarm"
    await shows(
        hass, freezer, init_integration, lambda: virtual(simulator, "/Io/AllowToCharge") == 0
    )
    for _ in range(5):
        await run_for(hass, freezer, init_integration, 1)
        assert virtual(simulator, "/Io/AllowToCharge") == 0
        assert virtual(simulator, "/Info/MaxChargeCurrent") == 0.0
        assert virtual(simulator, "/Info/MaxChargeVoltage") <= REAL_CVL
    await wait_until(
        lambda: hass.states.get(f"binary_sensor.battery_{_snake(alarm)}_alarm").state == "on"
    )
    # DVCC goes back to the real BMS (whose alarm is its own business from then on).
    await shows(
        hass,
        freezer,
        init_integration,
        lambda: system(simulator, "/ActiveBmsInstance") == REAL,
        within=35,
    )


@pytest.mark.parametrize("fault", ["soc_invalid", "battery_vanished"])
async def test_in_control_bad_input_still_sends_a_safe_document(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
    fault: str,
) -> None:
    """Item 4 (I3): an invalid SoC or a vanished battery service does not silence the
    virtual BMS: charging stops in the next document, and the run aborts if it lasts."""
    await start(hass, init_integration)
    await steering(hass, freezer, init_integration, simulator)
    await run_for(hass, freezer, init_integration, 2)
    assert virtual(simulator, "/Info/MaxChargeCurrent") > 0
    state = init_integration.runtime_data.link.state
    key = ServiceKey("battery", REAL)
    if fault == "soc_invalid":
        await simulator.publish_raw(f"N/{PORTAL_ID}/battery/{REAL}/Soc", b'{"value": null}')
        await wait_until(lambda: "/Soc" in state.services[key] and state.value(key, "/Soc") is None)
    else:
        simulator.remove_service("battery", REAL)
        await wait_until(lambda: key not in state.services)
    driver = simulator.mqtt_battery
    assert driver is not None
    before = driver.messages
    await shows(
        hass, freezer, init_integration, lambda: virtual(simulator, "/Io/AllowToCharge") == 0
    )
    await run_for(hass, freezer, init_integration, 2)
    assert driver.messages >= before + 2  # not silent
    assert virtual(simulator, "/Info/MaxChargeCurrent") == 0.0
    assert virtual(simulator, "/Info/MaxChargeVoltage") <= REAL_CVL
    await run_for(hass, freezer, init_integration, 31)
    supervisor = init_integration.runtime_data.charge.supervisor
    assert supervisor.controller.abort_reason in ("stale_data", "implausible_data")
    assert virtual(simulator, "/Io/AllowToCharge") == 0


async def test_a_cell_far_above_ovp_stops_the_run_at_once(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    """Item 8: 4.2 V on a LiFePO4 cell is an over-voltage (or a sensor fault): stop now."""
    await start(hass, init_integration)
    await steering(hass, freezer, init_integration, simulator)
    simulator.glitch_cell(5, 4.2, duration=None, instance=REAL)
    state = init_integration.runtime_data.link.state
    await wait_until(lambda: state.value(ServiceKey("battery", REAL), "/Voltages/Cell5") == 4.2)
    await run_for(hass, freezer, init_integration, 2)
    supervisor = init_integration.runtime_data.charge.supervisor
    assert supervisor.controller.abort_reason == "cell_over_voltage"
    await shows(
        hass, freezer, init_integration, lambda: virtual(simulator, "/Info/MaxChargeCurrent") == 0
    )
    assert virtual(simulator, "/Info/MaxChargeVoltage") <= REAL_CVL


@pytest.mark.default_update_interval
async def test_a_run_reacts_to_a_cell_within_a_second_at_the_default_update_interval(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    """Control reads the newest parsed values, never the rate-limited entity states:
    with the default interval (cells every 5 s, every second during a run) the run
    still acts on a cell at its next 1 s step."""
    coordinator = init_integration.runtime_data.venus
    assert coordinator.writer.intervals[Pace.CELL] == 5.0
    await start(hass, init_integration)
    await steering(hass, freezer, init_integration, simulator)
    assert coordinator.balancing()
    coordinator.writer.refresh_settings()  # (each flush does this)
    assert coordinator.writer.intervals[Pace.CELL] == 1.0
    simulator.glitch_cell(5, 4.2, duration=None, instance=REAL)
    state = init_integration.runtime_data.link.state
    await wait_until(lambda: state.value(ServiceKey("battery", REAL), "/Voltages/Cell5") == 4.2)
    supervisor = init_integration.runtime_data.charge.supervisor
    assert supervisor.controller.abort_reason is None
    await run_for(hass, freezer, init_integration, 1)  # one step of the charge control
    assert supervisor.controller.abort_reason == "cell_over_voltage"
    assert not coordinator.balancing()


async def test_reload_mid_run_gives_everything_back(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    await start(hass, init_integration)
    await steering(hass, freezer, init_integration, simulator)
    await shows(
        hass, freezer, init_integration, lambda: setting(simulator, BMS_INSTANCE) == VIRTUAL
    )
    await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    # Unload aborted the run, said so on the wire, and gave DVCC back to the real BMS.
    await shows(
        hass,
        freezer,
        init_integration,
        lambda: virtual(simulator, "/Info/MaxChargeVoltage") <= REAL_CVL,
    )
    assert setting(simulator, BMS_INSTANCE) == REAL
    supervisor = init_integration.runtime_data.charge.supervisor
    assert supervisor.reports[-1].outcome == "aborted:unload"
    assert hass.states.get(MODE).state == "follow_bms"


async def test_a_crash_mid_run_resumes_within_five_minutes(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    """Item 8: resumed after 200 s (the driver's grace counts from the restart, not from the
    run's start); the driver had exited meanwhile and comes back with our documents."""
    await start(hass, init_integration)
    await steering(hass, freezer, init_integration, simulator)
    await run_for(hass, freezer, init_integration, 31)  # a periodic save
    await crash(hass, init_integration)
    await run_for(hass, freezer, init_integration, 200)
    assert virtual(simulator, "/ProductId") is None  # the driver timed out
    assert system(simulator, "/ActiveBmsInstance") is None  # no BMS at all meanwhile
    assert await hass.config_entries.async_setup(init_integration.entry_id)
    await hass.async_block_till_done()
    await steering(hass, freezer, init_integration, simulator)
    await run_for(hass, freezer, init_integration, 5)
    supervisor = init_integration.runtime_data.charge.supervisor
    assert supervisor.running, supervisor.controller.abort_reason
    assert hass.states.get(MODE).state == "top_balance"


async def test_after_a_run_a_restart_does_not_bring_the_virtual_bms_back(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    """Item 5: no MultipleBatteries after every start that follows a run."""
    await start(hass, init_integration)
    await steering(hass, freezer, init_integration, simulator)
    await run_for(hass, freezer, init_integration, 31)
    await stop(hass, init_integration)
    await run_for(hass, freezer, init_integration, 100)
    assert virtual(simulator, "/ProductId") is None
    driver = simulator.mqtt_battery
    assert driver is not None
    sent = driver.messages
    await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    await run_for(hass, freezer, init_integration, 10)
    assert driver.messages == sent
    assert system(simulator, "/Dvcc/Alarms/MultipleBatteries") == 0
    assert setting(simulator, BMS_INSTANCE) == -1


async def test_a_stale_switch_found_at_start_is_given_back(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    """The old advice (MQTT Battery as Controlling BMS for good) or a crash: nothing runs,
    so DVCC must follow the real BMS again."""
    simulator.set_value("settings", 0, BMS_INSTANCE, VIRTUAL)
    await settle()
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    await run_for(hass, freezer, config_entry, 3)
    await wait_until(lambda: setting(simulator, BMS_INSTANCE) == -1)
    assert simulator.get_value("system", 0, "/ActiveBmsInstance") == REAL
    await hass.config_entries.async_unload(config_entry.entry_id)


async def test_bms_changed_on_the_gx_during_a_run_is_respected(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    await start(hass, init_integration)
    await steering(hass, freezer, init_integration, simulator)
    await shows(
        hass, freezer, init_integration, lambda: setting(simulator, BMS_INSTANCE) == VIRTUAL
    )
    await run_for(hass, freezer, init_integration, 1)
    await gx_sets(simulator, init_integration, "settings", 0, BMS_INSTANCE, REAL)
    await run_for(hass, freezer, init_integration, 2)
    supervisor = init_integration.runtime_data.charge.supervisor
    assert supervisor.controller.abort_reason == "bms_changed_on_gx"
    await run_for(hass, freezer, init_integration, 40)
    assert setting(simulator, BMS_INSTANCE) == REAL  # not fought over
    assert bms_writes(simulator) == [VIRTUAL]


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"target_cell_voltage": 3.9}, "invalid_parameter"),
        ({"max_current": 0}, "invalid_parameter"),
        ({"bleed_current": 50}, "invalid_parameter"),
    ],
)
async def test_start_parameters_are_checked(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    data: dict[str, float],
    key: str,
) -> None:
    with pytest.raises(ServiceValidationError) as raised:
        await start(hass, init_integration, **data)
    assert raised.value.translation_key == key
    assert hass.states.get(STATE).state == "idle"


async def test_parameter_numbers(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    await hass.services.async_call(
        "number",
        "set_value",
        {ATTR_ENTITY_ID: "number.victron_gx_top_balance_cell_target", "value": 3.6},
        blocking=True,
    )
    assert init_integration.runtime_data.charge.supervisor.params.target_cell_v == 3.6
    entity = hass.data["number"].get_entity("number.victron_gx_bms_bleed_current")
    with pytest.raises(ServiceValidationError):
        await entity.async_set_native_value(20.0)


async def test_report_service(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    """Past runs, per-cell drift and hand-balancing advice, as a service response."""
    await start(hass, init_integration)
    await run_for(hass, freezer, init_integration, 2)
    await stop(hass, init_integration)
    volts = [3.45] * 16
    volts[6] = 3.30  # one cell far behind: too much for a 1 A bleed in a day
    simulator.set_cell_voltages(volts, instance=REAL)
    battery = ServiceKey("battery", REAL)
    state = init_integration.runtime_data.link.state
    await wait_until(
        lambda: [state.value(battery, f"/Voltages/Cell{n}") for n in range(1, 17)] == volts
    )
    response = await hass.services.async_call(
        DOMAIN,
        "top_balance_report",
        {"config_entry_id": init_integration.entry_id, "load_w": 50},
        blocking=True,
        return_response=True,
    )
    assert len(response["reports"]) == 1
    assert response["reports"][0]["outcome"].startswith("aborted")
    assert set(response["drift"]) <= {str(cell) for cell in range(1, 17)}
    advice = response["advice"]
    assert advice is not None
    assert advice["severe"] is True
    assert advice["recommended"] in ("drain", "charge")
    assert advice["charge"]["cells"] == [7]
    assert advice["charge"]["voltage"] == 3.6  # HVC 3.65 V minus the margin
    assert advice["drain"]["cell"] != 7


async def test_hold_at_soc_through_the_virtual_bms(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    """Charge current 0 A from the target on, back when SoC falls below the band; no flash
    writes for the holding itself (only the borrow and give-back of the controlling BMS)."""
    await hass.services.async_call(
        "number",
        "set_value",
        {ATTR_ENTITY_ID: "number.victron_gx_hold_state_of_charge", "value": 80},
        blocking=True,
    )

    async def soc(value: float) -> None:
        await gx_sets(simulator, init_integration, "battery", REAL, "/Soc", value)
        await run_for(hass, freezer, init_integration, 2)

    await soc(70.0)
    await select_mode(hass, "hold_at_soc")
    await steering(hass, freezer, init_integration, simulator)
    await shows(
        hass, freezer, init_integration, lambda: setting(simulator, BMS_INSTANCE) == VIRTUAL
    )  # the borrow
    await wait_until(lambda: (virtual(simulator, "/Info/MaxChargeCurrent") or 0) > 0)
    writes = simulator.settings_writes
    await soc(81.0)
    await shows(
        hass, freezer, init_integration, lambda: virtual(simulator, "/Info/MaxChargeCurrent") == 0
    )
    await soc(79.0)  # inside the band: still holding
    assert virtual(simulator, "/Info/MaxChargeCurrent") == 0
    await soc(76.0)
    await shows(
        hass,
        freezer,
        init_integration,
        lambda: (virtual(simulator, "/Info/MaxChargeCurrent") or 0) > 0,
    )
    assert virtual(simulator, "/Io/AllowToCharge") == 1
    assert simulator.settings_writes == writes  # holding never touched the GX's flash
    # Outside the run the virtual BMS mirrors the real one: never its CVL above it.
    assert virtual(simulator, "/Info/MaxChargeVoltage") <= REAL_CVL
    await stop(hass, init_integration)  # the service ends a hold too (item 8)
    assert hass.states.get(MODE).state == "follow_bms"
    assert not init_integration.runtime_data.charge.supervisor.holding


async def test_hold_never_allows_what_the_real_bms_forbids(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    """Item 2: cold and blocked: AllowToCharge 0, CCL 0, AllowToDischarge 0, DCL 0 go out,
    not the hold's own numbers."""
    await select_mode(hass, "hold_at_soc")
    await steering(hass, freezer, init_integration, simulator)
    for path, value in (
        ("/Io/AllowToCharge", 0),
        ("/Info/MaxChargeCurrent", 0.0),
        ("/Dc/0/Temperature", -5.0),
        ("/Io/AllowToDischarge", 0),
        ("/Info/MaxDischargeCurrent", 0.0),
    ):
        await gx_sets(simulator, init_integration, "battery", REAL, path, value)
    await shows(
        hass, freezer, init_integration, lambda: virtual(simulator, "/Io/AllowToDischarge") == 0
    )
    assert virtual(simulator, "/Io/AllowToCharge") == 0
    assert virtual(simulator, "/Info/MaxChargeCurrent") == 0.0
    assert virtual(simulator, "/Info/MaxDischargeCurrent") == 0.0
    # Only the cold now: still no charge below 0 °C, whatever the real BMS's CCL says.
    for path, value in (
        ("/Io/AllowToCharge", 1),
        ("/Info/MaxChargeCurrent", 50.0),
        ("/Io/AllowToDischarge", 1),
        ("/Info/MaxDischargeCurrent", 60.0),
    ):
        await gx_sets(simulator, init_integration, "battery", REAL, path, value)
    await shows(
        hass,
        freezer,
        init_integration,
        lambda: virtual(simulator, "/Info/MaxDischargeCurrent") == 60.0,
    )
    assert virtual(simulator, "/Io/AllowToCharge") == 0
    assert virtual(simulator, "/Info/MaxChargeCurrent") == 0.0


async def test_set_charge_limits_follow_bms_ends_a_top_balance(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    """Item 8 / I7: the service takes the select's path."""
    await start(hass, init_integration)
    await steering(hass, freezer, init_integration, simulator)
    await hass.services.async_call(
        DOMAIN,
        "set_charge_limits",
        {"config_entry_id": init_integration.entry_id, "mode": "follow_bms"},
        blocking=True,
    )
    supervisor = init_integration.runtime_data.charge.supervisor
    assert not supervisor.running
    assert hass.states.get(MODE).state == "follow_bms"
    await shows(
        hass,
        freezer,
        init_integration,
        lambda: virtual(simulator, "/Info/MaxChargeVoltage") <= REAL_CVL,
    )


async def test_a_failed_safety_publish_is_a_warning(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Item 8: not logged at DEBUG."""
    await start(hass, init_integration)
    await run_for(hass, freezer, init_integration, 1)
    with (
        caplog.at_level(logging.WARNING),
        patch.object(SessionClient, "publish", side_effect=aiomqtt.MqttError("broker gone")),
    ):
        await run_for(hass, freezer, init_integration, 1)
    assert any(
        record.levelno == logging.WARNING and "Virtual BMS document not sent" in record.message
        for record in caplog.records
    )
    # The broker is back: nothing is lost, the switch to the virtual BMS is made.
    await steering(hass, freezer, init_integration, simulator)


async def test_unreadable_stored_state_is_not_trusted(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    config_entry: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    """Corrupt storage of an older version: no run resumed, bad reports skipped."""
    entry_id = config_entry.entry_id
    for name, data in (
        (
            "top_balance",
            {
                "params": {"max_current_a": 30.0},
                "reports": [{"nonsense": True}],
                "controller": {"state": "bulk", "settings": "broken"},
            },
        ),
        ("charge_control", {"mode": "warp_speed", "current_a": "lots"}),
    ):
        key = f"{DOMAIN}.{entry_id}.{name}"
        hass_storage[key] = {"version": 1, "minor_version": 1, "key": key, "data": data}
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    supervisor = config_entry.runtime_data.charge.supervisor
    assert not supervisor.running
    assert supervisor.reports == []
    assert supervisor.params.max_current_a == 30.0
    assert hass.states.get(MODE).state == "follow_bms"
    assert simulator.settings_writes == 0
    await hass.config_entries.async_unload(config_entry.entry_id)


async def test_virtual_bms_topic_and_instance_from_the_options(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    mqtt_broker: MosquittoBroker,
    config_entry: MockConfigEntry,
) -> None:
    """A driver configured with another topic and instance is found and used."""
    sim = VenusSimulator(
        mqtt_broker.host,
        mqtt_broker.port,
        portal_id=PORTAL_ID,
        battery=BatteryConfig(instance=REAL, cells=16),
        mqtt_battery=MqttBatteryConfig(topic="custom/vbms", instance=101),
        seed=1,
    )
    await sim.start()
    try:
        sim.set_value("settings", 0, "/Settings/Services/Bol", 1)
        await settle()
        config_entry.add_to_hass(hass)
        hass.config_entries.async_update_entry(
            config_entry, options={"virtual_bms_topic": "custom/vbms", "virtual_bms_instance": 101}
        )
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
        await start(hass, config_entry)
        await run_for(hass, freezer, config_entry, 35)
        supervisor = config_entry.runtime_data.charge.supervisor
        assert supervisor.running, supervisor.controller.abort_reason
        assert sim.get_value("battery", 101, "/Info/MaxChargeVoltage") is not None
        assert sim.get_value("system", 0, "/ActiveBmsInstance") == 101
        assert config_entry.runtime_data.venus.battery_instance == REAL
        await hass.config_entries.async_unload(config_entry.entry_id)
    finally:
        await sim.stop()


async def test_start_refused_while_the_pack_is_unknown(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    """No cells, no bounds: nothing is started and nothing is announced."""
    simulator.remove_service("battery", REAL)
    await wait_until(lambda: init_integration.runtime_data.venus.pack() is None)
    with pytest.raises(ServiceValidationError) as raised:
        await start(hass, init_integration)
    assert raised.value.translation_key == "pack_unknown"
    assert init_integration.runtime_data.charge.published == 0


def _snake(name: str) -> str:
    return "".join(f"_{char.lower()}" if char.isupper() else char for char in name).lstrip("_")
