"""An observing MQTT client and time helpers for simulator tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiomqtt
from freezegun.api import FrozenDateTimeFactory
from paho.mqtt.subscribeoptions import SubscribeOptions

from simulator.mqtt_link import NO_DELAY
from tests.helpers import settle, wait_until

__all__ = ["PORTAL", "Observer", "Received", "elapse", "settle", "wait_until"]

PORTAL = "02fc00000001"


async def elapse(freezer: FrozenDateTimeFactory, seconds: float, step: float = 0.01) -> None:
    """Let ``seconds`` of loop time pass in ``step``s, everything delivered after each.

    The ``freezer`` fixture holds the loop clock still, so the simulator's timers (the
    heartbeat, the keepalive window, the physics) only move here: whatever the machine
    is doing, a timer fires at its loop time, and a reading's ``at`` is exact to a step.
    A timer due at the very instant the clock stands on fires one step later (asyncio
    runs handles due before now + 1 ns, and the frozen clock reads ~1.8e9 s).
    """
    for _ in range(round(seconds / step)):
        freezer.tick(timedelta(seconds=step))
        await settle()


@dataclass(frozen=True)
class Received:
    """One message as the observer saw it."""

    topic: str
    payload: bytes
    retain: bool
    at: float  # loop time of arrival

    def json(self) -> Any:
        """The payload parsed as JSON."""
        return json.loads(self.payload)

    @property
    def value(self) -> Any:
        """The ``value`` of a ``{"value": X}`` payload."""
        return self.json()["value"]


class Observer:
    """A plain aiomqtt client (MQTT 5, retain-as-published) recording everything on N/#."""

    def __init__(self, host: str, port: int, topics: tuple[str, ...] = ("N/#",)) -> None:
        self.host = host
        self.port = port
        self.topics = topics
        self.messages: list[Received] = []
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect and subscribe; returns once subscribed."""
        client = aiomqtt.Client(
            self.host, self.port, protocol=aiomqtt.ProtocolVersion.V5, socket_options=NO_DELAY
        )
        await client.__aenter__()
        self._client = client
        # Retain-as-published shows the publisher's retain flag on live deliveries too.
        for topic in self.topics:
            await client.subscribe(topic, options=SubscribeOptions(qos=0, retainAsPublished=True))
        self._task = asyncio.create_task(self._read(client))

    async def _read(self, client: aiomqtt.Client) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(aiomqtt.MqttError):
            async for message in client.messages:
                payload = message.payload
                data = payload if isinstance(payload, bytes) else str(payload or "").encode()
                self.messages.append(
                    Received(message.topic.value, data, bool(message.retain), loop.time())
                )

    async def stop(self) -> None:
        """Disconnect and leave no task behind."""
        client, self._client = self._client, None
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await client.__aexit__(None, None, None)
            misc = getattr(client, "_misc_task", None)
            if isinstance(misc, asyncio.Task) and not misc.done():
                await asyncio.wait([misc], timeout=2.0)

    async def publish(self, topic: str, payload: bytes | str = b"", retain: bool = False) -> None:
        """Publish as an ordinary client would."""
        assert self._client is not None
        await self._client.publish(topic, payload, retain=retain)

    def clear(self) -> None:
        """Forget what was received so far."""
        self.messages.clear()

    def on(self, topic: str) -> list[Received]:
        """Messages received on exactly ``topic``."""
        return [m for m in self.messages if m.topic == topic]

    def last(self, topic: str) -> Received:
        """The latest message on ``topic`` (AssertionError if none)."""
        found = self.on(topic)
        assert found, f"nothing received on {topic}"
        return found[-1]

    def topics_seen(self) -> set[str]:
        """Distinct topics received."""
        return {m.topic for m in self.messages}

    async def wait_topic(self, topic: str, count: int = 1, timeout: float = 10.0) -> Received:
        """Wait until ``count`` messages arrived on ``topic``; return the last."""
        await wait_until(lambda: len(self.on(topic)) >= count, timeout)
        return self.on(topic)[-1]

    async def wait_service(self, prefix: str, paths: Iterable[str], timeout: float = 10.0) -> None:
        """Until every path of a service arrived (a service appears in hash order)."""
        wanted = {f"{prefix}{path}" for path in paths}
        await wait_until(lambda: wanted <= self.topics_seen(), timeout)

    async def keepalive(self, payload: bytes | str = b"", portal: str = PORTAL) -> Received:
        """Send a keepalive and wait for the full_publish_completed it triggers."""
        done = f"N/{portal}/full_publish_completed"
        before = len(self.on(done))
        await self.publish(f"R/{portal}/keepalive", payload)
        return await self.wait_topic(done, before + 1)

    async def quiet(self) -> list[Received]:
        """Wait until nothing is in flight (``settle``); return what arrived meanwhile."""
        start = len(self.messages)
        await settle()
        return self.messages[start:]
