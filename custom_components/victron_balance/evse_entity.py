"""Base entity of the EV charger (openEVSE) device."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .evse import EvseControl, EvseCoordinator


def evse_device_info(control: EvseControl) -> DeviceInfo:
    """The station, identified by its MQTT base topic (unique on its broker)."""
    portal_id = control.venus.portal_id
    announcement = control.link.announcement
    return DeviceInfo(
        identifiers={(DOMAIN, f"{portal_id}_evse_{control.link.base_topic}")},
        manufacturer="OpenEVSE",
        model="openEVSE WiFi",
        name="EV charger",
        serial_number=announcement.device_id if announcement else None,
        configuration_url=announcement.http_url if announcement else None,
    )


class EvseEntity(CoordinatorEntity[EvseCoordinator]):
    """An entity of the EV charger device.

    Readings are unavailable while the station is offline (Last Will or silence);
    controls (`always_available`) stay usable: they are the user's settings.
    """

    _attr_has_entity_name = True
    always_available = False

    def __init__(self, control: EvseControl, description: EntityDescription) -> None:
        super().__init__(control.coordinator)
        self.control = control
        self.entity_description = description
        self._attr_unique_id = (
            f"{control.venus.portal_id}_evse_{control.link.base_topic}_{description.key}"
        )
        self._attr_device_info = evse_device_info(control)

    @property
    def available(self) -> bool:
        """Readings only while the station is online."""
        if self.always_available:
            return True
        return self.control.link.online and super().available
