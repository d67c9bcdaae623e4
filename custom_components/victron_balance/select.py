"""Select entity: the charge mode."""

from __future__ import annotations

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .charge_control import ChargeControl
from .coordinator import VenusCoordinator, VictronBalanceConfigEntry
from .entity import VenusEntity
from .logic.dvcc_limits import ChargeMode

PARALLEL_UPDATES = 1

CHARGE_MODE = SelectEntityDescription(
    key="charge_mode",
    translation_key="charge_mode",
    entity_category=EntityCategory.CONFIG,
    options=[mode.value for mode in ChargeMode],
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: VictronBalanceConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the charge mode select."""
    runtime = entry.runtime_data
    async_add_entities([ChargeModeSelect(runtime.venus, runtime.charge)])


class ChargeModeSelect(VenusEntity, SelectEntity):
    """Follow the BMS, or apply the charge limit numbers through DVCC."""

    def __init__(self, coordinator: VenusCoordinator, control: ChargeControl) -> None:
        super().__init__(coordinator, CHARGE_MODE, CHARGE_MODE.key)
        self.control = control

    @property
    def current_option(self) -> str:
        """The mode in force."""
        return self.control.settings.mode.value

    def shown_state(self) -> object:
        """Compare on the mode."""
        return self.current_option

    async def async_select_option(self, option: str) -> None:
        """Switch mode (HA has already checked that the option exists)."""
        mode = ChargeMode(option)
        runner = self.coordinator.config_entry.runtime_data.top_balance
        if mode is ChargeMode.TOP_BALANCE:
            await runner.async_start()  # refuses (translated) without DVCC or cells
        elif mode is ChargeMode.HOLD_AT_SOC:
            await runner.async_start_hold()
        else:
            await runner.async_stop()
            await runner.async_stop_hold()
        await self.control.async_update(mode=mode)
        self.async_write_ha_state()
