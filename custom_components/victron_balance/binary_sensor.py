"""Binary sensors: DVCC, battery permissions and alarms, and per-cell balancing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .balancer_entities import async_setup_balancer_binary_sensors
from .coordinator import VenusCoordinator, VictronBalanceConfigEntry
from .entity import (
    BatteryEntity,
    CellEntity,
    VenusEntity,
    add_cells_as_they_appear,
    watch_paths,
)
from .evse_entity import EvseEntity
from .logic.venus_state import BatteryView, VenusState, dvcc_enabled
from .logic.venus_values import BATTERY_ALARMS, MONITOR_ONLY_ALARMS
from .state_writer import Watch

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class GxBinarySensorDescription(BinarySensorEntityDescription):
    """A flag of the GX system; `watches`: the paths value_fn reads."""

    value_fn: Callable[[VenusState], bool | None]
    watches: tuple[Watch, ...] = ()


@dataclass(frozen=True, kw_only=True)
class BatteryBinarySensorDescription(BinarySensorEntityDescription):
    """A flag of the followed battery; `watches`: the battery paths value_fn reads."""

    value_fn: Callable[[BatteryView], bool | None]
    watches: tuple[Watch, ...] = ()


def _flag(path: str) -> Callable[[BatteryView], bool | None]:
    def value(battery: BatteryView) -> bool | None:
        raw = battery.value(path)
        return raw if isinstance(raw, bool) else None

    return value


def _alarm(name: str) -> Callable[[BatteryView], bool | None]:
    # 0 = ok, 1 = warning, 2 = alarm: either of the last two is a problem.
    def value(battery: BatteryView) -> bool | None:
        raw = battery.value(f"/Alarms/{name}")
        return raw >= 1 if isinstance(raw, int) else None

    return value


def _snake(name: str) -> str:
    return "".join(f"_{char.lower()}" if char.isupper() else char for char in name).lstrip("_")


GX_BINARY_SENSORS: tuple[GxBinarySensorDescription, ...] = (
    GxBinarySensorDescription(
        key="dvcc",
        translation_key="dvcc",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=dvcc_enabled,
        watches=(("settings", "/Settings/Services/Bol"), ("system", "/Control/Dvcc")),
    ),
)

BATTERY_BINARY_SENSORS: tuple[BatteryBinarySensorDescription, ...] = (
    BatteryBinarySensorDescription(
        key="allow_to_charge",
        translation_key="allow_to_charge",
        value_fn=_flag("/Io/AllowToCharge"),
        watches=watch_paths("battery", "/Io/AllowToCharge"),
    ),
    BatteryBinarySensorDescription(
        key="allow_to_discharge",
        translation_key="allow_to_discharge",
        value_fn=_flag("/Io/AllowToDischarge"),
        watches=watch_paths("battery", "/Io/AllowToDischarge"),
    ),
    BatteryBinarySensorDescription(
        key="balancing",
        translation_key="balancing",
        value_fn=_flag("/Balancing"),
        watches=watch_paths("battery", "/Balancing"),
    ),
    *(
        BatteryBinarySensorDescription(
            key=f"alarm_{_snake(name)}",
            translation_key=f"alarm_{_snake(name)}",
            device_class=BinarySensorDeviceClass.PROBLEM,
            entity_category=EntityCategory.DIAGNOSTIC,
            value_fn=_alarm(name),
            watches=watch_paths("battery", f"/Alarms/{name}"),
            # Battery monitors (BMV/SmartShunt) only: hidden until the user wants them.
            entity_registry_enabled_default=name not in MONITOR_ONLY_ALARMS,
        )
        for name in BATTERY_ALARMS
    ),
)

CELL_BALANCING = BinarySensorEntityDescription(
    key="cell_balancing",
    translation_key="cell_balancing",
    entity_category=EntityCategory.DIAGNOSTIC,
    entity_registry_enabled_default=False,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: VictronBalanceConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the flags; cells that appear later get their balancing flag then."""
    coordinator = entry.runtime_data.venus
    async_add_entities(
        [GxBinarySensor(coordinator, description) for description in GX_BINARY_SENSORS]
        + [BatteryBinarySensor(coordinator, description) for description in BATTERY_BINARY_SENSORS]
    )
    add_cells_as_they_appear(entry, async_add_entities, CellBalancingSensor)
    async_setup_balancer_binary_sensors(entry, async_add_entities)
    if (evse := entry.runtime_data.evse) is not None:
        async_add_entities([EvseVehicleSensor(evse, EVSE_VEHICLE)])


class GxBinarySensor(VenusEntity, BinarySensorEntity):
    """A flag of the GX system."""

    entity_description: GxBinarySensorDescription

    def __init__(
        self, coordinator: VenusCoordinator, description: GxBinarySensorDescription
    ) -> None:
        super().__init__(coordinator, description, description.key)

    @property
    def is_on(self) -> bool | None:
        """The flag."""
        return self.entity_description.value_fn(self.coordinator.data)

    def shown_state(self) -> Any:
        """Compare on the flag."""
        return self.is_on


class BatteryBinarySensor(BatteryEntity, BinarySensorEntity):
    """A flag of the battery."""

    entity_description: BatteryBinarySensorDescription

    def __init__(
        self, coordinator: VenusCoordinator, description: BatteryBinarySensorDescription
    ) -> None:
        super().__init__(coordinator, description, description.key)

    @property
    def is_on(self) -> bool | None:
        """The flag."""
        battery = self.battery
        return None if battery is None else self.entity_description.value_fn(battery)

    def shown_state(self) -> Any:
        """Compare on the flag."""
        return self.is_on


class CellBalancingSensor(CellEntity, BinarySensorEntity):
    """Whether the BMS is bleeding one cell."""

    cell_path = "/Balances/Cell{}"

    def __init__(self, coordinator: VenusCoordinator, number: int) -> None:
        super().__init__(coordinator, CELL_BALANCING, number)

    @property
    def is_on(self) -> bool | None:
        """Whether the cell is being balanced."""
        battery = self.battery
        return None if battery is None else battery.cell_balancing(self.cell)

    def shown_state(self) -> Any:
        """Compare on the flag."""
        return self.is_on


EVSE_VEHICLE = BinarySensorEntityDescription(
    key="evse_vehicle_connected",
    translation_key="evse_vehicle_connected",
    device_class=BinarySensorDeviceClass.PLUG,
)


class EvseVehicleSensor(EvseEntity, BinarySensorEntity):
    """A car is plugged into the station."""

    @property
    def is_on(self) -> bool | None:
        """From the station's `vehicle` topic (else its state code)."""
        readings = self.control.link.readings
        if readings.vehicle_connected is None and readings.state_code not in (1, 2, 3):
            return None  # sleeping/disabled/fault say nothing about the car
        return readings.plugged_in
