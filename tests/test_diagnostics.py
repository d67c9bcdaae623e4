"""Diagnostics: health counters and raw values, secrets redacted."""

from __future__ import annotations

from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from tests.helpers import PORTAL_ID, wait_until


async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
) -> None:
    hass.config_entries.async_update_entry(
        init_integration, data={**init_integration.data, CONF_USERNAME: "u", CONF_PASSWORD: "p"}
    )
    await hass.async_block_till_done()  # new credentials: the entry reloads
    await wait_until(lambda: init_integration.runtime_data.venus.writer.writes > 0)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    data = diagnostics["entry"]["data"]
    assert data[CONF_PASSWORD] == "**REDACTED**"
    assert data[CONF_USERNAME] == "**REDACTED**"
    assert data["host"] == "**REDACTED**"
    assert data["portal_id"] == "**REDACTED**"
    assert PORTAL_ID not in str(diagnostics)
    assert diagnostics["link"]["alive"] is True
    assert diagnostics["link"]["messages"] > 100
    assert diagnostics["link"]["ignored_messages"] >= 0  # counted, not stored
    writes = diagnostics["entity_writes"]
    assert writes["update_interval"] == "live"  # the tests' default (see conftest)
    assert writes["intervals_s"]["slow"] == 0.0
    assert writes["writes"] > 0
    assert diagnostics["session"]["connected"] is True
    assert diagnostics["battery_instance"] == 512
    battery = diagnostics["services"]["battery/512"]
    assert battery["/Voltages/Cell1"] > 3.0
    assert diagnostics["services"]["system/0"]["/Serial"] == "**REDACTED**"
