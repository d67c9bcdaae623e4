"""The MQTT session against a real broker: connect, reconnect, resubscribe, errors."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator
from unittest.mock import patch

import aiomqtt
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from custom_components.victron_balance.transport.mqtt_session import (
    BrokerSettings,
    CannotConnect,
    InvalidAuth,
    MqttSession,
    PublishFailed,
    SessionClient,
    SessionWill,
    topic_matcher,
)
from tests.broker import MosquittoBroker
from tests.helpers import wait_until
from tests.simulator.helpers import Observer


@pytest.fixture
async def session(mqtt_broker: MosquittoBroker) -> AsyncIterator[MqttSession]:
    session = MqttSession(
        BrokerSettings(mqtt_broker.host, mqtt_broker.port), name="test", min_backoff=0.05
    )
    await session.start()
    yield session
    await session.close()


async def publisher(broker: MosquittoBroker, topic: str, payload: str) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.publish(topic, payload)


async def test_messages_reach_matching_subscribers(
    session: MqttSession, mqtt_broker: MosquittoBroker
) -> None:
    got: list[tuple[str, bytes]] = []
    await session.subscribe("a/+/c", lambda topic, payload: got.append((topic, payload)))
    await publisher(mqtt_broker, "a/b/c", "1")
    await publisher(mqtt_broker, "x/y", "2")
    await wait_until(lambda: got == [("a/b/c", b"1")])


async def test_unsubscribe_stops_delivery(
    session: MqttSession, mqtt_broker: MosquittoBroker
) -> None:
    got: list[bytes] = []
    unsubscribe = await session.subscribe("t", lambda _topic, payload: got.append(payload))
    unsubscribe()
    unsubscribe()  # twice is harmless
    other: list[bytes] = []
    await session.subscribe("t", lambda _topic, payload: other.append(payload))
    await publisher(mqtt_broker, "t", "x")
    await wait_until(lambda: other == [b"x"])
    assert got == []


async def test_failing_handler_does_not_end_the_loop(
    session: MqttSession, mqtt_broker: MosquittoBroker, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_topic: str, _payload: bytes) -> None:
        raise ValueError("handler bug")

    got: list[bytes] = []
    await session.subscribe("t", broken)
    await session.subscribe("t", lambda _topic, payload: got.append(payload))
    await publisher(mqtt_broker, "t", "1")
    await publisher(mqtt_broker, "t", "2")
    await wait_until(lambda: got == [b"1", b"2"])
    assert "handler for t failed" in caplog.text


@pytest.mark.usefixtures("tolerate_aiomqtt_socket_race")
async def test_reconnects_and_restores_subscriptions(
    session: MqttSession, mqtt_broker: MosquittoBroker
) -> None:
    states: list[bool] = []
    session.add_connection_listener(states.append)
    got: list[bytes] = []
    await session.subscribe("t", lambda _topic, payload: got.append(payload))
    mqtt_broker.stop()
    await wait_until(lambda: not session.connected)
    with pytest.raises(PublishFailed):
        await session.publish("t", "while down")
    assert session.publish_failures == 1
    mqtt_broker.start()
    await wait_until(lambda: session.connected, timeout=15)
    await publisher(mqtt_broker, "t", "after")
    await wait_until(lambda: got == [b"after"])
    assert states == [False, True]
    assert session.reconnects >= 1


async def test_first_connection_failure_is_raised(mqtt_broker: MosquittoBroker) -> None:
    mqtt_broker.stop()
    session = MqttSession(BrokerSettings(mqtt_broker.host, mqtt_broker.port), name="test")
    with pytest.raises(CannotConnect):
        await session.start()
    assert not session.connected


async def test_rejected_credentials(auth_broker: MosquittoBroker) -> None:
    settings = BrokerSettings(auth_broker.host, auth_broker.port, username="venus", password="no")
    with pytest.raises(InvalidAuth):
        await MqttSession(settings, name="test").start()
    good = MqttSession(
        BrokerSettings(auth_broker.host, auth_broker.port, username="venus", password="secret"),
        name="test",
    )
    await good.start()
    assert good.connected
    await good.close()


async def test_publish_error_is_surfaced(session: MqttSession) -> None:
    with (
        patch.object(SessionClient, "publish", side_effect=aiomqtt.MqttError("socket gone")),
        pytest.raises(PublishFailed, match="socket gone"),
    ):
        await session.publish("t", "x")
    assert session.publish_failures == 1


async def test_subscribe_error_is_logged_and_retried_on_reconnect(
    session: MqttSession, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING),
        patch("aiomqtt.Client.subscribe", side_effect=aiomqtt.MqttError("refused")),
    ):
        await session.subscribe("t", lambda _t, _p: None)
    assert "subscribing to t failed" in caplog.text


async def test_close_twice(session: MqttSession) -> None:
    await session.close()
    await session.close()
    assert not session.connected


# --- the Last Will (issue 10 item 6) ------------------------------------------------

STATUS = "victron_balance/test/status"


async def test_will_online_on_connect_offline_when_the_connection_dies(
    mqtt_broker: MosquittoBroker,
) -> None:
    """Crash (socket gone, no DISCONNECT): the broker says `offline`; back: `online`."""
    observer = Observer(mqtt_broker.host, mqtt_broker.port, topics=(STATUS,))
    await observer.start()
    session = MqttSession(
        BrokerSettings(mqtt_broker.host, mqtt_broker.port),
        name="test",
        min_backoff=0.05,
        will=SessionWill(STATUS),
    )
    try:
        await session.start()
        await wait_until(lambda: observer.on(STATUS) and observer.last(STATUS).payload == b"online")
        assert observer.last(STATUS).retain
        client = session._client
        assert client is not None
        client._client.socket().shutdown(socket.SHUT_RDWR)  # paho's public socket()
        await wait_until(lambda: observer.last(STATUS).payload == b"offline")
        assert observer.last(STATUS).retain
        await wait_until(lambda: session.connected and observer.last(STATUS).payload == b"online")
        # A stale `offline` (the broker noticing an old connection late) is corrected.
        await publisher(mqtt_broker, STATUS, "offline")
        await wait_until(lambda: observer.last(STATUS).payload == b"online")
        await session.close()
        await wait_until(lambda: observer.last(STATUS).payload == b"offline")  # goodbye
    finally:
        await session.close()
        await observer.stop()


async def test_no_will_no_status(session: MqttSession, mqtt_broker: MosquittoBroker) -> None:
    observer = Observer(mqtt_broker.host, mqtt_broker.port, topics=("victron_balance/#",))
    await observer.start()
    try:
        await session.publish("victron_balance/marker", "1")
        await wait_until(lambda: bool(observer.on("victron_balance/marker")))
        assert session.will is None
        assert [m.topic for m in observer.messages] == ["victron_balance/marker"]
    finally:
        await observer.stop()


# --- reading at wire speed (issue 13) ------------------------------------------------


@pytest.mark.parametrize(
    ("topic_filter", "matching", "other"),
    [
        ("a/b", ["a/b"], ["a/b/c", "a", "a/bb"]),
        ("N/p1/#", ["N/p1/battery/512/Soc", "N/p1"], ["N/p2/x", "N/p1x/y"]),
        ("balancer/+/info", ["balancer/b1/info"], ["balancer/b1/state", "balancer/info"]),
        ("a/+/c/#", ["a/b/c", "a/b/c/d/e"], ["a/b/x", "a/b"]),
        ("#", ["a", "a/b"], ["$SYS/broker/uptime"]),
        ("+/x", ["a/x"], ["$SYS/x", "a/x/y"]),
        ("N/+/system/0/Serial", ["N/p1/system/0/Serial"], ["N/p1/system/0/Serial/x", "N/p1"]),
        ("a/+/+", ["a/b/c", "a//"], ["a/b", "a/b/c/d", "b/b/c"]),
    ],
)
def test_topic_matcher(topic_filter: str, matching: list[str], other: list[str]) -> None:
    matches = topic_matcher(topic_filter)
    assert all(matches(topic) for topic in matching)
    assert not any(matches(topic) for topic in other)
    for topic in matching + other:  # the same answers as aiomqtt's own matcher
        if not topic.startswith("$"):  # (which lets wildcards match $SYS topics)
            assert matches(topic) == aiomqtt.Topic(topic).matches(topic_filter)


LEVELS = st.sampled_from(["a", "b", "ab", ""])


@given(
    filter_levels=st.lists(st.one_of(LEVELS, st.just("+")), min_size=1, max_size=5),
    hash_at_end=st.booleans(),
    topic_levels=st.lists(LEVELS, min_size=1, max_size=6),
)
def test_topic_matcher_agrees_with_aiomqtt(
    filter_levels: list[str], hash_at_end: bool, topic_levels: list[str]
) -> None:
    """Any filter of literal, `+` and a final `#` levels: the same answer as aiomqtt."""
    topic_filter = "/".join([*filter_levels, "#"] if hash_at_end else filter_levels)
    topic = "/".join(topic_levels)
    assume(topic and topic_filter)  # MQTT has no empty topic and no empty filter
    assert topic_matcher(topic_filter)(topic) == aiomqtt.Topic(topic).matches(topic_filter)


async def test_messages_are_handled_as_they_are_read_not_queued(
    session: MqttSession, mqtt_broker: MosquittoBroker
) -> None:
    """No queue between the socket and the handlers: nothing can pile up behind them."""
    client = session._client
    assert client is not None
    backlog: list[int] = []
    await session.subscribe(
        "burst/#", lambda _topic, _payload: backlog.append(len(client.messages))
    )
    async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as sender:
        for number in range(3000):
            await sender.publish(f"burst/{number % 7}", str(number))
    await wait_until(lambda: len(backlog) == 3000)
    assert set(backlog) == {0}
