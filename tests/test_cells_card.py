"""The cells card: served by the integration and loaded by the frontend."""

from __future__ import annotations

import pytest
from homeassistant.components.frontend import DATA_EXTRA_MODULE_URL
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.victron_balance.cells_card import CARD_FILE, CARD_URL
from simulator import VenusSimulator

pytest.importorskip("hass_frontend", reason="the frontend package comes with the demo's")


async def test_the_card_is_served_and_added_to_every_dashboard(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    config_entry: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    assert await async_setup_component(hass, "frontend", {})
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    modules = hass.data[DATA_EXTRA_MODULE_URL].urls
    ours = [url for url in modules if url.startswith(CARD_URL)]
    assert len(ours) == 1
    assert "?v=" in ours[0]  # a new build gets a new URL, not a cached file
    client = await hass_client()
    response = await client.get(ours[0])
    assert response.status == 200
    assert await response.read() == CARD_FILE.read_bytes()
    await hass.config_entries.async_unload(config_entry.entry_id)
    await hass.async_block_till_done()
