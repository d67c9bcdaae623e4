"""Switch entities: EV charging on/off (and one per device that needs a switch)."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .balancer_entities import async_setup_balancer_switches
from .coordinator import VictronBalanceConfigEntry
from .errors import entity_action
from .evse_entity import EvseEntity

PARALLEL_UPDATES = 1


async def async_setup_entry(
    hass: HomeAssistant,
    entry: VictronBalanceConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the switches of the devices this entry has."""
    runtime = entry.runtime_data
    if runtime.evse is not None:
        async_add_entities([EvseChargingSwitch(runtime.evse, EVSE_CHARGING)])
    async_setup_balancer_switches(entry, async_add_entities)


# --- EV charger ------------------------------------------------------------------

EVSE_CHARGING = SwitchEntityDescription(key="evse_charging", translation_key="evse_charging")


class EvseChargingSwitch(EvseEntity, SwitchEntity):
    """Charging allowed (Venus StartStop): off pauses the car in every mode."""

    always_available = True

    @property
    def is_on(self) -> bool:
        """Charging is allowed."""
        return self.control.settings.charging_enabled

    @entity_action
    async def async_turn_on(self, **kwargs: Any) -> None:
        """Allow charging; the mode decides how."""
        await self.control.async_update(charging_enabled=True)

    @entity_action
    async def async_turn_off(self, **kwargs: Any) -> None:
        """Pause the car (our claim: disabled)."""
        await self.control.async_update(charging_enabled=False)
