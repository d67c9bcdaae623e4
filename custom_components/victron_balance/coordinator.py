"""Push coordinator for one Venus OS system.

Messages update the link's parsed state; the coordinator marks the entities that
watch the changed path and its `StateWriter` writes them on a flush tick, rate-limited
by the *Update interval* option. Derived battery values (spread, lowest/highest cell,
cell count, the balancing advice) come from `complete_battery()` only: the followed
battery when its shape is the confirmed pack, computed once per flush. Control loops
read `link.state` directly and are not slowed by any of this.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .const import (
    BATTERY_AUTO,
    CONF_BATTERY_INSTANCE,
    CONF_UPDATE_INTERVAL,
    CONF_VIRTUAL_BMS_INSTANCE,
    DOMAIN,
    LOGGER,
)
from .logic import update_interval
from .logic.safety.pack import (
    RESYNC_AFTER_S,
    RESYNC_MIN_SPACING_S,
    ConfirmedPack,
    PackShape,
    PackTracker,
)
from .logic.update_interval import UpdateInterval, parse_update_interval
from .logic.venus_state import BatteryView, Update, VenusState, select_battery_instance
from .logic.venus_topics import ServiceKey
from .logic.virtual_bms import DEFAULT_INSTANCE, is_mqtt_battery
from .state_writer import StateWriter
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
        self.venus.writer.close()


type VictronBalanceConfigEntry = ConfigEntry[VictronBalanceRuntimeData]


class VenusCoordinator(DataUpdateCoordinator[VenusState]):
    """Hands the Venus state to entities as messages arrive (no polling)."""

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
        # Every entity asks for the battery on every refresh: ask the state once per message.
        self._battery_seen: tuple[int, object, frozenset[int]] | None = None
        self._battery: BatteryView | None = None
        self._memo: dict[str, Any] = {}
        self._structure_changed = False
        # Loop time a path of the followed battery last came or went (None: none since
        # the last full publish), and when we asked for a full publish because of it.
        self._battery_paths_changed: float | None = None
        self._full_publish_asked: float | None = None
        self.writer = StateWriter(
            hass.loop, self._write_settings, activity=lambda: link.state.messages
        )
        self.writer.before_flush(self._before_flush)
        link.add_update_listener(self._on_update)
        link.add_liveness_listener(self._on_liveness)
        entry.async_on_unload(entry.add_update_listener(self._options_updated))

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

    @property
    def update_interval_option(self) -> UpdateInterval:
        """The *Update interval* option (how often entity states are written)."""
        return parse_update_interval(
            self.config_entry.options.get(CONF_UPDATE_INTERVAL),
            update_interval.DEFAULT_UPDATE_INTERVAL,
        )

    def balancing(self) -> bool:
        """A top balance or a balancer moves charge now: cells are shown every second."""
        runtime: VictronBalanceRuntimeData | None = getattr(self.config_entry, "runtime_data", None)
        if runtime is None:
            return False
        if runtime.charge.supervisor.running:
            return True
        return any(runner.balancing for runner in runtime.balancer.runners.values())

    def _write_settings(self) -> tuple[UpdateInterval, bool]:
        return self.update_interval_option, self.balancing()

    def once_per_flush[T](self, key: str, compute: Callable[[], T]) -> T:
        """`compute()` once per flush (and again after any new message)."""
        memo = self._memo
        if key not in memo:
            memo[key] = compute()
        value: T = memo[key]
        return value

    def complete_battery(self) -> BatteryView | None:
        """The followed battery if it is all there; None while it is not.

        Complete: its shape is the confirmed pack (a full publish after its last change,
        stable since, cells 1..N as reported), no path of it appeared or vanished since
        the last full publish (a driver restart: its topics come and go one by one), and
        no full publish we asked for is still arriving. A battery without cell voltages
        is complete once its shape settled (its BMS's own lowest/highest cell are shown
        then). Derived values come from this view.
        """
        return self.once_per_flush("complete_battery", self._complete_battery)

    def _complete_battery(self) -> BatteryView | None:
        battery = self.battery()
        if battery is None or not battery.present or self.link.full_publish_in_flight:
            return None
        now = self.hass.loop.time()
        if self._battery_paths_changed is not None:
            self._ask_full_publish(now, self._battery_paths_changed)
            return None
        shape = PackShape.of(battery.key.instance, battery.items)
        pack = self.pack()
        if not shape.cells:
            # No cells yet, or none at all: only a shape that settled is one without cells.
            return battery if self.pack_tracker.stable(now) else None
        if pack is None or pack.instance != shape.instance or pack.cells != len(shape.cells):
            return None
        return battery

    def _ask_full_publish(self, now: float, changed: float) -> None:
        """Paths came or went: a full publish tells when the set is whole again."""
        asked = self._full_publish_asked
        if now - changed >= RESYNC_AFTER_S and (
            asked is None or now - asked >= RESYNC_MIN_SPACING_S
        ):
            self._full_publish_asked = now
            if self.link.alive:
                self.link.request_full_publish()

    @callback
    def _on_update(self, update: Update) -> None:
        if self._memo:
            self._memo.clear()
        changed = update.changed
        if update.full_publish_completed:
            self.pack_tracker.full_publish_completed(self.hass.loop.time())
            self._battery_paths_changed = self._full_publish_asked = None
            # The pack may be confirmed now: derived values look again.
            self.writer.changed("battery", None)
        elif update.vanished is not None or (changed is not None and update.structure):
            key = update.vanished or changed
            if key is not None and key.service == "battery":
                now = self.hass.loop.time()
                self.pack_tracker.observe(now, self.pack_shape())
                if key.instance == self.battery_instance:
                    self._battery_paths_changed = now
            # A path or a device appeared or vanished: every entity looks (once per flush).
            self._structure_changed = True
            self.writer.request_flush()
        elif changed is not None and self.link.alive:
            self.writer.changed(changed.service, update.path, update.group)

    @callback
    def _before_flush(self) -> None:
        self._memo.clear()  # the pack's confirmation also depends on time
        if self._structure_changed and self.link.alive:
            self._structure_changed = False
            # Entities mark themselves urgently; new cells get their entities.
            self.async_update_listeners()

    async def _options_updated(self, _hass: HomeAssistant, _entry: ConfigEntry) -> None:
        """A new update interval or battery choice applies at once."""
        self.writer.refresh_settings()
        self.writer.mark_all()

    @callback
    def _on_liveness(self, alive: bool) -> None:
        if alive:
            LOGGER.info("Venus OS %s is publishing again", self.portal_id)
            self.async_set_updated_data(self.link.state)
            return
        # Logged once by the coordinator ("Error requesting ... data"), entities unavailable.
        self.async_set_update_error(
            UpdateFailed(translation_domain=DOMAIN, translation_key="venus_not_alive")
        )
