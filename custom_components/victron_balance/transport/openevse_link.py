"""One openEVSE station on an MQTT session: its readings, its liveness, our claim.

The station is "online" while its retained announce says `connected` (the
firmware's Last Will flips it to `disconnected` when the station drops off the
network) and its status topics keep arriving: the firmware republishes every
value at least every 30 s, so silence for `stale_after` seconds also counts as
offline, for brokers that lose the Will or stations configured without one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..logic.log_limiter import RateLimitedLogger
from ..logic.openevse import (
    ANNOUNCE_FILTER,
    RELEASE_PAYLOAD,
    Announcement,
    EvseProblem,
    EvseReadings,
    parse_announcement,
)
from ..logic.safety.evse import ClaimPermit
from .mqtt_session import MqttSession

_LOGGER = logging.getLogger(__name__)

STALE_AFTER_S = 95.0  # three missed 30 s status rounds


class OpenEvseLink:
    """Mirrors one openEVSE station and sends it claims."""

    def __init__(
        self,
        session: MqttSession,
        base_topic: str,
        *,
        stale_after: float = STALE_AFTER_S,
    ) -> None:
        self.session = session
        self.base_topic = base_topic.strip("/")
        self.readings = EvseReadings()
        self.announcement: Announcement | None = None
        self.online = False
        self.messages = 0
        self.rejected = 0
        self._stale_after = stale_after
        self._watchdog: asyncio.TimerHandle | None = None
        self._bad_input = RateLimitedLogger(_LOGGER)
        self._listeners: list[Callable[[], None]] = []
        self._unsubscribers: list[Callable[[], None]] = []

    def add_listener(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Be told about every reading and every online/offline change."""
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback)

    async def start(self) -> None:
        """Subscribe to the station's status and to the announcements."""
        self._unsubscribers = [
            await self.session.subscribe(f"{self.base_topic}/#", self._on_status),
            await self.session.subscribe(ANNOUNCE_FILTER, self._on_announce),
            self.session.add_connection_listener(self._on_connection),
        ]

    async def close(self) -> None:
        """Stop listening (the session is closed by its owner)."""
        for unsubscribe in self._unsubscribers:
            unsubscribe()
        self._unsubscribers = []
        self._cancel_watchdog()

    async def claim(self, permit: ClaimPermit) -> None:
        """Publish a claim the EVSE gate let through; raises PublishFailed when the
        broker is unreachable."""
        await self.session.publish(f"{self.base_topic}/claim/set", permit.payload())

    async def release(self) -> None:
        """Hand the station back to its own schedule and settings."""
        await self.session.publish(f"{self.base_topic}/claim/set", RELEASE_PAYLOAD)

    # --- incoming -----------------------------------------------------------------

    def _on_connection(self, connected: bool) -> None:
        if not connected:
            self._set_online(False)

    def _on_announce(self, topic: str, payload: bytes) -> None:
        if not payload:
            return  # a cleared retained announce says nothing about the station
        try:
            announcement = parse_announcement(topic, payload)
        except EvseProblem as err:
            self.rejected += 1
            self._bad_input.warning("announce", f"openEVSE announce on {topic}: {err}")
            return
        if not self._is_ours(announcement):
            return
        self.announcement = announcement
        if announcement.connected:
            self._touch()
        else:
            _LOGGER.info("openEVSE %s went offline (Last Will)", self.base_topic)
            self._set_online(False)
        self._notify()

    def _is_ours(self, announcement: Announcement) -> bool:
        if announcement.base_topic is not None:
            return announcement.base_topic == self.base_topic
        # The Last Will carries no base topic: match the station we saw announce.
        known = self.announcement
        return known is not None and known.short_id == announcement.short_id

    def _on_status(self, topic: str, payload: bytes) -> None:
        key = topic[len(self.base_topic) + 1 :]
        if "/" in key:
            return  # command topics (claim/set...) and our own echoes
        self.messages += 1
        try:
            used = self.readings.apply(key, payload)
        except EvseProblem as err:
            self.rejected += 1
            self._bad_input.warning(key, f"openEVSE {topic}: {err}; value ignored")
            return
        if not used:
            return
        if self.announcement is None or self.announcement.connected:
            self._touch()
        self._notify()

    # --- liveness -----------------------------------------------------------------

    def _touch(self) -> None:
        self._cancel_watchdog()
        loop = asyncio.get_running_loop()
        self._watchdog = loop.call_later(self._stale_after, self._on_silence)
        self._set_online(True)

    def _on_silence(self) -> None:
        self._watchdog = None
        _LOGGER.info(
            "openEVSE %s sent nothing for %.0f s; treating it as offline",
            self.base_topic,
            self._stale_after,
        )
        self._set_online(False)
        self._notify()

    def _cancel_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _set_online(self, online: bool) -> None:
        if online == self.online:
            return
        self.online = online
        if online:
            _LOGGER.info("openEVSE %s is online", self.base_topic)
        else:
            self._cancel_watchdog()
        self._notify()

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()


async def discover_openevse(session: MqttSession, wait_s: float = 2.0) -> dict[str, Announcement]:
    """Connected stations announced on the broker, by base topic.

    The announcements are retained, so they arrive right after subscribing;
    `wait_s` only covers a slow broker.
    """
    found: dict[str, Announcement] = {}

    def on_announce(topic: str, payload: bytes) -> None:
        try:
            announcement = parse_announcement(topic, payload)
        except EvseProblem:
            return
        if announcement.connected and announcement.base_topic is not None:
            found[announcement.base_topic] = announcement

    unsubscribe = await session.subscribe(ANNOUNCE_FILTER, on_announce)
    try:
        await asyncio.sleep(wait_s)
    finally:
        unsubscribe()
    return found
