"""Behaviours 2-6: keepalive, full publish, rate limit, heartbeat, timeout."""

from __future__ import annotations

import asyncio
import itertools
import json
import time

from freezegun.api import FrozenDateTimeFactory

from simulator import VenusSimulator
from tests.simulator.conftest import SimFactory
from tests.simulator.helpers import PORTAL, Observer, elapse, wait_until

KEEPALIVE = f"R/{PORTAL}/keepalive"
DONE = f"N/{PORTAL}/full_publish_completed"
HEARTBEAT = f"N/{PORTAL}/heartbeat"
SERIAL = f"N/{PORTAL}/system/0/Serial"


def all_topics(sim: VenusSimulator) -> set[str]:
    return {
        f"N/{PORTAL}/{service.service_type}/{service.instance}{path}"
        for service in sim.store
        for path in service.items
    }


async def test_full_publish_sends_every_item_unsorted_then_completion(
    sim: VenusSimulator, observer: Observer
) -> None:
    """2: every item of every service, hash order, completion last with a unix ts."""
    observer.clear()
    done = await observer.keepalive()
    topics = [m.topic for m in observer.messages if m.topic != HEARTBEAT]
    assert topics[-1] == DONE
    body = topics[:-1]
    expected = all_topics(sim)
    assert len(body) == len(expected)
    assert set(body) == expected
    assert body != sorted(body)
    assert done.json().keys() == {"value"}
    assert isinstance(done.value, int)
    assert abs(done.value - time.time()) < 5
    assert sim.alive
    assert sim.full_publish_count == 1
    assert sim.keepalive_count == 1


async def test_full_publish_order_varies(sim: VenusSimulator, observer: Observer) -> None:
    """2: the order is hash-like, not a fixed listing a client could rely on."""
    observer.clear()
    await observer.keepalive()
    first = [m.topic for m in observer.messages if m.topic not in (HEARTBEAT, DONE)]
    observer.clear()
    await observer.keepalive()
    second = [m.topic for m in observer.messages if m.topic not in (HEARTBEAT, DONE)]
    assert set(first) == set(second)
    assert first != second


async def test_legacy_serial_read_is_a_keepalive(sim: VenusSimulator, observer: Observer) -> None:
    """2: R/<id>/system/0/Serial also triggers a full publish."""
    observer.clear()
    await observer.publish(f"R/{PORTAL}/system/0/Serial")
    await observer.wait_topic(DONE)
    assert sim.alive
    assert sim.full_publish_count == 1
    assert observer.on(SERIAL)


async def test_completion_echoes_token(sim: VenusSimulator, observer: Observer) -> None:
    """3: full-publish-completed-echo comes back in the completion message."""
    options = {"keepalive-options": [{"full-publish-completed-echo": "abc"}]}
    done = await observer.keepalive(json.dumps(options))
    assert done.json() == {"full-publish-completed-echo": "abc", "value": done.value}
    assert done.payload == b'{"full-publish-completed-echo":"abc","value":%d}' % done.value


async def test_suppress_republish_keeps_alive_without_full_publish(
    sim: VenusSimulator, observer: Observer
) -> None:
    """3: suppress-republish (alone or combined with an echo) gives no full publish."""
    observer.clear()
    await observer.publish(KEEPALIVE, json.dumps({"keepalive-options": ["suppress-republish"]}))
    await wait_until(lambda: sim.alive)
    combined = {"keepalive-options": [{"full-publish-completed-echo": "x"}, "suppress-republish"]}
    await observer.publish(KEEPALIVE, json.dumps(combined))
    await wait_until(lambda: sim.keepalive_count == 2)
    await observer.quiet()  # a full publish would have been on its way by now
    assert sim.full_publish_count == 0
    assert observer.on(DONE) == []
    assert observer.topics_seen() <= {HEARTBEAT}


async def test_keepalive_restarts_alive_window(
    freezer: FrozenDateTimeFactory, make_sim: SimFactory, observer: Observer
) -> None:
    """3: any keepalive, suppressed or not, restarts the window."""
    sim = await make_sim(keepalive_timeout=0.4)
    for count in range(1, 5):
        await observer.publish(KEEPALIVE, '{"keepalive-options":["suppress-republish"]}')
        await wait_until(lambda c=count: sim.keepalive_count == c)
        await elapse(freezer, 0.25)
    assert sim.alive  # 1.0 s after the first keepalive, 0.25 s after the last
    await elapse(freezer, 0.2)
    assert not sim.alive


async def test_full_publish_rate_limited_to_three_per_second(
    freezer: FrozenDateTimeFactory, sim: VenusSimulator, observer: Observer
) -> None:
    """4: the 4th and 5th keepalive within a second are dropped silently."""
    for _ in range(5):
        await observer.publish(KEEPALIVE)
    await wait_until(lambda: sim.keepalive_count == 5)
    await observer.quiet()
    assert len(observer.on(DONE)) == 3
    assert sim.full_publish_count == 3
    assert sim.rate_limited_keepalives == 2
    await elapse(freezer, 0.9)
    await observer.publish(KEEPALIVE)  # still within the second
    await wait_until(lambda: sim.rate_limited_keepalives == 3)
    await elapse(freezer, 0.15)
    await observer.keepalive()
    assert sim.full_publish_count == 4


async def test_rate_limited_keepalive_still_refreshes_alive(
    freezer: FrozenDateTimeFactory, make_sim: SimFactory, observer: Observer
) -> None:
    """4: as in dbus-flashmq's handle_keepalive, only the full publish is dropped."""
    sim = await make_sim(keepalive_timeout=0.8)
    for _ in range(3):
        await observer.publish(KEEPALIVE)
    await wait_until(lambda: sim.full_publish_count == 3)
    await elapse(freezer, 0.3)
    await observer.publish(KEEPALIVE)
    await wait_until(lambda: sim.rate_limited_keepalives == 1)
    await elapse(freezer, 0.65)  # past the first window, inside the refreshed one
    assert sim.alive
    assert sim.full_publish_count == 3
    await elapse(freezer, 0.2)
    assert not sim.alive


async def test_heartbeat_only_while_alive(
    freezer: FrozenDateTimeFactory, sim: VenusSimulator, observer: Observer
) -> None:
    """5: N/<id>/heartbeat {"value":<ts>} every heartbeat_interval while alive."""
    await elapse(freezer, 0.3)
    assert observer.on(HEARTBEAT) == []
    await observer.keepalive()
    observer.clear()
    await elapse(freezer, 0.4)
    beats = observer.on(HEARTBEAT)
    assert 3 <= len(beats) <= 4
    assert all(isinstance(b.value, int) and abs(b.value - time.time()) < 5 for b in beats)
    assert all(b.payload == b'{"value":%d}' % b.value and not b.retain for b in beats)
    gaps = [b.at - a.at for a, b in itertools.pairwise(beats)]
    # Every 0.1 s, give or take a 0.01 s step of the test's clock.
    assert all(0.089 <= gap <= 0.111 for gap in gaps), gaps


async def test_all_traffic_stops_after_keepalive_timeout(
    freezer: FrozenDateTimeFactory, make_sim: SimFactory, observer: Observer
) -> None:
    """6: after the timeout no N/ at all (heartbeat included, no nulls); Serial stays."""
    sim = await make_sim(keepalive_timeout=0.5)
    sent_at = asyncio.get_running_loop().time()
    await observer.keepalive()
    await elapse(freezer, 0.6)
    assert not sim.alive
    last_beat = observer.on(HEARTBEAT)[-1]
    assert 0.39 <= last_beat.at - sent_at <= 0.51
    observer.clear()
    sim.set_value("battery", 512, "/Dc/0/Current", 12.5)
    sim.set_value("system", 0, "/Dc/Pv/Power", 1500.0)
    await elapse(freezer, 0.3)
    assert observer.messages == []
    assert sim.get_value("system", 0, "/Dc/Battery/Current") == 12.5
