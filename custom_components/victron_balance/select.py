"""Select entity: the charge mode."""

from __future__ import annotations

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .balancer_entities import async_setup_balancer_selects
from .charge_control import ChargeControl
from .coordinator import VenusCoordinator, VictronBalanceConfigEntry, VictronBalanceRuntimeData
from .entity import VenusEntity
from .evse_entity import EvseEntity
from .logic.dvcc_limits import ChargeMode
from .logic.evse_modes import EvseMode

PARALLEL_UPDATES = 1

# Not a configuration entity: it is what the user operates (start/stop a top balance).
CHARGE_MODE = SelectEntityDescription(
    key="charge_mode",
    translation_key="charge_mode",
    options=[mode.value for mode in ChargeMode],
)


async def async_set_charge_mode(runtime: VictronBalanceRuntimeData, mode: ChargeMode) -> None:
    """Switch the charge mode: the select and the top-balance buttons go this way."""
    runner = runtime.top_balance
    if mode is ChargeMode.TOP_BALANCE:
        await runner.async_start()  # refuses (translated) without DVCC or cells
    elif mode is ChargeMode.HOLD_AT_SOC:
        await runner.async_start_hold()
    else:
        await runner.async_stop()
        await runner.async_stop_hold()
    await runtime.charge.async_update(mode=mode)
    runtime.venus.async_update_listeners()  # every entity shows the new mode and run


async def async_setup_entry(
    hass: HomeAssistant,
    entry: VictronBalanceConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the charge mode select."""
    runtime = entry.runtime_data
    async_add_entities([ChargeModeSelect(runtime.venus, runtime.charge)])
    async_setup_balancer_selects(entry, async_add_entities)
    if runtime.evse is not None:
        async_add_entities([EvseModeSelect(runtime.evse, EVSE_MODE)])


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
        await async_set_charge_mode(self.coordinator.config_entry.runtime_data, ChargeMode(option))
        self.async_write_ha_state()


EVSE_MODE = SelectEntityDescription(
    key="evse_mode",
    translation_key="evse_mode",
    options=[mode.value for mode in EvseMode],
)


class EvseModeSelect(EvseEntity, SelectEntity):
    """Off, fast 32 A, fast 16 A, a manual current, or PV surplus."""

    always_available = True

    @property
    def current_option(self) -> str:
        """The mode in force."""
        return self.control.settings.mode.value

    async def async_select_option(self, option: str) -> None:
        """Switch mode; the control loop acts on it at once."""
        await self.control.async_update(mode=EvseMode(option))
