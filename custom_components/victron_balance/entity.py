"""Base entities for victron_balance."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, cast

from homeassistant.core import callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN, MANUFACTURER
from .coordinator import VenusCoordinator, VictronBalanceConfigEntry
from .logic.venus_state import BatteryView
from .logic.venus_topics import ServiceKey

VRM_URL = "https://vrm.victronenergy.com/"
FIGURE_SPACE = "\u2007"  # as wide as a digit
PLATFORM = ServiceKey("platform", 0)


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
    """An entity fed by the Venus coordinator.

    State is written only when what the entity shows changed, because Venus sends
    hundreds of messages per full publish and a heartbeat every 3 s.
    """

    _attr_has_entity_name = True

    def __init__(
        self, coordinator: VenusCoordinator, description: EntityDescription, unique_suffix: str
    ) -> None:
        super().__init__(coordinator)
        self.entity_description = description
        self._attr_unique_id = f"{coordinator.portal_id}_{unique_suffix}"
        self._attr_device_info = gx_device_info(coordinator)
        self._last_shown: Any = object()

    def shown_state(self) -> Any:
        """What the entity currently shows; compared to skip identical writes.

        Subclasses return their value(s). This default is never equal to a previous
        one, so an entity that does not say what it shows is written on every refresh.
        """
        return object()

    @callback
    def _handle_coordinator_update(self) -> None:
        shown = (self.available, self.shown_state())
        if shown != self._last_shown:
            self._last_shown = shown
            self.async_write_ha_state()


class BatteryEntity(VenusEntity):
    """An entity of the followed battery; unavailable while the battery is absent."""

    def __init__(
        self, coordinator: VenusCoordinator, description: EntityDescription, unique_suffix: str
    ) -> None:
        super().__init__(coordinator, description, f"battery_{unique_suffix}")

    @property
    def device_info(self) -> DeviceInfo:
        """The battery device below the GX (read when the entity is added)."""
        return below_gx(self, self.coordinator, battery_device_info(self.coordinator))

    @property
    def battery(self) -> BatteryView | None:
        """The battery view right now."""
        return self.coordinator.battery()

    @property
    def available(self) -> bool:
        """Available while Venus is alive and the battery service exists."""
        battery = self.battery
        return super().available and battery is not None and battery.present


class CellEntity(BatteryEntity):
    """An entity of one cell; unavailable while the pack reports no such cell."""

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
