"""Behaviours 14-18: W/ and R/ handling."""

from __future__ import annotations

import logging

import pytest

from simulator import VenusSimulator
from tests.simulator.conftest import SimFactory
from tests.simulator.helpers import PORTAL, Observer, wait_until

MCC = "settings/0/Settings/SystemSetup/MaxChargeCurrent"
W_MCC = f"W/{PORTAL}/{MCC}"
N_MCC = f"N/{PORTAL}/{MCC}"
HEARTBEAT = f"N/{PORTAL}/heartbeat"


BAD_WRITES = [
    (W_MCC, b"not json", "payload is not JSON"),
    (W_MCC, b'{"val": 5}', "no 'value' in payload"),
    (W_MCC, b"5", "payload is not a JSON object"),
    (W_MCC, b"", "empty payload"),
    (W_MCC, b'{"value": NaN}', "payload is not JSON"),
    (f"W/{PORTAL}/settings/0/Settings/Nope", b'{"value": 1}', "unknown path"),
    (f"W/{PORTAL}/battery/9/Soc", b'{"value": 1}', "unknown service"),
    (f"W/0123456789ab/{MCC}", b'{"value": 10}', "wrong portal id"),
    (W_MCC, b'{"value": 20000}', "out of range"),
    (W_MCC, b'{"value": -2}', "out of range"),
    (W_MCC, b'{"value": null}', "null value"),
    (W_MCC, b'{"value": "abc"}', "not a number"),
    (f"W/{PORTAL}/battery/512/Dc/0/Voltage", b'{"value": 50}', "read-only path"),
]


async def test_rejected_writes_are_silent_logged_and_counted(
    sim: VenusSimulator, observer: Observer, caplog: pytest.LogCaptureFixture
) -> None:
    """14: no echo, no error topic; logged at INFO and listed in rejected_writes."""
    caplog.set_level(logging.INFO, logger="simulator")
    await observer.keepalive()  # alive, so an accepted write would be echoed
    observer.clear()
    for count, (topic, payload, reason) in enumerate(BAD_WRITES, start=1):
        await observer.publish(topic, payload)
        await wait_until(lambda n=count: len(sim.rejected_writes) == n)  # type: ignore[misc]
        assert sim.rejected_writes[-1][0] == topic
        assert sim.rejected_writes[-1][1].startswith(reason), (payload, sim.rejected_writes[-1])
        logged = [
            r for r in caplog.records if r.levelno == logging.INFO and topic in r.getMessage()
        ]
        assert logged, topic
    await observer.quiet()
    assert [m for m in observer.messages if m.topic != HEARTBEAT] == []
    assert sim.received_writes == []
    assert sim.settings_writes == 0
    assert sim.get_value("settings", 0, "/Settings/SystemSetup/MaxChargeCurrent") == -1
    assert sim.get_value("battery", 512, "/Dc/0/Voltage") != 50


async def test_accepted_write_is_echoed_with_min_max(
    sim: VenusSimulator, observer: Observer
) -> None:
    """15: the echo is the only confirmation; an unchanged value is not echoed again."""
    await observer.keepalive()
    observer.clear()
    await observer.publish(W_MCC, '{"value": 10}')
    echo = await observer.wait_topic(N_MCC)
    assert echo.payload == b'{"max":10000,"min":-1,"value":10}'
    assert sim.received_writes == [(W_MCC, 10)]
    assert sim.settings_writes == 1
    # velib: SetValue of the current value returns OK without PropertiesChanged.
    await observer.publish(W_MCC, '{"value": 10}')
    await wait_until(lambda: len(sim.received_writes) == 2)
    await observer.quiet()
    assert len(observer.on(N_MCC)) == 1
    assert sim.settings_writes == 1


async def test_write_while_not_alive_is_applied_silently_and_reads_answer(
    sim: VenusSimulator, observer: Observer
) -> None:
    """16: applied but not echoed; R/ answers alive or not, sub-paths give every leaf."""
    assert not sim.alive
    observer.clear()
    await observer.publish(W_MCC, '{"value": 25}')
    await wait_until(
        lambda: sim.get_value("settings", 0, "/Settings/SystemSetup/MaxChargeCurrent") == 25
    )
    await observer.quiet()
    assert observer.messages == []
    assert sim.settings_writes == 1

    await observer.publish(f"R/{PORTAL}/{MCC}")
    echo = await observer.wait_topic(N_MCC)
    assert echo.payload == b'{"max":10000,"min":-1,"value":25}'
    assert echo.retain is False

    observer.clear()
    await observer.publish(f"R/{PORTAL}/settings/0/Settings/SystemSetup")
    settings = sim.store.service("settings", 0)
    assert settings is not None
    expected = {
        f"N/{PORTAL}/settings/0{path}"
        for path in settings.items
        if path.startswith("/Settings/SystemSetup/")
    }
    assert len(expected) >= 4
    await wait_until(lambda: observer.topics_seen() == expected)
    assert not sim.alive


async def test_read_of_unknown_path_is_silent(sim: VenusSimulator, observer: Observer) -> None:
    """16: a read that matches nothing produces nothing."""
    await observer.publish(f"R/{PORTAL}/settings/0/Settings/Nope")
    await observer.publish(f"R/{PORTAL}/battery/9/Soc")
    await observer.publish(f"R/{PORTAL}/battery/512")  # whole service is fine though
    await wait_until(lambda: bool(observer.on(f"N/{PORTAL}/battery/512/Soc")))
    assert all("/battery/512/" in m.topic for m in observer.messages)


COERCIONS: list[tuple[str, str, float]] = [
    ("Settings/SystemSetup/MaxChargeCurrent", '{"value": "12"}', 12),
    ("Settings/SystemSetup/MaxChargeCurrent", '{"value": 7.5}', 7),
    ("Settings/Services/Bol", '{"value": 1.9}', 1),
    ("Settings/SystemSetup/BmsInstance", '{"value": 512.7}', 512),
    ("Settings/SystemSetup/MaxChargeVoltage", '{"value": "55.2"}', 55.2),
    ("Settings/SystemSetup/MaxChargeVoltage", '{"value": 55}', 55.0),
]


async def test_write_coercion(sim: VenusSimulator, observer: Observer) -> None:
    """17: numeric strings are converted; floats on integer settings are truncated."""
    await observer.keepalive()
    for path, payload, expected in COERCIONS:
        topic = f"N/{PORTAL}/settings/0/{path}"
        before = len(observer.on(topic))
        await observer.publish(f"W/{PORTAL}/settings/0/{path}", payload)
        echo = await observer.wait_topic(topic, count=before + 1)
        value = sim.get_value("settings", 0, "/" + path)
        assert value == expected, payload
        assert type(value) is type(expected), payload
        assert echo.value == expected
        assert type(echo.value) is type(expected)


async def test_retained_write_is_processed_and_replayed(
    make_sim: SimFactory, observer: Observer
) -> None:
    """18: a retained W/ is processed, and the broker replays it to a later subscriber."""
    await observer.publish(W_MCC, '{"value": 33}', retain=True)
    sim = await make_sim()
    await wait_until(
        lambda: sim.get_value("settings", 0, "/Settings/SystemSetup/MaxChargeCurrent") == 33
    )
    assert sim.received_writes == [(W_MCC, 33)]
    await observer.publish(W_MCC, '{"value": 44}', retain=True)
    await wait_until(lambda: len(sim.received_writes) == 2)
    assert sim.received_writes[-1] == (W_MCC, 44)
