"""Fixtures: an observer client and started simulators on the test's mosquitto."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from simulator import VenusSimulator
from tests.broker import MosquittoBroker
from tests.simulator.helpers import Observer

type SimFactory = Callable[..., Awaitable[VenusSimulator]]


@pytest.fixture
async def observer(mqtt_broker: MosquittoBroker) -> AsyncIterator[Observer]:
    """An MQTT client subscribed to N/# before any simulator starts."""
    obs = Observer(mqtt_broker.host, mqtt_broker.port)
    await obs.start()
    yield obs
    await obs.stop()


@pytest.fixture
async def make_sim(mqtt_broker: MosquittoBroker) -> AsyncIterator[SimFactory]:
    """Start simulators with a fast heartbeat; every one is stopped at teardown."""
    sims: list[VenusSimulator] = []

    async def factory(start: bool = True, **kwargs: Any) -> VenusSimulator:
        kwargs.setdefault("heartbeat_interval", 0.1)
        kwargs.setdefault("keepalive_timeout", 60.0)  # as on Venus; expiry tests set it
        sim = VenusSimulator(mqtt_broker.host, mqtt_broker.port, **kwargs)
        sims.append(sim)
        if start:
            await sim.start()
        return sim

    yield factory
    for sim in sims:
        await sim.stop()


@pytest.fixture
async def sim(observer: Observer, make_sim: SimFactory) -> VenusSimulator:
    """A default simulator (battery 512, serialbattery, 16 cells), observed from its start.

    Returns once the observer has seen the start-up burst (then forgotten), so
    tests start with an empty ``observer.messages``.
    """
    simulator = await make_sim()
    await observer.wait_topic(f"N/{simulator.portal_id}/keepalive")
    observer.clear()
    return simulator
