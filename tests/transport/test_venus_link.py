"""The Venus link against the simulator: discovery, confirmed writes, reads."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import pytest

from custom_components.victron_balance.logic.venus_topics import SETTINGS, ServiceKey
from custom_components.victron_balance.transport.mqtt_session import BrokerSettings, MqttSession
from custom_components.victron_balance.transport.venus_link import (
    NoPortalFound,
    VenusLink,
    VenusNotAlive,
    VenusNotAnswering,
    WriteNotConfirmed,
    discover_portal_id,
)
from simulator import VenusSimulator
from tests.broker import MosquittoBroker
from tests.helpers import PORTAL_ID, wait_until

MAX_CURRENT = "/Settings/SystemSetup/MaxChargeCurrent"


@pytest.fixture
async def session(mqtt_broker: MosquittoBroker) -> AsyncIterator[MqttSession]:
    session = MqttSession(BrokerSettings(mqtt_broker.host, mqtt_broker.port), name="test")
    await session.start()
    yield session
    await session.close()


@pytest.fixture
async def link(session: MqttSession, simulator: VenusSimulator) -> AsyncIterator[VenusLink]:
    link = VenusLink(session, PORTAL_ID)
    await link.start()
    yield link
    await link.close()


async def test_discovery(session: MqttSession, simulator: VenusSimulator) -> None:
    assert await discover_portal_id(session, 5) == PORTAL_ID
    assert await discover_portal_id(session, 5, PORTAL_ID) == PORTAL_ID


async def test_discovery_without_venus(session: MqttSession) -> None:
    with pytest.raises(NoPortalFound):
        await discover_portal_id(session, 0.2)


async def test_start_fails_without_answer(session: MqttSession) -> None:
    link = VenusLink(session, PORTAL_ID)
    with pytest.raises(VenusNotAnswering):
        await link.start(first_data_timeout=0.2)


async def test_write_is_confirmed_by_its_echo(link: VenusLink, simulator: VenusSimulator) -> None:
    assert await link.write(SETTINGS, MAX_CURRENT, 50) == 50
    assert simulator.get_value("settings", 0, MAX_CURRENT) == 50
    assert simulator.settings_writes == 1
    # Integer setting: Venus truncates, and the echo tells us what it applied.
    assert await link.write(SETTINGS, MAX_CURRENT, 7.5) == 7


async def test_unchanged_value_is_not_written(link: VenusLink, simulator: VenusSimulator) -> None:
    """Settings live in flash on the GX, and Venus would not echo an unchanged value."""
    await link.write(SETTINGS, MAX_CURRENT, 40)
    await wait_until(lambda: link.state.value(SETTINGS, MAX_CURRENT) == 40)
    assert await link.write(SETTINGS, MAX_CURRENT, 40) == 40
    assert simulator.settings_writes == 1


async def test_rejected_write_times_out(link: VenusLink, simulator: VenusSimulator) -> None:
    with pytest.raises(WriteNotConfirmed):
        await link.write(SETTINGS, MAX_CURRENT, 20000, timeout=0.3)  # out of range: no echo
    with pytest.raises(WriteNotConfirmed):
        await link.write(ServiceKey("battery", 512), "/Soc", 51.5, timeout=0.3)  # read-only
    assert simulator.rejected_writes


async def test_write_needs_a_live_system(link: VenusLink, simulator: VenusSimulator) -> None:
    link._set_alive(False)  # noqa: SLF001 - as after a lost heartbeat
    with pytest.raises(VenusNotAlive):
        await link.write(SETTINGS, MAX_CURRENT, 10)
    assert simulator.settings_writes == 0


async def test_non_finite_values_are_never_written(link: VenusLink) -> None:
    with pytest.raises(ValueError, match="non-finite"):
        await link.write(SETTINGS, MAX_CURRENT, math.nan)


async def test_read_republishes(link: VenusLink, simulator: VenusSimulator) -> None:
    link.state.services[SETTINGS].pop(MAX_CURRENT)
    await link.read(SETTINGS, "/Settings/SystemSetup")
    await wait_until(lambda: MAX_CURRENT in link.state.services[SETTINGS])
