"""The openEVSE link on a real broker: liveness from silence and from the connection."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from custom_components.victron_balance.transport.mqtt_session import BrokerSettings, MqttSession
from custom_components.victron_balance.transport.openevse_link import OpenEvseLink
from tests.broker import MosquittoBroker
from tests.helpers import wait_until

BASE = "openevse-manual"


@pytest.fixture
async def station(mqtt_broker: MosquittoBroker) -> AsyncIterator[MqttSession]:
    """A station entered by hand: no announce, no Last Will, just status topics."""
    session = MqttSession(BrokerSettings(mqtt_broker.host, mqtt_broker.port), name="station")
    await session.start()
    yield session
    await session.close()


async def test_silence_makes_the_station_offline(
    mqtt_broker: MosquittoBroker, station: MqttSession
) -> None:
    session = MqttSession(BrokerSettings(mqtt_broker.host, mqtt_broker.port), name="ha")
    await session.start()
    link = OpenEvseLink(session, f"{BASE}/", stale_after=0.3)
    changes: list[bool] = []
    link.add_listener(lambda: changes.append(link.online))
    await link.start()
    try:
        await station.publish(f"{BASE}/power", "1380")
        await wait_until(lambda: link.online)
        assert link.readings.power_w == 1380.0
        await station.publish(f"{BASE}/divertmode", "1")  # a topic we do not use
        await station.publish(f"{BASE}/claim/set", "release")  # a command, not a status
        # Nothing for longer than stale_after: offline, and listeners hear of it.
        await wait_until(lambda: not link.online, timeout=3)
        assert changes[-1] is False
        await station.publish(f"{BASE}/power", "0")
        await wait_until(lambda: link.online)
        # Losing our own broker connection makes it offline at once.
        await session.close()
        assert not link.online
    finally:
        await link.close()
        await session.close()


async def test_a_cleared_announce_says_nothing(
    mqtt_broker: MosquittoBroker, station: MqttSession
) -> None:
    session = MqttSession(BrokerSettings(mqtt_broker.host, mqtt_broker.port), name="ha")
    await session.start()
    link = OpenEvseLink(session, BASE, stale_after=5)
    await link.start()
    try:
        await station.publish(f"{BASE}/power", "10")
        await wait_until(lambda: link.online)
        await station.publish("openevse/announce/abcd", b"")
        await station.publish(
            "openevse/announce/ffff", b'{"state":"disconnected","id":"someone else"}'
        )
        await station.publish(f"{BASE}/power", "20")
        await wait_until(lambda: link.readings.power_w == 20.0)
        assert link.online and link.announcement is None
    finally:
        await link.close()
        await session.close()
