"""Number entities: the DVCC charge current and charge voltage limits."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.number import (
    NumberDeviceClass,
    NumberEntity,
    NumberEntityDescription,
    NumberMode,
)
from homeassistant.const import (
    PERCENTAGE,
    EntityCategory,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .balancer_entities import async_setup_balancer_numbers
from .charge_runner import ChargeRunner
from .const import DOMAIN
from .coordinator import VenusCoordinator, VictronBalanceConfigEntry
from .entity import VenusEntity
from .errors import entity_action
from .evse import EvseControl
from .evse_entity import EvseEntity
from .logic.dvcc_limits import ChargeMode, LimitBounds
from .logic.evse_modes import ABSOLUTE_MAX_CURRENT_A, MIN_CURRENT_A
from .logic.safety.gx_settings import MAX_CHARGE_CURRENT_PATH, MAX_CHARGE_VOLTAGE_PATH
from .state_writer import Watch

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class ChargeNumberDescription(NumberEntityDescription):
    """A DVCC user limit: the GX setting it shows, its bounds, and how to set it."""

    path: str  # the GX setting whose confirmed value the entity shows
    wish_fn: Callable[[ChargeRunner, LimitBounds], float]
    range_fn: Callable[[LimitBounds], tuple[float, float]]
    set_value_fn: Callable[[ChargeRunner, float], Awaitable[None]]


NUMBERS: tuple[ChargeNumberDescription, ...] = (
    ChargeNumberDescription(
        key="charge_current_limit",
        translation_key="charge_current_limit",
        device_class=NumberDeviceClass.CURRENT,
        entity_category=EntityCategory.CONFIG,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        native_step=1,  # Venus keeps whole amps
        mode=NumberMode.BOX,
        path=MAX_CHARGE_CURRENT_PATH,
        wish_fn=lambda runner, _bounds: runner.supervisor.settings.current_a,
        range_fn=lambda bounds: (0, bounds.current_max_a),
        set_value_fn=lambda runner, value: runner.async_set_limits(current_a=value),
    ),
    ChargeNumberDescription(
        key="charge_voltage_limit",
        translation_key="charge_voltage_limit",
        device_class=NumberDeviceClass.VOLTAGE,
        entity_category=EntityCategory.CONFIG,
        native_unit_of_measurement=UnitOfElectricPotential.VOLT,
        native_step=0.01,
        mode=NumberMode.BOX,
        path=MAX_CHARGE_VOLTAGE_PATH,
        wish_fn=lambda runner, bounds: (
            bounds.voltage_max_v
            if runner.supervisor.settings.voltage_v is None
            else runner.supervisor.settings.voltage_v
        ),
        range_fn=lambda bounds: (bounds.voltage_min_v, bounds.voltage_max_v),
        set_value_fn=lambda runner, value: runner.async_set_limits(voltage_v=value),
    ),
)


@dataclass(frozen=True, kw_only=True)
class TopBalanceNumberDescription(NumberEntityDescription):
    """A top-balance parameter: read, range, and store (next run uses it)."""

    value_fn: Callable[[ChargeRunner], float]
    range_fn: Callable[[ChargeRunner], tuple[float, float]]
    set_value_fn: Callable[[ChargeRunner, float], Awaitable[None]]


TOP_BALANCE_NUMBERS: tuple[TopBalanceNumberDescription, ...] = (
    TopBalanceNumberDescription(
        key="hold_soc",
        translation_key="hold_soc",
        device_class=NumberDeviceClass.BATTERY,
        entity_category=EntityCategory.CONFIG,
        native_unit_of_measurement=PERCENTAGE,
        native_step=1,
        mode=NumberMode.BOX,
        value_fn=lambda runner: runner.supervisor.params.hold_target_pct,
        range_fn=lambda _runner: (10.0, 100.0),
        set_value_fn=lambda runner, value: runner.async_set_parameters(hold_target_pct=value),
    ),
    TopBalanceNumberDescription(
        key="top_balance_target_voltage",
        translation_key="top_balance_target_voltage",
        device_class=NumberDeviceClass.VOLTAGE,
        entity_category=EntityCategory.CONFIG,
        native_unit_of_measurement=UnitOfElectricPotential.VOLT,
        native_step=0.01,
        mode=NumberMode.BOX,
        value_fn=lambda runner: runner.supervisor.params.cell_target(runner.preset),
        range_fn=lambda runner: (runner.preset.target_min_v, runner.preset.max_cell_v),
        set_value_fn=lambda runner, value: runner.async_set_parameters(target_cell_v=value),
    ),
    TopBalanceNumberDescription(
        key="top_balance_max_current",
        translation_key="top_balance_max_current",
        device_class=NumberDeviceClass.CURRENT,
        entity_category=EntityCategory.CONFIG,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        native_step=1,
        mode=NumberMode.BOX,
        value_fn=lambda runner: runner.supervisor.params.max_current_a,
        range_fn=lambda _runner: (1.0, 200.0),
        set_value_fn=lambda runner, value: runner.async_set_parameters(max_current_a=value),
    ),
    TopBalanceNumberDescription(
        key="bleed_current",
        translation_key="bleed_current",
        device_class=NumberDeviceClass.CURRENT,
        entity_category=EntityCategory.CONFIG,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        native_step=0.05,
        mode=NumberMode.BOX,
        value_fn=lambda runner: runner.supervisor.params.bleed_current_a,
        range_fn=lambda _runner: (0.05, 10.0),
        set_value_fn=lambda runner, value: runner.async_set_parameters(bleed_current_a=value),
    ),
)


def checked_in_range(value: float, low: float, high: float, key: str) -> float:
    """Finite and inside low..high, else a translated validation error."""
    if not math.isfinite(value) or not low <= value <= high:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key=key,
            translation_placeholders={"value": str(value), "min": str(low), "max": str(high)},
        )
    return value


async def async_setup_entry(
    hass: HomeAssistant,
    entry: VictronBalanceConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the charge limit numbers."""
    runtime = entry.runtime_data
    async_add_entities(
        [ChargeLimitNumber(runtime.venus, runtime.charge, description) for description in NUMBERS]
        + [
            TopBalanceNumber(runtime.venus, runtime.charge, description)
            for description in TOP_BALANCE_NUMBERS
        ]
    )
    async_setup_balancer_numbers(entry, async_add_entities)
    if runtime.evse is not None:
        async_add_entities([EvseNumber(runtime.evse, description) for description in EVSE_NUMBERS])


class ChargeLimitNumber(VenusEntity, NumberEntity):
    """A DVCC user limit: shows what the GX holds; the wish is an attribute until applied.

    No value while the GX holds none (-1 A / 0 V: the BMS decides). What the user set
    is applied in the *Limited* charge mode and shown as `wanted` until the GX confirms.
    """

    entity_description: ChargeNumberDescription

    def __init__(
        self,
        coordinator: VenusCoordinator,
        runner: ChargeRunner,
        description: ChargeNumberDescription,
    ) -> None:
        super().__init__(coordinator, description, description.key)
        self.runner = runner

    async def async_added_to_hass(self) -> None:
        """Also follow the runner (a confirmed write, a mode change)."""
        await super().async_added_to_hass()
        self.follow(self.runner.async_add_listener)

    def watches(self) -> tuple[Watch, ...]:
        """The GX setting it shows."""
        return (("settings", self.entity_description.path),)

    @property
    def available(self) -> bool:
        """Unavailable while the pack (and so the bounds) is not confirmed."""
        return super().available and self.runner.bounds() is not None

    @property
    def native_min_value(self) -> float:
        """Lowest accepted value for this pack."""
        bounds = self.runner.bounds()
        return 0.0 if bounds is None else self.entity_description.range_fn(bounds)[0]

    @property
    def native_max_value(self) -> float:
        """Highest accepted value for this pack."""
        bounds = self.runner.bounds()
        return 0.0 if bounds is None else self.entity_description.range_fn(bounds)[1]

    @property
    def native_value(self) -> float | None:
        """The limit the GX confirmed (None: it holds no limit)."""
        return self.runner.gx_limit(self.entity_description.path)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """What the user set, and whether it still waits for the GX."""
        bounds = self.runner.bounds()
        if bounds is None:
            return None
        wanted = self.entity_description.wish_fn(self.runner, bounds)
        applies = self.runner.mode is ChargeMode.LIMITED
        return {
            "wanted": wanted,
            "applies_in_mode": ChargeMode.LIMITED.value,
            "pending": applies and self.native_value != wanted,
        }

    def shown_state(self) -> object:
        """Compare on value, range and attributes."""
        return (
            self.native_value,
            self.native_min_value,
            self.native_max_value,
            self.extra_state_attributes,
        )

    @entity_action
    async def async_set_native_value(self, value: float) -> None:
        """Store it (checked on every path by the supervisor) and apply it in Limited."""
        await self.entity_description.set_value_fn(self.runner, value)


class TopBalanceNumber(VenusEntity, NumberEntity):
    """A parameter of the managed top balance; a run in progress keeps its own."""

    entity_description: TopBalanceNumberDescription

    def __init__(
        self,
        coordinator: VenusCoordinator,
        runner: ChargeRunner,
        description: TopBalanceNumberDescription,
    ) -> None:
        super().__init__(coordinator, description, description.key)
        self.runner = runner

    async def async_added_to_hass(self) -> None:
        """Follow the runner (parameters set by a service)."""
        await super().async_added_to_hass()
        self.follow(self.runner.async_add_listener)

    @property
    def native_min_value(self) -> float:
        """Lowest accepted value."""
        return self.entity_description.range_fn(self.runner)[0]

    @property
    def native_max_value(self) -> float:
        """Highest accepted value."""
        return self.entity_description.range_fn(self.runner)[1]

    @property
    def native_value(self) -> float:
        """The stored parameter."""
        return self.entity_description.value_fn(self.runner)

    def shown_state(self) -> object:
        """Compare on the value."""
        return self.native_value

    @entity_action
    async def async_set_native_value(self, value: float) -> None:
        """Check the range on every path, then store."""
        low, high = self.entity_description.range_fn(self.runner)
        checked = checked_in_range(value, low, high, "invalid_parameter")
        await self.entity_description.set_value_fn(self.runner, checked)


@dataclass(frozen=True, kw_only=True)
class EvseNumberDescription(NumberEntityDescription):
    """An EVSE setting: the settings field it reads and writes."""

    field: str


def _evse_current(
    key: str, field: str, max_value: float = ABSOLUTE_MAX_CURRENT_A
) -> EvseNumberDescription:
    return EvseNumberDescription(
        key=key,
        translation_key=key,
        device_class=NumberDeviceClass.CURRENT,
        entity_category=EntityCategory.CONFIG,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        native_min_value=MIN_CURRENT_A,
        native_max_value=max_value,
        native_step=1,
        mode=NumberMode.BOX,
        field=field,
    )


def _evse_soc(key: str, field: str) -> EvseNumberDescription:
    return EvseNumberDescription(
        key=key,
        translation_key=key,
        device_class=NumberDeviceClass.BATTERY,
        entity_category=EntityCategory.CONFIG,
        native_unit_of_measurement=PERCENTAGE,
        native_min_value=0,
        native_max_value=100,
        native_step=1,
        mode=NumberMode.BOX,
        field=field,
    )


EVSE_NUMBERS: tuple[EvseNumberDescription, ...] = (
    _evse_current("evse_max_current", "max_current_a"),
    _evse_current("evse_manual_current", "manual_current_a"),
    _evse_current("pv_min_current", "pv_min_current_a"),
    _evse_current("pv_max_current", "pv_max_current_a"),
    _evse_soc("battery_lower_soc", "battery_lower_soc"),
    _evse_soc("battery_upper_soc", "battery_upper_soc"),
    _evse_soc("battery_priority_soc", "priority_soc"),
)


class EvseNumber(EvseEntity, NumberEntity):
    """A current or SoC threshold of the EVSE control (kept across restarts)."""

    entity_description: EvseNumberDescription
    always_available = True

    def __init__(self, control: EvseControl, description: EvseNumberDescription) -> None:
        super().__init__(control, description)

    @property
    def native_value(self) -> float:
        """The setting in force."""
        return float(getattr(self.control.settings, self.entity_description.field))

    @entity_action
    async def async_set_native_value(self, value: float) -> None:
        """Check the range, then the whole set (lower SoC below upper, min below max)."""
        description = self.entity_description
        low = float(description.native_min_value or 0)
        high = float(description.native_max_value or 0)
        checked = checked_in_range(value, low, high, "invalid_parameter")
        field = description.field
        new = int(checked) if field.endswith("_a") else checked
        await self.control.async_update(**{field: new})
