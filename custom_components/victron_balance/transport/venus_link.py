"""The Venus OS link: keepalive, liveness, state and confirmed writes over one session.

Venus publishes only while it receives keepalives, proves it is alive with a heartbeat
every 3 s, and confirms a write only by echoing the new value on `N/`. This class turns
that into: a `VenusState` kept current, an `alive` flag, and `write()` that returns the
echoed value or raises.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Callable
from typing import Any

from ..logic.keepalive import DEFAULT_INTERVAL, Keepalive, KeepalivePlan
from ..logic.log_limiter import RateLimitedLogger
from ..logic.venus_state import Update, VenusState
from ..logic.venus_topics import (
    SERIAL_DISCOVERY_TOPIC,
    ItemTopic,
    ServiceKey,
    TopicError,
    keepalive_topic,
    notify_topic,
    parse_notify_topic,
    portal_subscription,
    read_topic,
    write_topic,
)
from ..logic.venus_values import PayloadKind, ValueProblem, decode_payload
from .mqtt_session import MqttSession, PublishFailed, SessionError, TaskFactory
from .tasks import cancel_and_wait

_LOGGER = logging.getLogger(__name__)

HEARTBEAT_TIMEOUT = 10.0  # Venus beats every 3 s; three missed beats mean it is gone
FIRST_DATA_TIMEOUT = 20.0
WRITE_TIMEOUT = 5.0
FULL_PUBLISH_WAIT = 5.0  # a full publish takes ~20 ms; a dropped request is given up after this


class VenusError(SessionError):
    """Base class for Venus protocol errors."""


class VenusNotAnswering(VenusError):
    """No full publish came back after a keepalive."""


class VenusNotAlive(VenusError):
    """Venus is not publishing (no heartbeat), so a write could not be confirmed."""


class WriteNotConfirmed(VenusError):
    """No N/ echo arrived for a write: Venus rejected or ignored it."""


class NoPortalFound(VenusError):
    """No `N/<portal>/system/0/Serial` was seen on the broker."""


async def discover_portal_id(
    session: MqttSession, timeout: float, portal_id: str | None = None
) -> str:
    """Wait for the retained Serial topic and return the portal id it names.

    With `portal_id` given, that GX is preferred (a broker may serve several); when it
    does not show up in time but another one did, the other one is returned so that
    the caller can tell "wrong GX" from "no GX".
    """
    loop = asyncio.get_running_loop()
    found: asyncio.Future[str] = loop.create_future()
    others: list[str] = []

    def on_serial(topic: str, payload: bytes) -> None:
        try:
            parsed = parse_notify_topic(topic)
            value = decode_payload(payload).value
        except (TopicError, ValueProblem):
            return
        if not isinstance(value, str) or not value or found.done():
            return
        if portal_id is None or parsed.portal_id == portal_id:
            found.set_result(parsed.portal_id)
        elif parsed.portal_id not in others:
            others.append(parsed.portal_id)

    unsubscribe = await session.subscribe(SERIAL_DISCOVERY_TOPIC, on_serial)
    try:
        return await asyncio.wait_for(found, timeout)
    except TimeoutError as err:
        if others:
            return others[0]
        raise NoPortalFound(f"no Venus OS portal answered within {timeout:.0f} s") from err
    finally:
        unsubscribe()


def _encode_value(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("refusing to write a non-finite number")
    return json.dumps({"value": value})


class VenusLink:
    """Keeps one Venus OS system talking and mirrors its state."""

    def __init__(
        self,
        session: MqttSession,
        portal_id: str,
        *,
        keepalive_interval: Callable[[], float] = lambda: DEFAULT_INTERVAL,
        heartbeat_timeout: float = HEARTBEAT_TIMEOUT,
        task_factory: TaskFactory | None = None,
    ) -> None:
        self.session = session
        self.portal_id = portal_id
        self.state = VenusState(portal_id)
        self._keepalive_interval = keepalive_interval
        self._heartbeat_timeout = heartbeat_timeout
        self._task_factory = task_factory or (lambda coro, name: asyncio.create_task(coro))
        self._plan = KeepalivePlan("victron_balance")
        self._bad_input = RateLimitedLogger(_LOGGER)
        self._update_listeners: list[Callable[[Update], None]] = []
        self._liveness_listeners: list[Callable[[bool], None]] = []
        self._pending_writes: dict[str, list[asyncio.Future[Any]]] = {}
        self._full_publish_done: asyncio.Event = asyncio.Event()
        self._watchdog: asyncio.TimerHandle | None = None
        self._keepalive_task: asyncio.Task[None] | None = None
        self._unsubscribers: list[Callable[[], None]] = []
        self.alive = False
        self._resync_on_heartbeat = False
        self.keepalives_sent = 0
        self.full_publishes_seen = 0
        self.last_heartbeat: float | None = None
        self._full_publish_asked: float | None = None  # loop time of an unanswered request

    def add_update_listener(self, callback: Callable[[Update], None]) -> Callable[[], None]:
        """Be told about every state change."""
        self._update_listeners.append(callback)
        return lambda: self._update_listeners.remove(callback)

    def add_liveness_listener(self, callback: Callable[[bool], None]) -> Callable[[], None]:
        """Be told when Venus starts or stops publishing."""
        self._liveness_listeners.append(callback)
        return lambda: self._liveness_listeners.remove(callback)

    async def start(self, first_data_timeout: float | None = None) -> None:
        """Subscribe, send the first keepalive and wait for the full publish to finish."""
        # Read at call time, not bound as a default, so that it can be patched.
        if first_data_timeout is None:
            first_data_timeout = FIRST_DATA_TIMEOUT
        self._unsubscribers = [
            await self.session.subscribe(portal_subscription(self.portal_id), self._on_message),
            self.session.add_connection_listener(self._on_connection),
        ]
        self._full_publish_done.clear()
        await self._send_keepalive(KeepalivePlan.first())
        try:
            await asyncio.wait_for(self._full_publish_done.wait(), first_data_timeout)
        except TimeoutError as err:
            await self.close()
            raise VenusNotAnswering(
                f"Venus OS {self.portal_id} sent no data within {first_data_timeout:.0f} s"
            ) from err
        self._keepalive_task = self._task_factory(
            self._keepalive_loop(), f"venus keepalive {self.portal_id}"
        )

    async def close(self) -> None:
        """Stop keepalives and timers; the session is closed by its owner."""
        for unsubscribe in self._unsubscribers:
            unsubscribe()
        self._unsubscribers = []
        task, self._keepalive_task = self._keepalive_task, None
        await cancel_and_wait(task)
        self._cancel_watchdog()
        for futures in self._pending_writes.values():
            for future in futures:
                future.cancel()
        self._pending_writes.clear()

    async def write(
        self, key: ServiceKey, path: str, value: Any, timeout: float = WRITE_TIMEOUT
    ) -> Any:
        """Write a value and return what Venus echoed; raise if it was not confirmed.

        A value equal to the current one is not written: Venus would not echo it (no
        change signal), and settings live in flash on the GX.
        """
        if not self.alive:
            raise VenusNotAlive(f"Venus OS {self.portal_id} is not publishing")
        payload = _encode_value(value)
        current = self.state.services.get(key, {})
        if path in current and current[path] == value:
            return current[path]
        echo_topic = notify_topic(self.portal_id, key, path)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending_writes.setdefault(echo_topic, []).append(future)
        try:
            # Never retained: a retained W/ would be replayed to Venus later.
            await self.session.publish(write_topic(self.portal_id, key, path), payload)
            return await asyncio.wait_for(future, timeout)
        except TimeoutError as err:
            raise WriteNotConfirmed(
                f"Venus did not confirm {key.service}/{key.instance}{path} = {value!r}"
            ) from err
        finally:
            waiting = self._pending_writes.get(echo_topic, [])
            if future in waiting:
                waiting.remove(future)
            if not waiting:
                self._pending_writes.pop(echo_topic, None)

    async def read(self, key: ServiceKey, path: str) -> None:
        """Ask Venus to republish an item or a sub-tree (answers even when not alive)."""
        await self.session.publish(read_topic(self.portal_id, key, path), "")

    async def _keepalive_loop(self) -> None:
        while True:
            await asyncio.sleep(self._keepalive_interval())
            await self._send_keepalive(self._plan.next())

    async def _send_keepalive(self, keepalive: Keepalive) -> None:
        if keepalive.full_publish:
            # Noted before sending: the answer may be read before publish() returns.
            self._full_publish_asked = asyncio.get_running_loop().time()
        try:
            await self.session.publish(keepalive_topic(self.portal_id), keepalive.payload)
        except PublishFailed as err:
            # The session reconnects by itself and a new keepalive follows then.
            _LOGGER.debug("keepalive not sent: %s", err)
            if keepalive.full_publish:
                self._full_publish_asked = None
            return
        self.keepalives_sent += 1

    @property
    def full_publish_in_flight(self) -> bool:
        """A full publish we asked for has not completed yet (values are arriving)."""
        asked = self._full_publish_asked
        return asked is not None and asyncio.get_running_loop().time() - asked < FULL_PUBLISH_WAIT

    def request_full_publish(self) -> None:
        """Ask Venus to publish every topic again (ends with full_publish_completed)."""
        self._task_factory(
            self._send_keepalive(KeepalivePlan.first()), f"venus resync {self.portal_id}"
        )

    def _on_connection(self, connected: bool) -> None:
        if connected:
            # Values that changed while we were away are not republished on their own.
            self.request_full_publish()
        else:
            self._set_alive(False)

    def _on_message(self, topic: str, payload: bytes) -> None:
        # Called as the session reads each message: parse and store only (entities are
        # written later, on the coordinator's flush tick), so reading never falls behind
        # and a heartbeat counts the moment it is received.
        update = self.state.apply(topic, payload)
        if update.problem:
            self._bad_input.warning(_problem_category(update.problem), update.problem)
        if update.heartbeat:
            self._on_heartbeat()
        if update.full_publish_completed:
            # A completed full publish proves Venus is alive as much as a heartbeat does.
            self.full_publishes_seen += 1
            self._full_publish_asked = None
            self._full_publish_done.set()
            self._on_heartbeat()
        if update.plugin_started:
            _LOGGER.info("Venus OS %s restarted its MQTT service", self.portal_id)
            self.request_full_publish()
        if self._pending_writes:
            self._resolve_write(topic, payload)
        if update.changed or update.vanished or update.heartbeat or update.full_publish_completed:
            for listener in list(self._update_listeners):
                listener(update)

    def _resolve_write(self, topic: str, payload: bytes) -> None:
        futures = self._pending_writes.get(topic)
        if not futures:
            return
        try:
            decoded = decode_payload(payload)
        except ValueProblem:
            return
        if decoded.kind is PayloadKind.VANISHED:
            return
        for future in futures:
            if not future.done():
                future.set_result(decoded.value)

    def _on_heartbeat(self) -> None:
        loop = asyncio.get_running_loop()
        self.last_heartbeat = loop.time()
        self._cancel_watchdog()
        self._watchdog = loop.call_later(self._heartbeat_timeout, self._on_heartbeat_lost)
        if self._resync_on_heartbeat:
            # Back after a silence: it may have restarted, so ask for everything again.
            self._resync_on_heartbeat = False
            self.request_full_publish()
        if not self.alive:
            self._set_alive(True)

    def _on_heartbeat_lost(self) -> None:
        self._watchdog = None
        _LOGGER.info("Venus OS %s stopped sending heartbeats", self.portal_id)
        self._set_alive(False)
        self._resync_on_heartbeat = True

    def _cancel_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _set_alive(self, alive: bool) -> None:
        if alive == self.alive:
            return
        self.alive = alive
        if not alive:
            self._cancel_watchdog()
        for listener in list(self._liveness_listeners):
            listener(alive)


def _problem_category(problem: str) -> str:
    """Group log lines by topic so one noisy topic does not hide another."""
    return problem.split(":", 1)[0]


__all__ = [
    "ItemTopic",
    "NoPortalFound",
    "VenusError",
    "VenusLink",
    "VenusNotAlive",
    "VenusNotAnswering",
    "WriteNotConfirmed",
    "discover_portal_id",
]
