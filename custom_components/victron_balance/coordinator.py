"""Push coordinator for one Venus OS system."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .const import (
    BATTERY_AUTO,
    CONF_BATTERY_INSTANCE,
    CONF_VIRTUAL_BMS_INSTANCE,
    DOMAIN,
    LOGGER,
)
from .logic.safety.pack import ConfirmedPack, PackShape, PackTracker
from .logic.venus_state import BatteryView, Update, VenusState, select_battery_instance
from .logic.venus_topics import ServiceKey
from .logic.virtual_bms import DEFAULT_INSTANCE, is_mqtt_battery
from .transport.mqtt_session import MqttSession
from .transport.venus_link import VenusLink

if TYPE_CHECKING:
    from .balancer import BalancerManager
    from .charge_runner import ChargeRunner
    from .evse import EvseControl


@dataclass(kw_only=True)
class VictronBalanceRuntimeData:
    """What a loaded config entry owns."""

    session: MqttSession
    link: VenusLink
    venus: VenusCoordinator
    charge: ChargeRunner
    balancer: BalancerManager
    evse: EvseControl | None = None
    _closing: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    async def close(self, reason: str = "unload") -> None:
        """Stop control (safe limits first), the link, then the broker session.

        Once: a second call (Home Assistant's stop event after its shutdown job, an
        unload after a failed setup) waits for the first.
        """
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close(reason))
        await asyncio.shield(self._closing)

    async def _close(self, reason: str) -> None:
        await self.charge.async_shutdown(reason)  # safe limits first, BMS given back
        await self.balancer.async_shutdown()  # DC/DC off while the session is still up
        if self.evse is not None:
            await self.evse.async_shutdown()
        await self.link.close()
        await self.session.close()


type VictronBalanceConfigEntry = ConfigEntry[VictronBalanceRuntimeData]


class VenusCoordinator(DataUpdateCoordinator[VenusState]):
    """Publishes the Venus state to entities as messages arrive (no polling)."""

    config_entry: VictronBalanceConfigEntry

    def __init__(
        self, hass: HomeAssistant, entry: VictronBalanceConfigEntry, link: VenusLink
    ) -> None:
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"Venus OS {link.portal_id}",
            update_interval=None,
        )
        self.link = link
        self.virtual_owned = False  # the charge control has fed the virtual BMS
        self.pack_tracker = PackTracker()
        if link.full_publishes_seen:
            # The link waited for a full publish before we existed: it is the baseline.
            now = hass.loop.time()
            self.pack_tracker.observe(now, self.pack_shape())
            self.pack_tracker.full_publish_completed(now)
        self._flush: asyncio.Handle | None = None
        # Every entity asks for the battery on every refresh: ask the state once per message.
        self._battery_seen: tuple[int, object, frozenset[int]] | None = None
        self._battery: BatteryView | None = None
        link.add_update_listener(self._on_update)
        link.add_liveness_listener(self._on_liveness)

    async def _async_update_data(self) -> VenusState:
        if not self.link.alive:
            raise UpdateFailed(translation_domain=DOMAIN, translation_key="venus_not_alive")
        return self.link.state

    @property
    def portal_id(self) -> str:
        """The GX's VRM portal id."""
        return self.link.portal_id

    @property
    def exclude_instances(self) -> frozenset[int]:
        """Our own virtual BMS: never follow it as "the battery" (it copies the real one).

        Only once we have fed it: a real pack may come through dbus-mqtt-battery too.
        """
        if not self.virtual_owned:
            return frozenset()
        instance = self.config_entry.options.get(CONF_VIRTUAL_BMS_INSTANCE, DEFAULT_INSTANCE)
        virtual = int(instance) if isinstance(instance, int | float) else DEFAULT_INSTANCE
        items = self.link.state.services.get(ServiceKey("battery", virtual))
        return frozenset({virtual}) if items and is_mqtt_battery(items) else frozenset()

    @property
    def battery_instance(self) -> int | None:
        """The battery followed: the one chosen in options, else the system's active one."""
        configured = self.config_entry.options.get(CONF_BATTERY_INSTANCE, BATTERY_AUTO)
        choice = None if configured == BATTERY_AUTO else int(configured)
        return select_battery_instance(self.link.state, choice, self.exclude_instances)

    def pack_shape(self) -> PackShape | None:
        """What the followed battery consists of right now."""
        instance = self.battery_instance
        if instance is None:
            return None
        items = self.link.state.services.get(ServiceKey("battery", instance))
        return None if not items else PackShape.of(instance, items)

    def pack(self) -> ConfirmedPack | None:
        """The followed battery's confirmed description (None while not sure, I4)."""
        now = self.hass.loop.time()
        tracker = self.pack_tracker
        tracker.observe(now, self.pack_shape())
        if tracker.wants_full_publish(now) and self.link.alive:
            # A battery changed shape (a driver restart): ask for everything once more.
            tracker.requested(now)
            self.link.request_full_publish()
        return tracker.confirmed(now)

    def battery(self) -> BatteryView | None:
        """A view of the followed battery, or None when there is none."""
        state = self.link.state
        # The state changes only by messages; the choice also by the options.
        seen = (
            state.messages,
            self.config_entry.options.get(CONF_BATTERY_INSTANCE),
            self.exclude_instances,
        )
        if seen != self._battery_seen:
            instance = self.battery_instance
            self._battery = None if instance is None else BatteryView(state, instance)
            self._battery_seen = seen
        return self._battery

    @callback
    def _on_update(self, update: Update) -> None:
        now = self.hass.loop.time()
        if update.full_publish_completed:
            self.pack_tracker.full_publish_completed(now)
        key = update.vanished or (update.changed if update.structure else None)
        if key is not None and key.service == "battery":
            self.pack_tracker.observe(now, self.pack_shape())
        # Coalesce a burst (a full publish is ~900 messages) into one entity refresh.
        if self._flush is None and self.link.alive:
            self._flush = self.hass.loop.call_soon(self._publish)

    @callback
    def _publish(self) -> None:
        self._flush = None
        if self.link.alive:
            self.async_set_updated_data(self.link.state)

    @callback
    def _on_liveness(self, alive: bool) -> None:
        if alive:
            LOGGER.info("Venus OS %s is publishing again", self.portal_id)
            self.async_set_updated_data(self.link.state)
            return
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        # Logged once by the coordinator ("Error requesting ... data"), entities unavailable.
        self.async_set_update_error(
            UpdateFailed(translation_domain=DOMAIN, translation_key="venus_not_alive")
        )
