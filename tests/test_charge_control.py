"""Charge control through DVCC user limits, against the simulated GX."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.victron_balance.const import DOMAIN
from custom_components.victron_balance.logic.venus_topics import SETTINGS, ServiceKey
from custom_components.victron_balance.transport.venus_link import HEARTBEAT_TIMEOUT
from simulator import BatteryConfig, VenusSimulator
from simulator.chargers import MultiPlusConfig
from simulator.plant import PlantConfig
from tests.broker import MosquittoBroker
from tests.helpers import PORTAL_ID, advance, settle, wait_until

MODE = "select.victron_gx_charge_mode"
CURRENT = "number.victron_gx_charge_current_limit"
VOLTAGE = "number.victron_gx_charge_voltage_limit"
WRITES = "sensor.victron_gx_settings_writes"
MAX_CURRENT = "/Settings/SystemSetup/MaxChargeCurrent"
MAX_VOLTAGE = "/Settings/SystemSetup/MaxChargeVoltage"


def setting(simulator: VenusSimulator, path: str) -> object:
    return simulator.get_value("settings", 0, path)


async def select_mode(hass: HomeAssistant, option: str) -> None:
    await hass.services.async_call(
        "select", "select_option", {ATTR_ENTITY_ID: MODE, "option": option}, blocking=True
    )


async def set_number(hass: HomeAssistant, entity_id: str, value: float) -> None:
    await hass.services.async_call(
        "number", "set_value", {ATTR_ENTITY_ID: entity_id, "value": value}, blocking=True
    )


async def test_defaults_follow_the_bms_without_writing(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    assert hass.states.get(MODE).state == "follow_bms"
    voltage = hass.states.get(VOLTAGE)
    assert voltage.attributes["min"] == 46.4  # 16 cells x 2.90 V (LiFePO4)
    assert voltage.attributes["max"] == 58.4  # 16 cells x 3.65 V
    # The GX holds no limit: the numbers say so instead of showing a wish.
    assert voltage.state == STATE_UNKNOWN
    assert voltage.attributes["wanted"] == 58.4
    assert hass.states.get(CURRENT).state == STATE_UNKNOWN
    assert hass.states.get(CURRENT).attributes["step"] == 1
    assert simulator.settings_writes == 0
    assert hass.states.get(WRITES).state == "0"


async def test_limited_mode_writes_the_limits_and_flags_dvcc_off(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
    issue_registry: ir.IssueRegistry,
) -> None:
    await set_number(hass, CURRENT, 30.7)  # stored; follow_bms writes nothing
    assert simulator.settings_writes == 0
    assert hass.states.get(CURRENT).attributes["wanted"] == 30
    assert hass.states.get(CURRENT).attributes["pending"] is False  # not in Limited
    await select_mode(hass, "limited")
    await wait_until(lambda: simulator.settings_writes == 2)
    assert setting(simulator, MAX_CURRENT) == 30  # whole amps, as Venus keeps them
    assert setting(simulator, MAX_VOLTAGE) == 58.4
    # What the GX confirmed, not the wish.
    await wait_until(lambda: hass.states.get(CURRENT).state == "30.0")
    assert hass.states.get(CURRENT).attributes["pending"] is False
    issue_id = f"dvcc_disabled_{init_integration.entry_id}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    # Switching DVCC on at the GX clears the repair by itself.
    simulator.set_value("settings", 0, "/Settings/Services/Bol", 1)
    await wait_until(lambda: issue_registry.async_get_issue(DOMAIN, issue_id) is None)


async def test_the_numbers_show_what_the_gx_holds(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    """Changed on the GX (or elsewhere): the entity shows the GX, the wish stays apart."""
    await select_mode(hass, "limited")
    await wait_until(lambda: hass.states.get(CURRENT).state == "50.0")
    simulator.set_value("settings", 0, MAX_CURRENT, 30)
    await wait_until(lambda: hass.states.get(CURRENT).state == "30.0")
    state = hass.states.get(CURRENT)
    assert state.attributes["wanted"] == 50
    assert state.attributes["pending"] is True
    assert setting(simulator, MAX_CURRENT) == 30  # no tug of war with the GX


async def test_follow_bms_removes_user_limits(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    """Limits someone left on the GX are cleared when the user picks "follow the BMS"."""
    simulator.set_value("settings", 0, MAX_CURRENT, 10)
    simulator.set_value("settings", 0, MAX_VOLTAGE, 54.0)
    link = init_integration.runtime_data.link
    await wait_until(lambda: link.state.value(SETTINGS, MAX_VOLTAGE) == 54.0)
    await wait_until(lambda: hass.states.get(VOLTAGE).state == "54.0")
    await select_mode(hass, "follow_bms")
    await wait_until(lambda: setting(simulator, MAX_CURRENT) == -1)
    await wait_until(lambda: setting(simulator, MAX_VOLTAGE) == 0.0)
    await wait_until(lambda: hass.states.get(VOLTAGE).state == STATE_UNKNOWN)


async def test_writes_are_spaced_and_counted(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    await select_mode(hass, "limited")
    await wait_until(lambda: simulator.settings_writes == 2)  # current + voltage
    assert setting(simulator, MAX_CURRENT) == 50
    await set_number(hass, CURRENT, 20)  # too soon after the last write: deferred
    assert setting(simulator, MAX_CURRENT) == 50
    await advance(hass, freezer, 31)
    await wait_until(lambda: setting(simulator, MAX_CURRENT) == 20)
    assert simulator.settings_writes == 3
    await advance(hass, freezer, 1)
    assert hass.states.get(WRITES).state == "3"


@pytest.mark.parametrize(
    ("entity_id", "value", "key"),
    [
        (CURRENT, 250, "invalid_charge_current"),
        (CURRENT, -1, "invalid_charge_current"),
        (VOLTAGE, 60.0, "invalid_charge_voltage"),
        (VOLTAGE, 46.0, "invalid_charge_voltage"),
    ],
)
async def test_out_of_bounds_values_are_refused(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
    entity_id: str,
    value: float,
    key: str,
) -> None:
    # Bypass the UI's own min/max to prove the integration checks too.
    entity = hass.data["number"].get_entity(entity_id)
    with pytest.raises(ServiceValidationError) as raised:
        await entity.async_set_native_value(value)
    assert raised.value.translation_key == key
    assert simulator.settings_writes == 0


async def test_nothing_is_written_blind_and_the_limits_follow_when_the_gx_is_back(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    """With the GX silent no write is made (it could not be confirmed); later it is."""
    link = init_integration.runtime_data.link
    simulator.pause_heartbeat()
    await advance(hass, freezer, HEARTBEAT_TIMEOUT + 1)
    assert not link.alive
    # The select is unavailable now; the service still takes the choice.
    await hass.services.async_call(
        DOMAIN,
        "set_charge_limits",
        {"config_entry_id": init_integration.entry_id, "mode": "limited"},
        blocking=True,
    )
    await advance(hass, freezer, 3)
    assert simulator.received_writes == []
    simulator.resume_heartbeat()
    await advance(hass, freezer, 5)
    await wait_until(lambda: simulator.settings_writes == 2)
    assert setting(simulator, MAX_CURRENT) == 50


async def test_a_write_the_gx_does_not_echo_is_logged_and_tried_again(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await set_number(hass, CURRENT, 20)
    # The GX applies nothing and says nothing (a rejected write, venus-observed 14).
    simulator.plugin.reject_writes = True
    await select_mode(hass, "limited")
    await advance(hass, freezer, 8)
    await wait_until(lambda: "failed" in caplog.text and "trying again later" in caplog.text)
    assert setting(simulator, MAX_CURRENT) == -1
    simulator.plugin.reject_writes = False
    await advance(hass, freezer, 35)
    await wait_until(lambda: setting(simulator, MAX_CURRENT) == 20)


async def test_settings_survive_a_reload(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    await set_number(hass, VOLTAGE, 55.2)
    await select_mode(hass, "limited")
    await wait_until(lambda: setting(simulator, MAX_VOLTAGE) == 55.2)
    await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(MODE).state == "limited"
    await wait_until(lambda: hass.states.get(VOLTAGE).state == "55.2")
    assert hass.states.get(VOLTAGE).attributes["wanted"] == 55.2


async def test_set_charge_limits_service(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    await hass.services.async_call(
        DOMAIN,
        "set_charge_limits",
        {
            "config_entry_id": init_integration.entry_id,
            "mode": "limited",
            "current": 12,
            "voltage": 54,
        },
        blocking=True,
    )
    await wait_until(lambda: setting(simulator, MAX_CURRENT) == 12)
    await wait_until(lambda: setting(simulator, MAX_VOLTAGE) == 54.0)
    await wait_until(lambda: hass.states.get(CURRENT).state == "12.0")


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"current": 9999}, "invalid_charge_current"),
        ({"voltage": 70}, "invalid_charge_voltage"),
        ({"config_entry_id": "nope"}, "entry_not_found"),
    ],
)
async def test_set_charge_limits_service_validation(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
    data: dict[str, object],
    key: str,
) -> None:
    with pytest.raises(ServiceValidationError) as raised:
        await hass.services.async_call(
            DOMAIN,
            "set_charge_limits",
            {"config_entry_id": init_integration.entry_id, **data},
            blocking=True,
        )
    assert raised.value.translation_key == key
    assert simulator.settings_writes == 0


async def test_set_charge_limits_needs_a_loaded_entry(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    await hass.config_entries.async_unload(init_integration.entry_id)
    assert init_integration.state is ConfigEntryState.NOT_LOADED
    with pytest.raises(ServiceValidationError) as raised:
        await hass.services.async_call(
            DOMAIN,
            "set_charge_limits",
            {"config_entry_id": init_integration.entry_id},
            blocking=True,
        )
    assert raised.value.translation_key == "entry_not_loaded"


@pytest.fixture
def plant_simulator_config() -> PlantConfig:
    """A MultiPlus behind DVCC, so the limit shows on vebus/.../Link/ChargeCurrent."""
    return PlantConfig(multiplus=MultiPlusConfig())


@pytest.fixture
async def plant_simulator(
    mqtt_broker: MosquittoBroker, plant_simulator_config: PlantConfig
) -> AsyncIterator[VenusSimulator]:
    sim = VenusSimulator(
        mqtt_broker.host,
        mqtt_broker.port,
        portal_id=PORTAL_ID,
        battery=BatteryConfig(instance=512, cells=16),
        plant=plant_simulator_config,
        seed=1,
    )
    await sim.start()
    sim.set_value("settings", 0, "/Settings/Services/Bol", 1)
    await settle()
    yield sim
    await sim.stop()


async def test_the_charger_is_checked_to_follow_the_limit(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    plant_simulator: VenusSimulator,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The effective limit shows only on the charger (Link/ChargeCurrent): verify it there,
    15 s after the write, through the timer."""
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    issue_id = f"charger_not_following_{config_entry.entry_id}"
    await set_number(hass, CURRENT, 20)
    # A charger that takes 70 A whatever DVCC hands it.
    plant_simulator.chargers_ignore_dvcc(70.0)
    await select_mode(hass, "limited")
    await advance(hass, freezer, 20)
    await wait_until(lambda: issue_registry.async_get_issue(DOMAIN, issue_id) is not None)
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders == {"limit": "20", "handed": "70.0"}
    # Healed, and the next write is checked again: the repair goes.
    plant_simulator.chargers_ignore_dvcc(None)
    await advance(hass, freezer, 31)
    await set_number(hass, CURRENT, 25)
    await advance(hass, freezer, 20)
    await wait_until(
        lambda: hass.states.get("sensor.victron_gx_charger_current_limit").state == "25.0"
    )
    await wait_until(lambda: issue_registry.async_get_issue(DOMAIN, issue_id) is None)
    await hass.config_entries.async_unload(config_entry.entry_id)


@pytest.mark.pack_window
@pytest.mark.parametrize("voltage", [None, 55.2])
async def test_a_driver_restart_never_writes_a_limit_from_half_a_pack(
    voltage: float | None,
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    mqtt_broker: MosquittoBroker,
    config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Item 1 of the safety issue: a BMS fed through dbus-mqtt-battery (cell count 0) whose
    driver restarts, its topics vanishing and coming back one by one. Only a confirmed,
    complete pack may set the charge voltage window: no 3.65 V for a 16S pack."""
    config = BatteryConfig(instance=512, cells=16, flavour="mqtt_battery")
    sim = VenusSimulator(
        mqtt_broker.host, mqtt_broker.port, portal_id=PORTAL_ID, battery=config, seed=3
    )
    await sim.start()
    try:
        await settle()
        config_entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
        link = config_entry.runtime_data.link
        assert link.state.value(ServiceKey("battery", 512), "/System/NrOfCellsPerBattery") == 0

        def activity() -> int:
            return int(link.state.messages)

        await advance(hass, freezer, 6)  # the pack confirms
        if voltage is not None:
            await set_number(hass, VOLTAGE, voltage)
        expected = 58.4 if voltage is None else voltage  # None: the top of the window
        await select_mode(hass, "limited")
        await wait_until(lambda: setting(sim, MAX_VOLTAGE) == expected)
        written = len(sim.received_writes)
        # The driver stops: every path vanishes, one by one.
        sim.remove_service("battery", 512)
        await advance(hass, freezer, 5)
        assert hass.states.get(VOLTAGE).state == STATE_UNAVAILABLE  # no pack: no window
        with pytest.raises(ServiceValidationError) as raised:
            await hass.services.async_call(
                DOMAIN,
                "set_charge_limits",
                {"config_entry_id": config_entry.entry_id, "voltage": 54.0},
                blocking=True,
            )
        assert raised.value.translation_key == "pack_unknown"
        # It comes back, path by path in hash order, still without a cell count.
        sim.add_battery(config)
        for _ in range(10):
            await advance(hass, freezer, 1)
        await wait_until(lambda: hass.states.get(VOLTAGE).state == str(expected))
        assert hass.states.get(VOLTAGE).attributes["max"] == 58.4  # 16 x 3.65 again
        voltages = [v for t, v in sim.received_writes[written:] if t.endswith("MaxChargeVoltage")]
        assert voltages == []  # nothing written meanwhile: the GX kept the right value
        assert setting(sim, MAX_VOLTAGE) == expected
        assert "Traceback" not in caplog.text
        assert "NrOfCellsPerBattery" not in caplog.text  # 0 is normal, not bad input
        await hass.config_entries.async_unload(config_entry.entry_id)
    finally:
        await sim.stop()
