"""Push coordinator for one Venus OS system."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .const import BATTERY_AUTO, CONF_BATTERY_INSTANCE, DOMAIN, LOGGER
from .logic.venus_state import BatteryView, Update, VenusState, select_battery_instance
from .transport.mqtt_session import MqttSession
from .transport.venus_link import VenusLink

if TYPE_CHECKING:
    from .balancer import BalancerManager
    from .charge_control import ChargeControl
    from .evse import EvseControl
    from .top_balance import TopBalanceRunner


@dataclass(kw_only=True)
class VictronBalanceRuntimeData:
    """What a loaded config entry owns."""

    session: MqttSession
    link: VenusLink
    venus: VenusCoordinator
    charge: ChargeControl
    top_balance: TopBalanceRunner
    balancer: BalancerManager
    evse: EvseControl | None = None

    async def close(self, reason: str = "unload") -> None:
        """Stop control (safe limits first), the link, then the broker session."""
        await self.top_balance.async_shutdown(reason)
        await self.balancer.async_shutdown()  # DC/DC off while the session is still up
        if self.evse is not None:
            await self.evse.async_shutdown()
        self.charge.async_shutdown()
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
        # Our own virtual BMS while it is in use: never follow it as "the battery".
        self.exclude_instances: frozenset[int] = frozenset()
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
    def battery_instance(self) -> int | None:
        """The battery followed: the one chosen in options, else the system's active one."""
        configured = self.config_entry.options.get(CONF_BATTERY_INSTANCE, BATTERY_AUTO)
        choice = None if configured == BATTERY_AUTO else int(configured)
        return select_battery_instance(self.link.state, choice, self.exclude_instances)

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
