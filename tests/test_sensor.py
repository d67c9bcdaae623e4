"""Sensors and binary sensors: values, metadata, dynamic cells, unique ids."""

from __future__ import annotations

import re
from unittest.mock import patch

import pytest
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity import EntityDescription
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.victron_balance.const import DOMAIN
from custom_components.victron_balance.entity import VenusEntity
from simulator import VenusSimulator
from tests.helpers import PORTAL_ID, find_device, wait_until

BATTERY = ("battery", 512)


def state(hass: HomeAssistant, entity_id: str) -> str:
    current = hass.states.get(entity_id)
    assert current is not None, entity_id
    return current.state


async def test_pack_values_follow_the_bms(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    for path, entity, value in [
        ("/Dc/0/Current", "sensor.battery_current", -12.5),
        ("/Dc/0/Temperature", "sensor.battery_temperature", 21.5),
        ("/ConsumedAmphours", "sensor.battery_consumed_amp_hours", -40.0),
        ("/Info/MaxChargeVoltage", "sensor.battery_bms_charge_voltage_limit", 55.2),
        ("/Info/MaxChargeCurrent", "sensor.battery_bms_charge_current_limit", 80.0),
        ("/Info/MaxDischargeCurrent", "sensor.battery_bms_discharge_current_limit", 120.0),
    ]:
        simulator.set_value(*BATTERY, path, value)
        await wait_until(lambda entity=entity, value=value: state(hass, entity) == str(value))
    # The pack voltage is the sum of the cells (the simulated BMS derives it).
    cells = [float(hass.states.get(f"sensor.battery_cell_{n}_voltage").state) for n in range(1, 17)]
    assert float(state(hass, "sensor.battery_voltage")) == pytest.approx(sum(cells), abs=0.01)
    attributes = hass.states.get("sensor.battery_voltage").attributes
    assert attributes["unit_of_measurement"] == "V"
    assert attributes["device_class"] == "voltage"
    assert attributes["state_class"] == "measurement"


async def test_cells_and_derived_values(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    voltages = [3.30 + 0.001 * n for n in range(16)]
    voltages[4] = 3.251  # cell 5 lowest
    voltages[11] = 3.402  # cell 12 highest
    simulator.set_cell_voltages(voltages)
    await wait_until(lambda: state(hass, "sensor.battery_cell_12_voltage") == "3.402")
    assert state(hass, "sensor.battery_cell_5_voltage") == "3.251"
    await wait_until(lambda: state(hass, "sensor.battery_lowest_cell") == "5")
    assert state(hass, "sensor.battery_highest_cell") == "12"
    assert state(hass, "sensor.battery_lowest_cell_voltage") == "3.251"
    assert state(hass, "sensor.battery_highest_cell_voltage") == "3.402"
    assert state(hass, "sensor.battery_cell_voltage_spread") == "151.0"
    assert (
        hass.states.get("sensor.battery_cell_voltage_spread").attributes["unit_of_measurement"]
        == "mV"
    )


async def test_gx_values(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    simulator.set_value("system", 0, "/Dc/Pv/Power", 2150)
    simulator.set_value("system", 0, "/Ac/Grid/L1/Power", 300)
    simulator.set_value("system", 0, "/Ac/Grid/L2/Power", -100)
    simulator.set_value("system", 0, "/Ac/Grid/L3/Power", None)
    simulator.set_value("system", 0, "/Ac/Consumption/L1/Power", 450.5)
    simulator.set_value("system", 0, "/Ac/Consumption/L2/Power", 0)
    simulator.set_value("system", 0, "/Ac/Consumption/L3/Power", None)
    await wait_until(lambda: state(hass, "sensor.victron_gx_grid_power") == "200.0")
    await wait_until(lambda: state(hass, "sensor.victron_gx_ac_consumption") == "450.5")
    assert state(hass, "sensor.victron_gx_pv_power") == "2150.0"
    assert state(hass, "sensor.victron_gx_active_bms") == "com.victronenergy.battery.ttyUSB0"


async def test_dvcc_flag_follows_settings(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    assert state(hass, "binary_sensor.victron_gx_dvcc") == STATE_OFF
    simulator.set_value("settings", 0, "/Settings/Services/Bol", 1)
    await wait_until(lambda: state(hass, "binary_sensor.victron_gx_dvcc") == STATE_ON)
    # With DVCC on and a BMS CVL, systemcalc publishes the effective charge voltage.
    await wait_until(
        lambda: state(hass, "sensor.victron_gx_effective_charge_voltage") != STATE_UNKNOWN
    )


async def test_battery_flags_and_alarms(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    assert state(hass, "binary_sensor.battery_charging_allowed") == STATE_ON
    simulator.set_value(*BATTERY, "/Io/AllowToCharge", 0)
    simulator.set_value(*BATTERY, "/Alarms/HighVoltage", 2)
    simulator.set_value(*BATTERY, "/Alarms/CellImbalance", 1)
    await wait_until(lambda: state(hass, "binary_sensor.battery_charging_allowed") == STATE_OFF)
    await wait_until(lambda: state(hass, "binary_sensor.battery_high_voltage_alarm") == STATE_ON)
    await wait_until(lambda: state(hass, "binary_sensor.battery_cell_imbalance_alarm") == STATE_ON)
    assert state(hass, "binary_sensor.battery_low_voltage_alarm") == STATE_OFF
    problem = hass.states.get("binary_sensor.battery_high_voltage_alarm")
    assert problem.attributes["device_class"] == "problem"


async def test_cell_balancing_flags_are_disabled_by_default(
    hass: HomeAssistant, init_integration: MockConfigEntry, entity_registry: er.EntityRegistry
) -> None:
    entry = entity_registry.async_get("binary_sensor.battery_cell_3_balancing")
    assert entry is not None
    assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert entry.unique_id == f"{PORTAL_ID}_battery_cell_3_balancing"


async def test_cell_balancing_flag_when_enabled(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
    entity_registry: er.EntityRegistry,
) -> None:
    entity_registry.async_update_entity("binary_sensor.battery_cell_3_balancing", disabled_by=None)
    await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    simulator.set_value(*BATTERY, "/Balances/Cell3", 1)
    await wait_until(lambda: state(hass, "binary_sensor.battery_cell_3_balancing") == STATE_ON)


async def test_devices(
    hass: HomeAssistant, init_integration: MockConfigEntry, device_registry: dr.DeviceRegistry
) -> None:
    entry_id = init_integration.entry_id
    gx = find_device(device_registry, entry_id, (DOMAIN, PORTAL_ID))
    battery = find_device(device_registry, entry_id, (DOMAIN, f"{PORTAL_ID}_battery"))
    assert gx is not None and battery is not None
    assert gx.manufacturer == "Victron Energy"
    assert gx.serial_number == PORTAL_ID
    assert battery.via_device_id == gx.id


async def test_every_entity_has_a_unique_id_and_translation(
    hass: HomeAssistant, init_integration: MockConfigEntry, entity_registry: er.EntityRegistry
) -> None:
    entries = er.async_entries_for_config_entry(entity_registry, init_integration.entry_id)
    assert len(entries) == len({entry.unique_id for entry in entries})
    assert all(entry.unique_id.startswith(PORTAL_ID) for entry in entries)
    assert all(entry.translation_key for entry in entries)
    # 16 cells: a voltage and a balancing flag each.
    cell_ids = [entry for entry in entries if re.search(r"_cell_\d+_voltage$", entry.unique_id)]
    assert len(cell_ids) == 16


async def test_cells_added_at_runtime(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    assert hass.states.get("sensor.battery_cell_17_voltage") is None
    simulator.set_cell_count(18)
    await wait_until(lambda: hass.states.get("sensor.battery_cell_18_voltage") is not None)
    assert state(hass, "sensor.battery_cell_17_voltage") not in (STATE_UNKNOWN, STATE_UNAVAILABLE)
    simulator.set_cell_count(16)
    await wait_until(lambda: state(hass, "sensor.battery_cell_18_voltage") == STATE_UNAVAILABLE)


async def test_an_entity_that_does_not_say_what_it_shows_is_always_written(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Skipping identical writes must not turn into never writing."""
    entity = VenusEntity(
        init_integration.runtime_data.venus, EntityDescription(key="probe"), "probe"
    )
    with patch.object(entity, "async_write_ha_state") as write:
        assert entity.write_if_changed()
        assert entity.write_if_changed()
    assert write.call_count == 2
