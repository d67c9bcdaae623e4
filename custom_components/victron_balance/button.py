"""Buttons: start and stop a top balance (the paths of the charge-mode select and the
`stop_top_balance` service)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .charge_runner import ChargeRunner
from .coordinator import VenusCoordinator, VictronBalanceConfigEntry
from .entity import BatteryEntity
from .errors import entity_action
from .logic.dvcc_limits import ChargeMode

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class ChargeModeButtonDescription(ButtonEntityDescription):
    """A button and the charge runner's action it takes."""

    press_fn: Callable[[ChargeRunner], Awaitable[None]]


TOP_BALANCE_BUTTONS: tuple[ChargeModeButtonDescription, ...] = (
    ChargeModeButtonDescription(
        key="start_top_balance",
        translation_key="start_top_balance",
        press_fn=lambda runner: runner.async_select_mode(ChargeMode.TOP_BALANCE),
    ),
    ChargeModeButtonDescription(
        key="stop_top_balance",
        translation_key="stop_top_balance",
        press_fn=lambda runner: runner.async_stop_virtual_control(),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: VictronBalanceConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the top-balance buttons on the battery device."""
    coordinator = entry.runtime_data.venus
    async_add_entities(
        ChargeModeButton(coordinator, description) for description in TOP_BALANCE_BUTTONS
    )


class ChargeModeButton(BatteryEntity, ButtonEntity):
    """Start or stop a top balance."""

    entity_description: ChargeModeButtonDescription

    def __init__(
        self, coordinator: VenusCoordinator, description: ChargeModeButtonDescription
    ) -> None:
        super().__init__(coordinator, description, description.key)

    @entity_action
    async def async_press(self) -> None:
        """Refused (translated) when a top balance cannot start, like the select."""
        await self.entity_description.press_fn(self.coordinator.config_entry.runtime_data.charge)
