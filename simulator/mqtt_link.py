"""The simulator's MQTT connection: connect, subscribe, send in order, reconnect.

The simulator talks to an ordinary broker (mosquitto in tests) instead of being
the broker like FlashMQ is. When the broker goes away the link reconnects with
a short backoff (0.2 s doubling to 2 s), re-subscribes and lets the owner
re-publish the retained Serial. Messages produced while disconnected are dropped,
as a broker restart would lose them anyway.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Sequence

import aiomqtt

_LOGGER = logging.getLogger(__name__)

type ConnectHook = Callable[[], None]
type MessageHook = Callable[[str, bytes], None]
# Send each message at once, not after the broker's delayed ACK (up to 40 ms, Nagle).
NO_DELAY = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)
# (topic, payload, retain, completion future); topic None is a flush marker.
type _Outgoing = tuple[str | None, bytes, bool, asyncio.Future[None] | None]


def payload_bytes(payload: object) -> bytes:
    """aiomqtt hands out bytes, str, numbers or None; normalise to bytes."""
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    if payload is None:
        return b""
    return str(payload).encode()


class MqttLink:
    """One reconnecting aiomqtt client with an ordered outgoing queue."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        subscriptions: Sequence[str],
        on_connect: ConnectHook,
        on_message: MessageHook,
        username: str | None = None,
        password: str | None = None,
        identifier: str | None = None,
        min_backoff: float = 0.2,
        max_backoff: float = 2.0,
    ) -> None:
        self.host = host
        self.port = port
        self._subscriptions = list(subscriptions)
        self._on_connect = on_connect
        self._on_message = on_message
        self._username = username
        self._password = password
        self._identifier = identifier
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._task: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[_Outgoing] | None = None
        self._connected = asyncio.Event()
        self._misc_tasks: list[asyncio.Task[None]] = []
        self.connect_count = 0

    @property
    def connected(self) -> bool:
        """True while subscribed and able to send."""
        return self._queue is not None

    async def start(self, timeout: float = 10.0) -> None:
        """Start the connection loop and wait for the first connection."""
        if self._task is not None:
            return
        self._task = asyncio.create_task(self._run(), name="venus-simulator-mqtt")
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            await self.stop()
            raise ConnectionError(f"could not connect to {self.host}:{self.port}") from None

    async def stop(self) -> None:
        """Disconnect and cancel everything; safe to call twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        # aiomqtt cancels its loop_misc task via call_soon_threadsafe when the socket
        # closes; wait for it so no task outlives stop().
        pending = [t for t in self._misc_tasks if not t.done()]
        self._misc_tasks.clear()
        if pending:
            await asyncio.wait(pending, timeout=2.0)

    def send(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Queue a publication; dropped when not connected."""
        if self._queue is None:
            _LOGGER.debug("Not connected: dropping %s", topic)
            return
        self._queue.put_nowait((topic, payload, retain, None))

    async def send_and_wait(self, topic: str | None, payload: bytes, retain: bool = False) -> None:
        """Queue a publication (or, with topic None, a marker) and wait until it is sent."""
        if self._queue is None:
            raise ConnectionError("simulator is not connected to the broker")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((topic, payload, retain, done))
        await done

    async def flush(self) -> None:
        """Wait until everything queued so far has been handed to the socket."""
        await self.send_and_wait(None, b"")

    async def _run(self) -> None:
        backoff = self._min_backoff
        while True:
            client = aiomqtt.Client(
                self.host,
                self.port,
                username=self._username,
                password=self._password,
                identifier=self._identifier,
                socket_options=NO_DELAY,
            )
            try:
                async with client:
                    backoff = self._min_backoff
                    await self._serve(client)
            except aiomqtt.MqttError as err:
                _LOGGER.warning(
                    "Broker %s:%d: %s; reconnecting in %.1f s", self.host, self.port, err, backoff
                )
            finally:
                self._disconnected()
                # Private, but it is the only handle on aiomqtt's per-connection task.
                misc = getattr(client, "_misc_task", None)
                self._misc_tasks = [t for t in self._misc_tasks if not t.done()]
                if isinstance(misc, asyncio.Task):
                    self._misc_tasks.append(misc)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def _serve(self, client: aiomqtt.Client) -> None:
        await client.subscribe([(topic, 0) for topic in self._subscriptions])
        self._queue = asyncio.Queue()
        self.connect_count += 1
        _LOGGER.info("Connected to %s:%d (connection %d)", self.host, self.port, self.connect_count)
        self._on_connect()
        self._connected.set()
        sender = asyncio.create_task(self._send_loop(client, self._queue), name="venus-sim-send")
        try:
            async for message in client.messages:
                try:
                    self._on_message(message.topic.value, payload_bytes(message.payload))
                except Exception:
                    # A bug in handling one message must not kill the connection.
                    _LOGGER.exception("Error handling %s", message.topic.value)
        finally:
            sender.cancel()
            await asyncio.wait([sender])

    async def _send_loop(self, client: aiomqtt.Client, queue: asyncio.Queue[_Outgoing]) -> None:
        while True:
            topic, payload, retain, done = await queue.get()
            try:
                if topic is not None:
                    await client.publish(topic, payload, qos=0, retain=retain)
            except aiomqtt.MqttError as err:
                _LOGGER.debug("Publish of %s failed: %s", topic, err)
                if done is not None and not done.done():
                    done.set_exception(ConnectionError(str(err)))
                return
            if done is not None and not done.done():
                done.set_result(None)

    def _disconnected(self) -> None:
        queue, self._queue = self._queue, None
        self._connected.clear()
        if queue is None:
            return
        # Fail whoever waits on a publication that will never be sent.
        while not queue.empty():
            _, _, _, done = queue.get_nowait()
            if done is not None and not done.done():
                done.set_exception(ConnectionError("disconnected from the broker"))
