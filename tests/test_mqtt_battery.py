"""A dbus-mqtt-battery source: 24 cell slots with null for cells the pack lacks."""

from __future__ import annotations

import pytest
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from simulator import BatteryConfig


@pytest.fixture
def battery_config() -> BatteryConfig:
    """dbus-mqtt-battery: 24 cell slots, null for the ones the pack lacks."""
    return BatteryConfig(instance=100, cells=8, flavour="mqtt_battery")


async def test_mqtt_battery_null_cells_get_no_entity(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    assert hass.states.get("sensor.battery_cell_8_voltage").state not in (
        STATE_UNKNOWN,
        STATE_UNAVAILABLE,
    )
    assert hass.states.get("sensor.battery_cell_9_voltage") is None
    assert hass.states.get("sensor.battery_cell_24_voltage") is None
