"""Number entities: the DVCC charge current and charge voltage limits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from homeassistant.components.number import (
    NumberDeviceClass,
    NumberEntity,
    NumberEntityDescription,
    NumberMode,
)
from homeassistant.const import EntityCategory, UnitOfElectricCurrent, UnitOfElectricPotential
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .charge_control import ChargeControl
from .const import DOMAIN
from .coordinator import VenusCoordinator, VictronBalanceConfigEntry
from .entity import VenusEntity
from .logic.dvcc_limits import LimitBounds, checked_current, checked_voltage

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class ChargeNumberDescription(NumberEntityDescription):
    """A charge limit: how to read, bound, check and set it."""

    value_fn: Callable[[ChargeControl, LimitBounds], float]
    range_fn: Callable[[LimitBounds], tuple[float, float]]
    check_fn: Callable[[float, LimitBounds], float]
    set_value_fn: Callable[[ChargeControl, float], Awaitable[None]]
    invalid_key: str


NUMBERS: tuple[ChargeNumberDescription, ...] = (
    ChargeNumberDescription(
        key="charge_current_limit",
        translation_key="charge_current_limit",
        device_class=NumberDeviceClass.CURRENT,
        entity_category=EntityCategory.CONFIG,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        native_step=1,  # Venus keeps whole amps
        mode=NumberMode.BOX,
        value_fn=lambda control, _bounds: control.settings.current_a,
        range_fn=lambda bounds: (0, bounds.current_max_a),
        check_fn=checked_current,
        set_value_fn=lambda control, value: control.async_update(current_a=value),
        invalid_key="invalid_charge_current",
    ),
    ChargeNumberDescription(
        key="charge_voltage_limit",
        translation_key="charge_voltage_limit",
        device_class=NumberDeviceClass.VOLTAGE,
        entity_category=EntityCategory.CONFIG,
        native_unit_of_measurement=UnitOfElectricPotential.VOLT,
        native_step=0.01,
        mode=NumberMode.BOX,
        value_fn=lambda control, bounds: control.voltage_or_default(bounds),
        range_fn=lambda bounds: (bounds.voltage_min_v, bounds.voltage_max_v),
        check_fn=checked_voltage,
        set_value_fn=lambda control, value: control.async_update(voltage_v=value),
        invalid_key="invalid_charge_voltage",
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: VictronBalanceConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the charge limit numbers."""
    runtime = entry.runtime_data
    async_add_entities(
        ChargeLimitNumber(runtime.venus, runtime.charge, description) for description in NUMBERS
    )


class ChargeLimitNumber(VenusEntity, NumberEntity):
    """A DVCC user limit, applied while the charge mode is "limited"."""

    entity_description: ChargeNumberDescription

    def __init__(
        self,
        coordinator: VenusCoordinator,
        control: ChargeControl,
        description: ChargeNumberDescription,
    ) -> None:
        super().__init__(coordinator, description, description.key)
        self.control = control

    @property
    def available(self) -> bool:
        """Unavailable while the pack (and so the bounds) is unknown."""
        return super().available and self.control.bounds() is not None

    @property
    def native_min_value(self) -> float:
        """Lowest accepted value for this pack."""
        bounds = self.control.bounds()
        return 0.0 if bounds is None else self.entity_description.range_fn(bounds)[0]

    @property
    def native_max_value(self) -> float:
        """Highest accepted value for this pack."""
        bounds = self.control.bounds()
        return 0.0 if bounds is None else self.entity_description.range_fn(bounds)[1]

    @property
    def native_value(self) -> float | None:
        """The configured limit."""
        bounds = self.control.bounds()
        return None if bounds is None else self.entity_description.value_fn(self.control, bounds)

    def shown_state(self) -> object:
        """Compare on value and range."""
        return (self.native_value, self.native_min_value, self.native_max_value)

    async def async_set_native_value(self, value: float) -> None:
        """Check the value against the pack's bounds, store it and apply it."""
        bounds = self.control.bounds()
        if bounds is None:
            raise ServiceValidationError(translation_domain=DOMAIN, translation_key="pack_unknown")
        try:
            checked = self.entity_description.check_fn(value, bounds)
        except ValueError as err:
            low, high = self.entity_description.range_fn(bounds)
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key=self.entity_description.invalid_key,
                translation_placeholders={"value": str(value), "min": str(low), "max": str(high)},
            ) from err
        await self.entity_description.set_value_fn(self.control, checked)
        self.async_write_ha_state()
