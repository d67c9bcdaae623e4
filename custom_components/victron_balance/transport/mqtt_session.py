"""One MQTT session per broker connection, built on aiomqtt.

The session connects once (reporting the first failure to the caller), then keeps the
connection up in a background task: exponential reconnect backoff, subscriptions
restored after every reconnect, publish failures raised to the caller.

With a `SessionWill` the broker publishes `offline` (retained) on its topic when the
connection dies without a goodbye (Home Assistant crashed, hung past the keepalive,
lost its network); the session publishes `online` (retained) on every connect and
`offline` on a clean close. Devices that depend on us (the balancer's lease) listen.

Messages are handed to the subscribers as paho reads them off the socket, not through
aiomqtt's queue: a handler only parses and stores (entity work happens later, on a
flush tick), so no backlog can build up behind it. Reading the socket therefore never
waits behind entity work, the broker's keepalive answer (PINGRESP) is seen as soon as
it arrives, and a heartbeat counts when it is received, not when a queue reaches it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import aiomqtt

from .tasks import cancel_and_wait

_LOGGER = logging.getLogger(__name__)

MIN_BACKOFF = 1.0
MAX_BACKOFF = 60.0
BACKOFF_FACTOR = 2.0
CONNECT_TIMEOUT = 10.0
MQTT_KEEPALIVE = 30
GOODBYE_TIMEOUT = 2.0  # the clean close's `offline` (the broker may be gone)

# Small packets (a write, a keepalive) leave at once instead of waiting up to 40 ms for
# the broker's delayed ACK of the previous one (Nagle); paho does not set it.
NO_DELAY = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)

# CONNACK codes for refused credentials: MQTT 3.1.1 (4, 5) and MQTT 5 (134, 135).
_AUTH_FAILURE_CODES = frozenset({4, 5, 134, 135})

type MessageCallback = Callable[[str, bytes], None]
type ConnectionCallback = Callable[[bool], None]
type TaskFactory = Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None]]


class SessionError(Exception):
    """Base class for session errors."""


class CannotConnect(SessionError):
    """The broker could not be reached."""


class InvalidAuth(SessionError):
    """The broker refused the credentials."""


class PublishFailed(SessionError):
    """A message could not be handed to the broker."""


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """Where and how to connect."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls: bool = False
    verify_tls: bool = True
    ca_certificate: str | None = None  # PEM text; None uses the system's CAs


@dataclass(frozen=True, slots=True)
class SessionWill:
    """Our Last Will: `offline` when the connection dies, `online` while it is up."""

    topic: str
    online: bytes = b"online"
    offline: bytes = b"offline"


def build_tls_context(settings: BrokerSettings) -> ssl.SSLContext | None:
    """The TLS context for a broker (blocking: loads certificates; run in an executor)."""
    if not settings.tls:
        return None
    context = ssl.create_default_context(cadata=settings.ca_certificate or None)
    if settings.ca_certificate is None:
        context.load_default_certs()
    if not settings.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _reason_code(error: aiomqtt.MqttError) -> int | None:
    code = getattr(error, "rc", None)
    value = getattr(code, "value", code)
    return value if isinstance(value, int) else None


def _as_bytes(payload: Any) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    if payload is None:
        return b""
    return str(payload).encode()


def _default_task_factory(coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
    return asyncio.create_task(coro, name=name)


class SessionClient(aiomqtt.Client):
    """aiomqtt's client without one race (aiomqtt 2.5.1, manifest-pinned).

    A publish asks the loop to watch the socket for writing one iteration later; when
    the broker closed the connection in that iteration, the loop is handed a closed
    socket and logs "Bad file descriptor" from a callback nobody can catch. Here the
    socket is checked when the loop gets to it.
    """

    def _on_socket_register_write(self, client: Any, userdata: Any, sock: Any) -> None:
        def writable() -> None:
            try:
                client.loop_write()
            except Exception as exc:
                if not self._disconnected.done():
                    self._disconnected.set_exception(exc)

        def register() -> None:
            if sock.fileno() != -1:  # -1: closed meanwhile; the reconnect has a new one
                self._loop.add_writer(sock.fileno(), writable)

        self._loop.call_soon_threadsafe(register)


def topic_matcher(topic_filter: str) -> Callable[[str], bool]:
    """A fast test for one MQTT topic filter (`+` one level, `#` the rest).

    Built once per subscription: the common shapes (no wildcard, `prefix/#`) become a
    comparison or a `startswith`, so a message costs no string splitting.
    """
    levels = topic_filter.split("/")
    wildcard_first = levels[0] in ("+", "#")
    if "+" not in levels and "#" not in levels:
        return topic_filter.__eq__
    if levels[-1] == "#" and "+" not in levels and len(levels) > 1:
        parent = topic_filter[:-2]
        prefix = topic_filter[:-1]
        return lambda topic: topic.startswith(prefix) or topic == parent

    # Literal levels before the first and after the last wildcard: a cheap test that
    # rejects most topics (`N/+/system/0/Serial` sees every message of the GX).
    wild = [index for index, level in enumerate(levels) if level in ("+", "#")]
    head = "/".join(levels[: wild[0]]) + "/" if wild[0] else ""
    tail = "/" + "/".join(levels[wild[-1] + 1 :]) if wild[-1] < len(levels) - 1 else ""

    def matches(topic: str) -> bool:
        if wildcard_first and topic.startswith("$"):
            return False  # wildcards at the first level never match $SYS topics
        if not topic.startswith(head) or not topic.endswith(tail):
            return False
        parts = topic.split("/")
        for index, level in enumerate(levels):
            if level == "#":
                return True
            if index >= len(parts) or (level != "+" and level != parts[index]):
                return False
        return len(parts) == len(levels)

    return matches


@dataclass(frozen=True, slots=True, eq=False)
class _Subscription:
    topic_filter: str
    callback: MessageCallback
    matches: Callable[[str], bool]


class _InlineQueue(asyncio.Queue[aiomqtt.Message]):
    """aiomqtt's incoming queue, except that each message is handled as it is read."""

    def __init__(self, handler: Callable[[aiomqtt.Message], None], maxsize: int = 0) -> None:
        super().__init__(maxsize)
        self._handler = handler

    def put_nowait(self, item: aiomqtt.Message) -> None:
        """Hand the message on at once (called by aiomqtt from paho's read)."""
        self._handler(item)


class MqttSession:
    """A resilient connection to one broker."""

    def __init__(
        self,
        settings: BrokerSettings,
        *,
        name: str,
        tls_context: ssl.SSLContext | None = None,
        task_factory: TaskFactory = _default_task_factory,
        min_backoff: float = MIN_BACKOFF,
        max_backoff: float = MAX_BACKOFF,
        will: SessionWill | None = None,
    ) -> None:
        self.settings = settings
        self.name = name
        self.will = will
        self._tls_context = tls_context
        self._task_factory = task_factory
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._reannounce_task: asyncio.Task[None] | None = None
        self._subscriptions: list[_Subscription] = []
        self._routing: tuple[_Subscription, ...] = ()  # a snapshot: handlers may unsubscribe
        self._connection_listeners: list[ConnectionCallback] = []
        self._first_connect: asyncio.Future[None] | None = None
        self.connected = False
        self.reconnects = 0
        self.publish_failures = 0
        self.last_error: str | None = None

    async def start(self) -> None:
        """Connect; raise CannotConnect or InvalidAuth if the first attempt fails."""
        self._first_connect = asyncio.get_running_loop().create_future()
        self._task = self._task_factory(self._run(), f"mqtt session {self.name}")
        try:
            await self._first_connect
        except SessionError:
            await self.close()
            raise

    async def close(self) -> None:
        """Say `offline` (a clean close suppresses the Will), disconnect, stop reconnecting."""
        client, will = self._client, self.will
        if client is not None and will is not None and self.connected:
            try:
                async with asyncio.timeout(GOODBYE_TIMEOUT):
                    await client.publish(will.topic, will.offline, qos=1, retain=True)
            except (aiomqtt.MqttError, TimeoutError) as err:
                _LOGGER.debug("%s: no goodbye on %s: %s", self.name, will.topic, err)
        task, self._task = self._task, None
        await cancel_and_wait(task)
        await cancel_and_wait(self._reannounce_task)
        self._set_connected(False)

    async def subscribe(self, topic_filter: str, callback: MessageCallback) -> Callable[[], None]:
        """Route messages matching `topic_filter` to `callback`; kept across reconnects.

        When connected, returns after the broker acknowledged the subscription.
        """
        entry = _Subscription(topic_filter, callback, topic_matcher(topic_filter))
        self._subscriptions.append(entry)
        self._routing = tuple(self._subscriptions)
        client = self._client
        if client is not None and self.connected:
            try:
                await client.subscribe(topic_filter)
            except aiomqtt.MqttError as err:
                # The next reconnect subscribes again; the connection loop reports the loss.
                _LOGGER.warning("%s: subscribing to %s failed: %s", self.name, topic_filter, err)

        def unsubscribe() -> None:
            if entry in self._subscriptions:
                self._subscriptions.remove(entry)
                self._routing = tuple(self._subscriptions)

        return unsubscribe

    def add_connection_listener(self, callback: ConnectionCallback) -> Callable[[], None]:
        """Be told when the connection goes up (True) or down (False)."""
        self._connection_listeners.append(callback)
        return lambda: self._connection_listeners.remove(callback)

    async def publish(self, topic: str, payload: str | bytes, *, retain: bool = False) -> None:
        """Publish or raise PublishFailed."""
        client = self._client
        if client is None or not self.connected:
            self.publish_failures += 1
            raise PublishFailed(f"not connected to {self.settings.host}:{self.settings.port}")
        try:
            await client.publish(topic, payload, qos=0, retain=retain)
        except aiomqtt.MqttError as err:
            self.publish_failures += 1
            raise PublishFailed(f"publish to {topic} failed: {err}") from err

    def _make_client(self) -> aiomqtt.Client:
        will = self.will
        inline = partial(_InlineQueue, self._on_message)
        return SessionClient(
            hostname=self.settings.host,
            port=self.settings.port,
            username=self.settings.username or None,
            password=self.settings.password or None,
            tls_context=self._tls_context,
            keepalive=MQTT_KEEPALIVE,
            timeout=CONNECT_TIMEOUT,
            socket_options=NO_DELAY,
            queue_type=cast("type[asyncio.Queue[aiomqtt.Message]]", inline),
            will=None
            if will is None
            else aiomqtt.Will(will.topic, will.offline, qos=1, retain=True),
        )

    async def _announce(self, client: aiomqtt.Client) -> None:
        """`online` now, and again whenever our topic says otherwise while we are up.

        A stale `offline` can arrive after a reconnect: the broker publishes the Will
        of the previous connection only when it notices that one is gone.
        """
        will = self.will
        if will is not None:
            await client.publish(will.topic, will.online, qos=1, retain=True)
            await client.subscribe(will.topic)

    def _contradicts_will(self, message: aiomqtt.Message) -> bool:
        will = self.will
        return (
            will is not None
            and message.topic.value == will.topic
            and _as_bytes(message.payload) == will.offline
        )

    async def _run(self) -> None:
        backoff = self._min_backoff
        while True:
            client = self._make_client()
            try:
                async with client:
                    self._client = client
                    await self._announce(client)
                    for subscription in list(self._subscriptions):
                        await client.subscribe(subscription.topic_filter)
                    backoff = self._min_backoff
                    self._set_connected(True)
                    self._resolve_first_connect(None)
                    # Messages are handled as they are read (_on_message); the iteration
                    # only waits for the connection to end, which raises MqttError.
                    async for _message in client.messages:
                        pass  # pragma: no cover - the inline queue never yields one
            except aiomqtt.MqttError as err:
                self.last_error = str(err)
                if self._resolve_first_connect(self._classify(err)):
                    return
                if self.connected:
                    _LOGGER.info("%s: connection lost (%s); reconnecting", self.name, err)
            finally:
                self._client = None
            self._set_connected(False)
            self.reconnects += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * BACKOFF_FACTOR, self._max_backoff)

    def _classify(self, error: aiomqtt.MqttError) -> SessionError:
        if _reason_code(error) in _AUTH_FAILURE_CODES:
            return InvalidAuth(str(error))
        return CannotConnect(str(error))

    def _resolve_first_connect(self, error: SessionError | None) -> bool:
        """Settle start(); True when this was the first attempt and it failed."""
        future = self._first_connect
        if future is None or future.done():
            return False
        if error is None:
            future.set_result(None)
            return False
        future.set_exception(error)
        return True

    def _on_message(self, message: aiomqtt.Message) -> None:
        """One message, as paho read it off the socket (nothing may escape from here)."""
        client = self._client
        if client is not None and self._contradicts_will(message):
            running = self._reannounce_task
            if running is None or running.done():
                self._reannounce_task = self._task_factory(
                    self._reannounce(client), f"mqtt announce {self.name}"
                )
        self._dispatch(message.topic.value, _as_bytes(message.payload))

    async def _reannounce(self, client: aiomqtt.Client) -> None:
        try:
            await self._announce(client)
        except aiomqtt.MqttError as err:
            _LOGGER.debug("%s: `online` not repeated: %s", self.name, err)

    def _dispatch(self, topic: str, payload: bytes) -> None:
        for subscription in self._routing:
            if subscription.matches(topic):
                try:
                    subscription.callback(topic, payload)
                except Exception:
                    # One bad handler must not end the connection.
                    _LOGGER.exception("%s: handler for %s failed", self.name, topic)

    def _set_connected(self, connected: bool) -> None:
        if connected == self.connected:
            return
        self.connected = connected
        for listener in list(self._connection_listeners):
            listener(connected)
