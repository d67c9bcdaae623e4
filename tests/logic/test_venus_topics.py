"""Venus topic parsing and building."""

from __future__ import annotations

import pytest

from custom_components.victron_balance.logic.venus_topics import (
    ItemTopic,
    PortalTopic,
    ServiceKey,
    TopicError,
    keepalive_topic,
    notify_topic,
    parse_notify_topic,
    read_topic,
    write_topic,
)


def test_item_topic_round_trip() -> None:
    parsed = parse_notify_topic("N/abc/battery/512/Voltages/Cell3")
    assert parsed == ItemTopic("abc", ServiceKey("battery", 512), "/Voltages/Cell3")
    assert notify_topic("abc", parsed.key, parsed.path) == "N/abc/battery/512/Voltages/Cell3"
    assert write_topic("abc", parsed.key, parsed.path) == "W/abc/battery/512/Voltages/Cell3"
    assert read_topic("abc", parsed.key, parsed.path) == "R/abc/battery/512/Voltages/Cell3"
    assert keepalive_topic("abc") == "R/abc/keepalive"


def test_portal_topic() -> None:
    assert parse_notify_topic("N/abc/heartbeat") == PortalTopic("abc", "heartbeat")


@pytest.mark.parametrize(
    "topic",
    [
        "W/abc/battery/512/Soc",  # not a notification
        "N//battery/512/Soc",  # empty portal
        "N/abc",  # too short
        "N/abc/battery/512",  # no path
        "N/abc/battery/x1/Soc",  # instance not a number
        "N/abc/battery/512/Soc//",  # empty path level
    ],
)
def test_malformed_topics_are_rejected(topic: str) -> None:
    with pytest.raises(TopicError):
        parse_notify_topic(topic)
