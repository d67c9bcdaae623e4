"""Relay wear: 100k load / 1M dry operations (seed 004)."""

from __future__ import annotations

import json

import pytest

from custom_components.victron_balance.logic.balancer.wear import WearTracker


def test_remaining_life_formula() -> None:
    wear = WearTracker(3)
    for _ in range(1000):
        wear.record(1)
    for _ in range(10):
        wear.record(2, under_load=True)
    assert wear.remaining(1) == pytest.approx(1 - 1000 / 1e6)
    assert wear.remaining(2) == pytest.approx(1 - 10 / 1e5)
    assert wear.remaining(3) == 1.0
    assert wear.used(2) == pytest.approx(1e-4)


def test_warning_below_threshold_and_clamped_at_zero() -> None:
    wear = WearTracker(2, load_life=100, dry_life=1000)
    for _ in range(91):
        wear.record(1, under_load=True)
    assert wear.worn() == [1]
    for _ in range(20):
        wear.record(1, under_load=True)
    assert wear.remaining(1) == 0.0
    summary = wear.summary()
    assert summary[0] == {"relay": 1, "load": 111, "dry": 0, "remaining": 0.0, "warning": True}
    assert summary[1]["warning"] is False


def test_observe_adds_only_new_device_operations() -> None:
    wear = WearTracker(2)
    wear.observe(1, cycles=4, load_cycles=1)
    wear.observe(1, cycles=4, load_cycles=1)  # republished on reconnect: nothing new
    wear.observe(1, cycles=10, load_cycles=2)
    assert (wear.relays[0].load, wear.relays[0].dry) == (2, 8)


def test_observe_after_device_power_up_counts_from_zero() -> None:
    wear = WearTracker(1)
    wear.observe(1, cycles=100, load_cycles=0)
    wear.observe(1, cycles=6, load_cycles=1)  # the device restarted its counters
    assert (wear.relays[0].load, wear.relays[0].dry) == (1, 105)


def test_round_trip_keeps_counts_and_device_baseline() -> None:
    wear = WearTracker(2, warn_below=0.2)
    wear.observe(2, cycles=8, load_cycles=3)
    data = json.loads(json.dumps(wear.to_dict()))
    again = WearTracker.from_dict(data)
    assert again.to_dict() == wear.to_dict()
    again.observe(2, cycles=9, load_cycles=3)
    assert (again.relays[1].load, again.relays[1].dry) == (3, 6)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: WearTracker(0), "relay"),
        (lambda: WearTracker(2, load_life=0), "lives"),
        (lambda: WearTracker(2, warn_below=1.5), "warn_below"),
        (lambda: WearTracker(2).record(3), "out of range"),
        (lambda: WearTracker(2).observe(1, cycles=1, load_cycles=2), "exceed"),
        (lambda: WearTracker(2).observe(1, cycles=-1, load_cycles=0), "cycles"),
        (lambda: WearTracker.from_dict({"relays": [{"load": -1}]}), "load"),
    ],
)
def test_bad_input_is_refused(call: object, message: str) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=message):
        call()
