"""Energy-dashboard sensors against the simulated GX: counters, integration, restore."""

from __future__ import annotations

from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant, State
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    mock_restore_cache_with_extra_data,
)

from custom_components.victron_balance.logic.venus_topics import ServiceKey
from simulator import VenusSimulator
from simulator.charger_services import build_grid_meter_service
from simulator.chargers import GridMeterConfig
from tests.helpers import wait_until

CHARGED = "sensor.battery_energy_charged"
DISCHARGED = "sensor.battery_energy_discharged"
PV = "sensor.victron_gx_pv_energy"
IMPORT = "sensor.victron_gx_grid_energy_imported"
EXPORT = "sensor.victron_gx_grid_energy_exported"


def value(hass: HomeAssistant, entity_id: str) -> float | None:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    try:
        return float(state.state)
    except ValueError:
        return None


async def test_battery_totals_follow_the_bms_counters(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    simulator.set_value("battery", 512, "/History/ChargedEnergy", 120.0)
    await wait_until(lambda: value(hass, CHARGED) == 120.0)
    attributes = hass.states.get(CHARGED).attributes
    assert attributes["device_class"] == "energy"
    assert attributes["state_class"] == "total_increasing"
    assert attributes["unit_of_measurement"] == "kWh"
    simulator.set_value("battery", 512, "/History/ChargedEnergy", 120.5)
    await wait_until(lambda: value(hass, CHARGED) == 120.5)
    # The BMS driver restarts: its topics vanish and its counter comes back higher.
    simulator.remove_service("battery", 512)
    await wait_until(lambda: not init_integration.runtime_data.venus.battery())
    assert value(hass, CHARGED) == 120.5  # a total stays while the BMS is away


async def test_grid_meter_counters_and_a_second_meter(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    # Until a meter shows up the totals integrate the grid power (0 W here).
    assert value(hass, IMPORT) == 0.0
    meter = build_grid_meter_service(GridMeterConfig(instance=30))
    meter.items["/Ac/Energy/Forward"].value = 1000.0
    meter.items["/Ac/Energy/Reverse"].value = 250.0
    simulator.add_driver_service(meter)
    link = init_integration.runtime_data.link
    await wait_until(lambda: link.state.has(ServiceKey("grid", 30)))
    # A meter that appears counts from then on: its lifetime counter is no energy of now.
    simulator.set_value("grid", 30, "/Ac/Energy/Forward", 1001.25)
    simulator.set_value("grid", 30, "/Ac/Energy/Reverse", 250.5)
    await wait_until(lambda: value(hass, IMPORT) == 1.25)
    await wait_until(lambda: value(hass, EXPORT) == 0.5)
    second = build_grid_meter_service(GridMeterConfig(instance=31))
    second.items["/Ac/Energy/Forward"].value = 500.0
    simulator.add_driver_service(second)
    await wait_until(lambda: link.state.has(ServiceKey("grid", 31)))
    simulator.set_value("grid", 31, "/Ac/Energy/Forward", 500.5)
    simulator.set_value("grid", 30, "/Ac/Energy/Forward", 1001.5)
    await wait_until(lambda: value(hass, IMPORT) == 2.0)


async def test_without_counters_the_power_is_integrated(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    # The BMS keeps no discharge counter and there is no MPPT: integrate the power.
    simulator.set_value("battery", 512, "/History/DischargedEnergy", None)
    simulator.set_value("battery", 512, "/Dc/0/Current", -4000)  # the BMS derives the power
    simulator.set_value("system", 0, "/Dc/Pv/Power", 900_000)
    simulator.set_value("system", 0, "/Ac/Grid/L1/Power", -900_000)
    await wait_until(lambda: (value(hass, DISCHARGED) or 0) > 0)
    await wait_until(lambda: (value(hass, PV) or 0) > 0)
    await wait_until(lambda: (value(hass, EXPORT) or 0) > 0)
    assert value(hass, IMPORT) == 0.0  # exporting adds nothing to the import


async def test_totals_are_restored_and_go_on_from_the_stored_counters(
    hass: HomeAssistant, config_entry: MockConfigEntry, simulator: VenusSimulator
) -> None:
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(CHARGED, "100.0"),
                {"total_kwh": 100.0, "counters": {"battery/512": 10.0}},
            )
        ],
    )
    simulator.set_value("battery", 512, "/History/ChargedEnergy", 12.5)
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    # 2.5 kWh were charged while Home Assistant was down; the total goes on from 100.
    await wait_until(lambda: value(hass, CHARGED) == 102.5)
    await hass.config_entries.async_unload(config_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(CHARGED).state == STATE_UNAVAILABLE
