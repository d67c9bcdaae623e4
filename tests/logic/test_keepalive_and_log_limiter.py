"""Keepalive plan and rate-limited logging."""

from __future__ import annotations

import json
import logging

import pytest

from custom_components.victron_balance.logic.keepalive import KeepalivePlan
from custom_components.victron_balance.logic.log_limiter import RateLimitedLogger


def test_first_keepalive_is_empty_full_publish() -> None:
    first = KeepalivePlan.first()
    assert first.payload == ""
    assert first.full_publish


def test_regular_keepalives_suppress_republish_with_periodic_full_publish() -> None:
    plan = KeepalivePlan("vb", full_every=3)
    sent = [plan.next() for _ in range(6)]
    options = [json.loads(keepalive.payload)["keepalive-options"] for keepalive in sent]
    assert options[0] == [{"full-publish-completed-echo": "vb-1"}, "suppress-republish"]
    assert options[2] == [{"full-publish-completed-echo": "vb-3"}]
    assert [keepalive.full_publish for keepalive in sent] == [False, False, True] * 2
    assert sent[5].token == "vb-6"


def test_rate_limited_logger(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    limiter = RateLimitedLogger(logging.getLogger("test"), interval=60, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING):
        assert limiter.warning("topic/a", "bad a")
        assert not limiter.warning("topic/a", "bad a again")
        assert limiter.warning("topic/b", "bad b")  # another category is not hidden
        now[0] = 61
        assert limiter.warning("topic/a", "bad a later")
    messages = [record.getMessage() for record in caplog.records]
    assert messages == ["bad a", "bad b", "bad a later (1 similar messages suppressed)"]
