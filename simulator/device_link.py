"""A reconnecting MQTT connection with a Last Will and a "pull the plug" fault.

The standalone device simulators (openEVSE, the balancer) need two things the
Venus link (`simulator.mqtt_link.MqttLink`) does not offer: a Last Will, which
is how real devices tell subscribers that they died, and a way to die *dirty*.
A clean DISCONNECT makes the broker discard the Will, so `drop()` shuts the TCP
socket down under the client instead; the broker then sees a lost connection
and publishes the Will, exactly as when a device loses power or Wi-Fi.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import aiomqtt

from simulator.mqtt_link import NO_DELAY, payload_bytes

_LOGGER = logging.getLogger(__name__)

type ConnectHook = Callable[[], None]
type MessageHook = Callable[[str, bytes], None]
# (topic, payload, retain, completion future); topic None is a flush marker.
type _Outgoing = tuple[str | None, bytes, bool, asyncio.Future[None] | None]


@dataclass(frozen=True)
class LastWill:
    """The message the broker publishes for us when the connection dies."""

    topic: str
    payload: bytes
    retain: bool = True


class WillLink:
    """One reconnecting aiomqtt client with a Last Will and an ordered send queue.

    Messages sent while disconnected are dropped: a device that is offline
    cannot publish, and it republishes its whole state on the next connect.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        will: LastWill,
        subscriptions: Sequence[str],
        on_connect: ConnectHook,
        on_message: MessageHook,
        username: str | None = None,
        password: str | None = None,
        identifier: str | None = None,
        keepalive: int = 60,
        min_backoff: float = 0.2,
        max_backoff: float = 2.0,
    ) -> None:
        self.host = host
        self.port = port
        self.will = will
        self._subscriptions = list(subscriptions)
        self._on_connect = on_connect
        self._on_message = on_message
        self._username = username
        self._password = password
        self._identifier = identifier
        self._keepalive = keepalive
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._task: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[_Outgoing] | None = None
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        # Cleared by drop(): the connection loop parks until resume().
        self._allowed = asyncio.Event()
        self._allowed.set()
        self._misc_tasks: list[asyncio.Task[None]] = []
        self.connect_count = 0
        self.drop_count = 0

    @property
    def connected(self) -> bool:
        """True while subscribed and able to send."""
        return self._queue is not None

    @property
    def offline(self) -> bool:
        """True between drop() and resume()."""
        return not self._allowed.is_set()

    async def start(self, timeout: float = 10.0) -> None:
        """Start the connection loop and wait for the first connection."""
        if self._task is not None:
            return
        self._task = asyncio.create_task(self._run(), name="device-sim-mqtt")
        await self._wait_connected(timeout)

    async def stop(self, farewell: tuple[str, bytes] | None = None) -> None:
        """Disconnect cleanly and cancel everything; safe to call twice.

        ``farewell`` (topic, payload) is published retained first: a clean
        disconnect suppresses the Will, so without it subscribers would keep
        seeing the device as online.
        """
        if farewell is not None and self.connected:
            with contextlib.suppress(ConnectionError, TimeoutError):
                await asyncio.wait_for(self.send_and_wait(farewell[0], farewell[1], True), 2.0)
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

    def drop(self) -> None:
        """Lose the connection without a DISCONNECT (the broker publishes the Will).

        The link stays offline until resume(), like a device without network.
        """
        self._allowed.clear()
        self.drop_count += 1
        self._kill_socket()

    async def resume(self, timeout: float = 10.0) -> None:
        """Allow reconnecting after drop() and wait for the connection."""
        self._allowed.set()
        await self._wait_connected(timeout)

    def send(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Queue a publication; dropped when not connected."""
        if self._queue is None:
            _LOGGER.debug("Not connected: dropping %s", topic)
            return
        self._queue.put_nowait((topic, payload, retain, None))

    def subscribe(self, topic: str) -> None:
        """Also receive ``topic`` from now on, across reconnects too."""
        if topic in self._subscriptions:
            return
        self._subscriptions.append(topic)
        self._request(("subscribe", topic))

    def unsubscribe(self, topic: str) -> None:
        """Stop receiving ``topic``."""
        if topic not in self._subscriptions:
            return
        self._subscriptions.remove(topic)
        self._request(("unsubscribe", topic))

    def _request(self, request: tuple[str, str]) -> None:
        client = self._client
        if client is None or self._queue is None:
            return  # the next connect subscribes to the current list
        action, topic = request
        coro = client.subscribe(topic) if action == "subscribe" else client.unsubscribe(topic)
        task = asyncio.create_task(self._change_subscription(coro), name="device-sim-subscribe")
        self._misc_tasks.append(task)

    async def _change_subscription(self, change: Coroutine[Any, Any, Any]) -> None:
        try:
            await change
        except aiomqtt.MqttError as err:
            _LOGGER.debug("Changing a subscription failed: %s (the reconnect redoes it)", err)

    async def send_and_wait(self, topic: str | None, payload: bytes, retain: bool = False) -> None:
        """Queue a publication (or, with topic None, a marker) and wait until it is sent."""
        if self._queue is None:
            raise ConnectionError("device simulator is not connected to the broker")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((topic, payload, retain, done))
        await done

    async def flush(self) -> None:
        """Wait until everything queued so far has been handed to the socket."""
        await self.send_and_wait(None, b"")

    async def _wait_connected(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            await self.stop()
            raise ConnectionError(f"could not connect to {self.host}:{self.port}") from None

    def _kill_socket(self) -> None:
        client = self._client
        if client is None:
            return
        # aiomqtt keeps the paho client private; paho's socket() is public API.
        paho = getattr(client, "_client", None)
        sock = paho.socket() if paho is not None else None
        if isinstance(sock, socket.socket):
            # shutdown, not close: the file descriptor stays valid for paho and
            # the event loop, which then see an ordinary EOF (connection lost).
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    async def _run(self) -> None:
        backoff = self._min_backoff
        while True:
            await self._allowed.wait()
            client = aiomqtt.Client(
                self.host,
                self.port,
                username=self._username,
                password=self._password,
                identifier=self._identifier,
                keepalive=self._keepalive,
                will=aiomqtt.Will(
                    self.will.topic, self.will.payload, qos=1, retain=self.will.retain
                ),
                socket_options=NO_DELAY,
            )
            try:
                async with client:
                    backoff = self._min_backoff
                    self._client = client
                    await self._serve(client)
            except aiomqtt.MqttError as err:
                level = logging.DEBUG if self.offline else logging.WARNING
                _LOGGER.log(level, "Broker %s:%d: %s", self.host, self.port, err)
            finally:
                self._client = None
                self._disconnected()
                # Private, but it is the only handle on aiomqtt's per-connection task.
                misc = getattr(client, "_misc_task", None)
                self._misc_tasks = [t for t in self._misc_tasks if not t.done()]
                if isinstance(misc, asyncio.Task):
                    self._misc_tasks.append(misc)
            if self.offline:
                continue  # park at the top until resume(), then connect at once
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def _serve(self, client: aiomqtt.Client) -> None:
        if self.offline:
            # drop() raced with the connect: die dirty right away.
            self._kill_socket()
        await client.subscribe([(topic, 0) for topic in self._subscriptions])
        self._queue = asyncio.Queue()
        self.connect_count += 1
        _LOGGER.info("Connected to %s:%d (connection %d)", self.host, self.port, self.connect_count)
        self._on_connect()
        self._connected.set()
        sender = asyncio.create_task(self._send_loop(client, self._queue), name="device-sim-send")
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
