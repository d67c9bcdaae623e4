"""Top-balance buttons and removing stale devices."""

from __future__ import annotations

import pytest
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.victron_balance import async_remove_config_entry_device
from custom_components.victron_balance.const import DOMAIN
from custom_components.victron_balance.logic.venus_topics import SETTINGS
from simulator import VenusSimulator
from tests import test_top_balance
from tests.helpers import PORTAL_ID, wait_until

# The GX the top-balance tests use: a real BMS, DVCC on, the virtual BMS driver installed.
simulator = test_top_balance.simulator

START = "button.battery_start_top_balance"
STOP = "button.battery_stop_top_balance"
MODE = "select.victron_gx_charge_mode"


async def press(hass: HomeAssistant, entity_id: str) -> None:
    await hass.services.async_call("button", "press", {ATTR_ENTITY_ID: entity_id}, blocking=True)


async def test_buttons_start_and_stop_a_top_balance(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    assert hass.states.get(MODE).state == "follow_bms"
    await press(hass, START)
    assert hass.states.get(MODE).state == "top_balance"
    supervisor = init_integration.runtime_data.charge.supervisor
    assert supervisor.running
    await press(hass, STOP)
    assert hass.states.get(MODE).state == "follow_bms"
    assert supervisor.reports[-1].outcome == "aborted:stopped"
    # The stop button ends a hold the same way.
    await hass.services.async_call(
        "select", "select_option", {ATTR_ENTITY_ID: MODE, "option": "hold_at_soc"}, blocking=True
    )
    assert supervisor.holding
    await press(hass, STOP)
    assert not supervisor.holding
    assert hass.states.get(MODE).state == "follow_bms"


async def test_start_button_is_refused_without_dvcc(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    simulator.set_value("settings", 0, "/Settings/Services/Bol", 0)
    link = init_integration.runtime_data.link
    await wait_until(lambda: link.state.value(SETTINGS, "/Settings/Services/Bol") == 0)
    with pytest.raises(ServiceValidationError) as raised:
        await press(hass, START)
    assert raised.value.translation_key == "dvcc_required"
    assert hass.states.get(MODE).state == "follow_bms"


async def test_only_devices_that_are_gone_can_be_removed(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
    device_registry: dr.DeviceRegistry,
) -> None:
    def device(identifier: str) -> dr.DeviceEntry:
        return device_registry.async_get_or_create(
            config_entry_id=init_integration.entry_id, identifiers={(DOMAIN, identifier)}
        )

    # Looked up by entry (async_get_device by identifiers is deprecated on newer HA).
    devices = {
        identifier: entry
        for entry in dr.async_entries_for_config_entry(device_registry, init_integration.entry_id)
        for _, identifier in entry.identifiers
    }
    gx, battery = devices[PORTAL_ID], devices[f"{PORTAL_ID}_battery"]
    assert gx.sw_version == "v3.60"
    assert gx.configuration_url == "https://vrm.victronenergy.com/"
    assert battery.manufacturer == "JKBMS"
    assert not await async_remove_config_entry_device(hass, init_integration, gx)
    assert not await async_remove_config_entry_device(hass, init_integration, battery)
    stale_balancer = device(f"{PORTAL_ID}_balancer_old")
    stale_evse = device(f"{PORTAL_ID}_evse_openevse-old")
    assert await async_remove_config_entry_device(hass, init_integration, stale_balancer)
    assert await async_remove_config_entry_device(hass, init_integration, stale_evse)
    simulator.remove_service("battery", 512)
    await wait_until(lambda: not init_integration.runtime_data.venus.battery())
    assert await async_remove_config_entry_device(hass, init_integration, battery)


async def test_cells_sort_in_number_order_and_keep_their_entity_ids(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    # The frontend sorts names with Intl.Collator, which puts the figure space padding
    # 1-9 before the digits (the browser tests check the device page's order).
    assert hass.states.get("sensor.battery_cell_2_voltage").name == "Battery Cell \u20072 voltage"
    assert hass.states.get("sensor.battery_cell_10_voltage").name == "Battery Cell 10 voltage"
    attributes = hass.states.get("sensor.battery_cell_2_voltage").attributes
    assert attributes["cell"] == 2
    assert attributes["balancing"] is False
