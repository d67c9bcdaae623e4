"""Broker-free unit tests: timers under a frozen clock, write coercion, parsing."""

from __future__ import annotations

import asyncio
import json

import pytest
from freezegun.api import FrozenDateTimeFactory

from simulator import BatteryConfig
from simulator.__main__ import build_parser, parse_broker
from simulator.flashmq import FlashMqPlugin, completion_echo
from simulator.items import Item, ItemStore, JsonValue, WriteRejected, dump_json
from simulator.services import build_settings_service, build_system_service
from simulator.timers import ClockTimer

PORTAL = "02fc00000001"


def fire_due_early(loop: asyncio.AbstractEventLoop, within: float) -> None:
    """What Home Assistant's async_fire_time_changed does: run due-soon handles early."""
    for handle in list(loop._scheduled):  # type: ignore[attr-defined]
        if not handle.cancelled() and handle.when() - loop.time() <= within:
            handle._run()
            handle.cancel()


async def test_clock_timer_ignores_early_fire(freezer: FrozenDateTimeFactory) -> None:
    """A handle run before its deadline re-arms instead of acting."""
    loop = asyncio.get_running_loop()
    fired: list[float] = []
    timer = ClockTimer(lambda: fired.append(loop.time()))
    timer.arm_in(1.0)
    fire_due_early(loop, within=1.5)
    assert fired == []
    assert timer.active
    freezer.tick(1.0)
    fire_due_early(loop, within=0.5)
    assert len(fired) == 1
    assert not timer.active


def make_plugin() -> tuple[FlashMqPlugin, list[tuple[str, bytes, bool]]]:
    store = ItemStore()
    store.add_service(build_system_service(PORTAL))
    store.add_service(build_settings_service())
    sent: list[tuple[str, bytes, bool]] = []
    plugin = FlashMqPlugin(
        PORTAL,
        store,
        lambda topic, payload, retain: sent.append((topic, payload, retain)),
        heartbeat_interval=3.0,
        keepalive_timeout=60.0,
    )
    return plugin, sent


async def test_keepalive_timeout_follows_the_clock(freezer: FrozenDateTimeFactory) -> None:
    """Under a frozen loop clock, early timer runs neither expire nor double the heartbeat."""
    loop = asyncio.get_running_loop()
    plugin, sent = make_plugin()

    def alive() -> bool:  # a call, so mypy does not narrow the property
        return plugin.alive

    try:
        plugin.handle_message(f"R/{PORTAL}/keepalive", b"")
        assert alive()
        beats = [s for s in sent if s[0].endswith("/heartbeat")]
        assert len(beats) == 1  # the first heartbeat comes with the keepalive
        for _ in range(5):
            fire_due_early(loop, within=100.0)
        assert alive()
        assert len([s for s in sent if s[0].endswith("/heartbeat")]) == 1
        freezer.tick(3.0)
        fire_due_early(loop, within=0.5)
        assert len([s for s in sent if s[0].endswith("/heartbeat")]) == 2
        freezer.tick(30.0)
        plugin.handle_message(
            f"R/{PORTAL}/keepalive", b'{"keepalive-options":["suppress-republish"]}'
        )
        freezer.tick(45.0)  # 75 s after the first keepalive, 45 s after the second
        fire_due_early(loop, within=0.5)
        assert alive()
        freezer.tick(16.0)
        fire_due_early(loop, within=0.5)
        assert not alive()
        sent.clear()
        freezer.tick(10.0)
        fire_due_early(loop, within=0.5)
        assert sent == []
    finally:
        plugin.close()


async def test_rate_limit_window_follows_the_clock(freezer: FrozenDateTimeFactory) -> None:
    """Three full publishes per second; the tokens come back after a second."""
    plugin, _ = make_plugin()
    try:
        for _ in range(4):
            plugin.handle_message(f"R/{PORTAL}/keepalive", b"")
        assert plugin.full_publish_count == 3
        freezer.tick(1.0)
        plugin.handle_message(f"R/{PORTAL}/keepalive", b"")
        assert plugin.full_publish_count == 4
    finally:
        plugin.close()


def test_item_coercion() -> None:
    """localsettings-like validation of written values."""
    setting = Item("/S", -1, minimum=-1, maximum=10000, writable=True, integer=True)
    assert setting.coerce("12") == 12
    assert setting.coerce(7.9) == 7
    assert setting.coerce(True) == 1
    bad_values: list[JsonValue] = [None, "abc", 20000, -2, [1], {"a": 1}, float("nan")]
    for bad in bad_values:
        with pytest.raises(WriteRejected):
            setting.coerce(bad)
    voltage = Item("/V", 0.0, minimum=0.0, maximum=80.0, writable=True)
    assert voltage.coerce(55) == 55.0
    assert isinstance(voltage.coerce(55), float)
    with pytest.raises(WriteRejected, match="read-only"):
        Item("/R", 1.0).coerce(2.0)
    name = Item("/N", "x", writable=True)
    assert name.coerce("y") == "y"
    with pytest.raises(WriteRejected):
        name.coerce(3)


def test_payload_encoding() -> None:
    """Compact, key-sorted JSON like nlohmann; NaN becomes null."""
    setting = Item("/S", 10, minimum=-1, maximum=10000)
    assert setting.payload() == b'{"max":10000,"min":-1,"value":10}'
    assert Item("/F", 280.0).payload() == b'{"value":280.0}'
    assert Item("/N", float("nan")).payload() == b'{"value":null}'
    assert dump_json({"b": [1, {"z": None}], "a": "x"}) == '{"a":"x","b":[1,{"z":null}]}'


def test_completion_echo_parsing() -> None:
    """Only a string echo inside keepalive-options counts; junk is tolerated."""
    assert completion_echo("") is None
    assert completion_echo("not json") is None
    assert completion_echo("[1]") is None
    options = {"keepalive-options": ["suppress-republish", {"full-publish-completed-echo": "t"}]}
    assert completion_echo(json.dumps(options)) == "t"
    assert completion_echo('{"keepalive-options":[{"full-publish-completed-echo":5}]}') is None


def test_battery_config_validation() -> None:
    """Unknown flavours and impossible cell counts are refused."""
    with pytest.raises(ValueError, match="flavour"):
        BatteryConfig(flavour="lfp")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"1\.\.24"):
        BatteryConfig(flavour="mqtt_battery", cells=25)
    assert BatteryConfig(flavour="mqtt_battery", instance=100).dbus_name.endswith(
        "mqtt_battery_100"
    )


def test_cli_arguments() -> None:
    """--broker host:port and the documented options parse."""
    assert parse_broker("127.0.0.1:1884") == ("127.0.0.1", 1884)
    assert parse_broker("venus.local") == ("venus.local", 1883)
    args = build_parser().parse_args(
        ["--broker", "10.0.0.2:1883", "--cells", "8", "--flavour", "mqtt_battery"]
    )
    assert args.broker == ("10.0.0.2", 1883)
    assert args.cells == 8
    assert args.flavour == "mqtt_battery"
