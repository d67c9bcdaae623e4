"""Energy-dashboard sensors: lifetime kWh of the battery, PV and grid.

Each sensor keeps an `EnergyTotal` (logic/energy.py) fed from Venus on every
coordinator update and on a short timer (the power integration needs samples while
values stand still, and Venus only publishes changes). Totals are restored across
restarts, so the Energy dashboard never sees a total fall back to zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntityDescription,
    SensorExtraStoredData,
    SensorStateClass,
)
from homeassistant.const import UnitOfEnergy
from homeassistant.core import callback
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.event import async_track_time_interval

from .coordinator import VenusCoordinator
from .entity import BatteryEntity, VenusEntity
from .logic.energy import (
    EnergyTotal,
    battery_counters,
    battery_power,
    grid_power,
    negated,
    pv_counters,
    pv_power,
    service_counters,
)
from .logic.venus_state import VenusState

SAMPLE_INTERVAL = timedelta(seconds=5)

type CountersFn = Callable[[VenusState, int | None], Mapping[str, float]]
type PowerFn = Callable[[VenusState, int | None], float | None]


@dataclass(frozen=True, kw_only=True)
class EnergySensorDescription(SensorEntityDescription):
    """A lifetime kWh total: device counters when present, else integrated power."""

    device_class: SensorDeviceClass | None = SensorDeviceClass.ENERGY
    state_class: SensorStateClass | str | None = SensorStateClass.TOTAL_INCREASING
    native_unit_of_measurement: str | None = UnitOfEnergy.KILO_WATT_HOUR
    suggested_display_precision: int | None = 2
    counters_fn: CountersFn
    power_fn: PowerFn  # W in the counted direction; negative values count nothing
    on_battery: bool = False


BATTERY_ENERGY_SENSORS: tuple[EnergySensorDescription, ...] = (
    EnergySensorDescription(
        key="energy_charged",
        translation_key="energy_charged",
        on_battery=True,
        counters_fn=lambda state, battery: battery_counters(
            state, battery, "/History/ChargedEnergy"
        ),
        power_fn=battery_power,
    ),
    EnergySensorDescription(
        key="energy_discharged",
        translation_key="energy_discharged",
        on_battery=True,
        counters_fn=lambda state, battery: battery_counters(
            state, battery, "/History/DischargedEnergy"
        ),
        power_fn=lambda state, battery: negated(battery_power(state, battery)),
    ),
)

GX_ENERGY_SENSORS: tuple[EnergySensorDescription, ...] = (
    EnergySensorDescription(
        key="pv_energy",
        translation_key="pv_energy",
        counters_fn=lambda state, _battery: pv_counters(state),
        power_fn=lambda state, _battery: pv_power(state),
    ),
    EnergySensorDescription(
        key="grid_energy_import",
        translation_key="grid_energy_import",
        counters_fn=lambda state, _battery: service_counters(state, "grid", "/Ac/Energy/Forward"),
        power_fn=lambda state, _battery: grid_power(state),
    ),
    EnergySensorDescription(
        key="grid_energy_export",
        translation_key="grid_energy_export",
        counters_fn=lambda state, _battery: service_counters(state, "grid", "/Ac/Energy/Reverse"),
        power_fn=lambda state, _battery: negated(grid_power(state)),
    ),
)


def energy_sensors(coordinator: VenusCoordinator) -> Iterable[Entity]:
    """Every energy sensor of one GX."""
    for description in BATTERY_ENERGY_SENSORS:
        yield BatteryEnergySensor(coordinator, description)
    for description in GX_ENERGY_SENSORS:
        yield GxEnergySensor(coordinator, description)


@dataclass
class StoredTotal(SensorExtraStoredData):
    """The sensor's value plus the total and the last counter readings behind it."""

    total: EnergyTotal

    def as_dict(self) -> dict[str, Any]:
        """JSON for HA's restore-state store."""
        return super().as_dict() | self.total.as_dict()


class _EnergyTotalMixin(VenusEntity, RestoreSensor):
    """Shared by the battery and GX energy sensors."""

    entity_description: EnergySensorDescription
    _total: EnergyTotal

    async def async_added_to_hass(self) -> None:
        """Restore the total, then sample on a timer besides the updates."""
        await super().async_added_to_hass()
        self._total = EnergyTotal()
        if (stored := await self.async_get_last_extra_data()) is not None:
            self._total = EnergyTotal.from_dict(stored.as_dict())
        self.async_on_remove(async_track_time_interval(self.hass, self._on_timer, SAMPLE_INTERVAL))
        self._sample()

    @property
    def extra_restore_state_data(self) -> StoredTotal:
        """What survives a restart."""
        return StoredTotal(self.native_value, UnitOfEnergy.KILO_WATT_HOUR, self._total)

    @property
    def native_value(self) -> float | None:
        """The total in kWh."""
        total = self._total.total_kwh
        return None if total is None else round(total, 3)

    def shown_state(self) -> Any:
        """Write when the total moved by 10 Wh (not on every sample)."""
        total = self._total.total_kwh
        return None if total is None else round(total, 2)

    @callback
    def _on_timer(self, _now: Any) -> None:
        # Sampled every 5 s, written at the pace of a slow reading (the Update interval).
        self._sample()
        self.coordinator.writer.mark(self)

    @callback
    def _handle_coordinator_update(self) -> None:
        self._sample()
        super()._handle_coordinator_update()

    def _sample(self) -> None:
        if not self.coordinator.last_update_success:
            self._total.interrupt()
            return
        description = self.entity_description
        state = self.coordinator.data
        battery = self.coordinator.battery_instance
        counters = description.counters_fn(state, battery)
        if counters:
            self._total.feed_counters(counters)
        else:
            self._total.feed_power(self.hass.loop.time(), description.power_fn(state, battery))


class BatteryEnergySensor(_EnergyTotalMixin, BatteryEntity):
    """kWh into or out of the followed battery (on the battery device)."""

    def __init__(self, coordinator: VenusCoordinator, description: EnergySensorDescription) -> None:
        BatteryEntity.__init__(self, coordinator, description, description.key)
        self._total = EnergyTotal()

    @property
    def available(self) -> bool:
        """Shown while Venus is reachable: a total stays valid while the BMS restarts."""
        return self.coordinator.last_update_success


class GxEnergySensor(_EnergyTotalMixin):
    """kWh of PV or of the grid (on the GX device)."""

    def __init__(self, coordinator: VenusCoordinator, description: EnergySensorDescription) -> None:
        VenusEntity.__init__(self, coordinator, description, description.key)
        self._total = EnergyTotal()
