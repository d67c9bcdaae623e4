"""Base entities for victron_balance.

Every Venus entity is written by the coordinator's `StateWriter`: it says which paths
it shows (`watches`, from its description), how fast they move (`pace`, from its
description's device class unless the description sets one) and what it shows
(`shown_state`); the writer marks it when a watched path changes and writes it at
most once per interval of its pace, when what it shows changed at its display
precision. A description with `derived=True` shows a value computed from the whole
battery: it is computed from `complete_battery()` only, and holds its last state while
the battery is incomplete (a driver restart), so no partial value reaches the history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, cast

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.core import callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN, MANUFACTURER
from .coordinator import VenusCoordinator, VictronBalanceConfigEntry
from .logic.update_interval import Pace
from .logic.venus_state import BatteryView
from .logic.venus_topics import SYSTEM, ServiceKey
from .state_writer import Watch

VRM_URL = "https://vrm.victronenergy.com/"
FIGURE_SPACE = "\u2007"  # as wide as a digit
PLATFORM = ServiceKey("platform", 0)

# Readings that move with the load: written at the fast interval.
_FAST_DEVICE_CLASSES = frozenset(
    {
        SensorDeviceClass.POWER,
        SensorDeviceClass.CURRENT,
        SensorDeviceClass.VOLTAGE,
        SensorDeviceClass.APPARENT_POWER,
        SensorDeviceClass.REACTIVE_POWER,
    }
)
ACTIVE_BATTERY_WATCH: Watch = (SYSTEM.service, "/ActiveBatteryService")


def watch_paths(service: str, *paths: str) -> tuple[Watch, ...]:
    """What a description's `watches` holds: these paths of a service type."""
    return tuple((service, path) for path in paths)


def _declared(description: EntityDescription) -> tuple[Watch, ...] | None:
    """The description's `watches`; None when it has the field but left it empty."""
    if not hasattr(description, "watches"):
        return ()
    declared: tuple[Watch, ...] = tuple(description.watches)
    return declared or None


def description_pace(description: EntityDescription) -> Pace:
    """The description's own `pace`, else one from what it measures."""
    explicit = getattr(description, "pace", None)
    if isinstance(explicit, Pace):
        return explicit
    # Home Assistant hands out "thawed" copies of descriptions, so isinstance() fails:
    # a sensor's description is the one with a state class field.
    if hasattr(description, "state_class"):
        if getattr(description, "device_class", None) in _FAST_DEVICE_CLASSES:
            return Pace.FAST
        if getattr(description, "state_class", None) is not None or getattr(
            description, "native_unit_of_measurement", None
        ):
            return Pace.SLOW
    return Pace.EVENT


def gx_device_info(coordinator: VenusCoordinator) -> DeviceInfo:
    """The GX device (Cerbo GX, MultiPlus-II GX, Raspberry Pi with Venus OS)."""
    firmware = coordinator.link.state.value(PLATFORM, "/Firmware/Installed/Version")
    return DeviceInfo(
        identifiers={(DOMAIN, coordinator.portal_id)},
        manufacturer=MANUFACTURER,
        model="Venus OS GX",
        name="Victron GX",
        serial_number=coordinator.portal_id,
        sw_version=firmware if isinstance(firmware, str) else None,
        configuration_url=VRM_URL,
    )


def battery_maker(product_name: str | None) -> str | None:
    """Venus names no maker; drivers put the BMS in brackets: "SerialBattery(JKBMS)"."""
    if product_name is None:
        return None
    inside = product_name.partition("(")[2].partition(")")[0].strip()
    return inside or product_name


# Home Assistant 2026.8 links a device to its parent by registry id (`via_device_id`)
# and deprecates the parent's identifier (`via_device`), the only form 2025.4 knows.
LINK_BY_DEVICE_ID = "via_device_id" in DeviceInfo.__annotations__


def below_gx(entity: Entity, coordinator: VenusCoordinator, info: DeviceInfo) -> DeviceInfo:
    """`info` shown below the GX device, linked the way this Home Assistant wants."""
    linked: dict[str, Any] = dict(info)
    if LINK_BY_DEVICE_ID:  # pragma: no cover - HA 2026.8+, run by the newest-HA pass
        # The link names a registry id, so the GX must be registered first.
        gx = dr.async_get(entity.hass).async_get_or_create(
            config_entry_id=coordinator.config_entry.entry_id, **gx_device_info(coordinator)
        )
        linked["via_device_id"] = gx.id
    else:
        linked["via_device"] = (DOMAIN, coordinator.portal_id)
    return cast(DeviceInfo, linked)


def battery_device_info(coordinator: VenusCoordinator) -> DeviceInfo:
    """The battery the integration follows (shown below the GX device, `below_gx`)."""
    battery = coordinator.battery()
    model = None
    if battery is not None:
        name = battery.value("/ProductName")
        model = name if isinstance(name, str) else None
    return DeviceInfo(
        identifiers={(DOMAIN, f"{coordinator.portal_id}_battery")},
        manufacturer=battery_maker(model),
        model=model,
        name="Battery",
    )


class VenusEntity(CoordinatorEntity[VenusCoordinator]):
    """An entity fed by the Venus coordinator, written by its `StateWriter`."""

    _attr_has_entity_name = True

    def __init__(
        self, coordinator: VenusCoordinator, description: EntityDescription, unique_suffix: str
    ) -> None:
        super().__init__(coordinator)
        self.entity_description = description
        self._attr_unique_id = f"{coordinator.portal_id}_{unique_suffix}"
        self._attr_device_info = gx_device_info(coordinator)
        self._last_shown: Any = object()
        self.written_at: float | None = None
        self.pace = self.entity_pace()
        precision = getattr(description, "suggested_display_precision", None)
        self._precision: int | None = precision if isinstance(precision, int) else None

    # ------------------------------------------------------------ what it shows
    def shown_state(self) -> Any:
        """What the entity currently shows; compared to skip identical writes.

        Subclasses return their value(s). This default is never equal to a previous
        one, so an entity that does not say what it shows is written on every refresh.
        """
        return object()

    def watches(self) -> tuple[Watch, ...]:
        """The Venus paths it shows: its description's `watches`.

        A description with a `watches` field left empty follows every path of the
        system and settings services (correct, only less frugal); one without the
        field shows no Venus path (it follows a runner, see `follow`).
        """
        declared = _declared(self.entity_description)
        return ((SYSTEM.service, None), ("settings", None)) if declared is None else declared

    def entity_pace(self) -> Pace:
        """How fast what it shows moves (the write interval follows from it)."""
        return description_pace(self.entity_description)

    def holds(self) -> bool:
        """True while what it would show is not known to be true (keep the last state)."""
        return False

    def _shown(self) -> tuple[bool, Any]:
        if not self.available:
            return (False, None)
        value = self.shown_state()
        if self._precision is not None and isinstance(value, float):
            value = round(value, self._precision)  # a change below the display is no change
        return (True, value)

    def write_if_changed(self) -> bool:
        """Write the state if what it shows changed (the writer calls this)."""
        shown = self._shown()
        if shown == self._last_shown:
            return False
        self._last_shown = shown
        self.async_write_ha_state()
        return True

    # ------------------------------------------------------------ marks
    async def async_added_to_hass(self) -> None:
        """Watch its paths; Home Assistant writes the first state right after this."""
        await super().async_added_to_hass()
        self._last_shown = self._shown()
        self.written_at = self.hass.loop.time()
        self.async_on_remove(self.coordinator.writer.watch(self, self.watches()))

    def follow(self, add_listener: Callable[[Callable[[], None]], Callable[[], None]]) -> None:
        """Also be marked when another source changes (a runner's step)."""
        self.async_on_remove(add_listener(self._handle_source_update))

    @callback
    def _handle_source_update(self) -> None:
        if self.pace is Pace.EVENT:
            # A mode, a setting, a run's state: shown before the service call returns.
            self.coordinator.writer.write_now(self)
        else:
            self.coordinator.writer.mark(self)

    @callback
    def _handle_coordinator_update(self) -> None:
        # Liveness, a path or device that appeared or vanished: written at the next flush.
        self.coordinator.writer.mark(self, urgent=True)


class BatteryEntity(VenusEntity):
    """An entity of the followed battery; unavailable while the battery is absent.

    With a `derived` description it shows a value computed from the whole battery,
    from `complete_battery()` only (see the module docstring).
    """

    def __init__(
        self, coordinator: VenusCoordinator, description: EntityDescription, unique_suffix: str
    ) -> None:
        super().__init__(coordinator, description, f"battery_{unique_suffix}")

    @property
    def device_info(self) -> DeviceInfo:
        """The battery device below the GX (read when the entity is added)."""
        return below_gx(self, self.coordinator, battery_device_info(self.coordinator))

    @property
    def derived(self) -> bool:
        """Computed from the whole battery (spread, lowest cell, advice...)."""
        return bool(getattr(self.entity_description, "derived", False))

    @property
    def battery(self) -> BatteryView | None:
        """The battery view right now; for a derived value, the complete battery only."""
        if self.derived:
            return self.coordinator.complete_battery()
        return self.coordinator.battery()

    @property
    def available(self) -> bool:
        """Available while Venus is alive and the battery service exists."""
        battery = self.battery
        return super().available and battery is not None and battery.present

    def watches(self) -> tuple[Watch, ...]:
        """Its battery paths (any battery path if left empty), and which battery is followed."""
        declared = _declared(self.entity_description)
        if declared is None or self.derived:
            declared = (("battery", None),)
        return (*declared, ACTIVE_BATTERY_WATCH)

    def entity_pace(self) -> Pace:
        """Derived values move with the cells."""
        return Pace.CELL if self.derived else super().entity_pace()

    def holds(self) -> bool:
        """A derived value keeps its last state while the battery is incomplete."""
        if not self.derived or not self.coordinator.last_update_success:
            return False
        raw = self.coordinator.battery()
        return raw is not None and raw.present and self.coordinator.complete_battery() is None


class CellEntity(BatteryEntity):
    """An entity of one cell; unavailable while the pack reports no such cell."""

    cell_path = "/Voltages/Cell{}"  # the path it shows, for cell number N

    def __init__(
        self, coordinator: VenusCoordinator, description: EntityDescription, number: int
    ) -> None:
        super().__init__(
            coordinator, description, f"cell_{number}_{description.key.removeprefix('cell_')}"
        )
        self.cell = number
        # A figure space pads 1-9 so device pages list cells 1, 2 ... 10 in order (names
        # sort as text); it slugifies away, so entity ids stay `..._cell_1_...`.
        self._attr_translation_placeholders = {"cell": str(number).rjust(2, FIGURE_SPACE)}

    @property
    def available(self) -> bool:
        """Available while the battery is and the cell exists."""
        battery = self.battery
        return super().available and battery is not None and battery.cell_present(self.cell)

    def watches(self) -> tuple[Watch, ...]:
        """Its own cell's path."""
        return (("battery", self.cell_path.format(self.cell)), ACTIVE_BATTERY_WATCH)

    def entity_pace(self) -> Pace:
        """Cell readings go at the cell pace (every second while balancing)."""
        pace = super().entity_pace()
        return Pace.CELL if pace is Pace.FAST else pace


def add_cells_as_they_appear(
    entry: VictronBalanceConfigEntry,
    add_entities: Callable[[Iterable[Entity]], None],
    make_entity: Callable[[VenusCoordinator, int], Entity],
) -> None:
    """Add an entity per cell now, and for every cell that shows up later."""
    coordinator = entry.runtime_data.venus
    known: set[int] = set()

    @callback
    def add_new_cells() -> None:
        battery = coordinator.battery()
        if battery is None:
            return
        new = [number for number in battery.cell_voltages() if number not in known]
        if new:
            known.update(new)
            add_entities(make_entity(coordinator, number) for number in new)

    add_new_cells()
    entry.async_on_unload(coordinator.async_add_listener(add_new_cells))
