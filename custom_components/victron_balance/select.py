"""Select entity: the charge mode."""

from __future__ import annotations

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .balancer_entities import async_setup_balancer_selects
from .charge_runner import ChargeRunner
from .coordinator import VenusCoordinator, VictronBalanceConfigEntry
from .entity import VenusEntity
from .errors import entity_action
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
    """Follow the BMS, limited, top balance or hold at SoC."""

    def __init__(self, coordinator: VenusCoordinator, runner: ChargeRunner) -> None:
        super().__init__(coordinator, CHARGE_MODE, CHARGE_MODE.key)
        self.runner = runner

    async def async_added_to_hass(self) -> None:
        """Also follow the runner (a run ends by itself, back to the mode before it)."""
        await super().async_added_to_hass()
        self.follow(self.runner.async_add_listener)

    @property
    def current_option(self) -> str:
        """The mode in force."""
        return self.runner.mode.value

    def shown_state(self) -> object:
        """Compare on the mode."""
        return self.current_option

    @entity_action
    async def async_select_option(self, option: str) -> None:
        """Switch mode: the one path every mode change takes."""
        await self.runner.async_select_mode(ChargeMode(option))


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

    @entity_action
    async def async_select_option(self, option: str) -> None:
        """Switch mode; the control loop acts on it at once."""
        await self.control.async_update(mode=EvseMode(option))
