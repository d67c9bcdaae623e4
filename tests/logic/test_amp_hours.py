"""Amp-hour tracking strategy."""

from __future__ import annotations

import pytest

from custom_components.victron_balance.logic.balancer.amp_hours import (
    AmpHourTracker,
    PackMode,
    pack_mode,
)
from custom_components.victron_balance.logic.balancer.lee_hart import LIFEPO4_CELL


def test_mode_from_current() -> None:
    assert pack_mode(20) is PackMode.CHARGING
    assert pack_mode(-5) is PackMode.DISCHARGING
    assert pack_mode(0.4) is PackMode.IDLE


def test_counting_stays_within_capacity() -> None:
    tracker = AmpHourTracker.from_soc([100.0, 90.0], [50.0, 50.0])
    assert tracker.contents_ah == [50.0, 45.0]
    tracker.pack_current(10.0, 3600)  # +10 Ah each
    assert tracker.contents_ah == [60.0, 55.0]
    tracker.pack_current(100.0, 3600)
    assert tracker.contents_ah == [100.0, 90.0]  # full, not beyond
    tracker.pack_current(-200.0, 3600)
    assert tracker.contents_ah == [0.0, 0.0]
    tracker.balancer_charge(1, 2.0, 1800)
    assert tracker.contents_ah == [0.0, 1.0]
    tracker.mark_full(0)
    assert tracker.contents_ah[0] == 100.0


def test_discharging_aims_for_equal_remaining_charge() -> None:
    tracker = AmpHourTracker([280.0] * 3, [100.0, 98.0, 99.5])
    result = tracker.plan(PackMode.DISCHARGING, balancer_amps=2.0, max_minutes=120)
    assert result.minutes == pytest.approx([0.0, 60.0, 15.0])  # 2 Ah at 2 A = 60 min


def test_charging_aims_for_full_together() -> None:
    # Cell 0 is small (will be full first); the others need extra to catch up.
    tracker = AmpHourTracker([270.0, 280.0, 280.0], [200.0, 200.0, 209.0])
    result = tracker.plan(PackMode.CHARGING, balancer_amps=2.0, max_minutes=600)
    headroom = [70.0, 80.0, 71.0]
    assert result.minutes == pytest.approx([(h - 70.0) / 2.0 * 60 for h in headroom])
    capped = tracker.plan(PackMode.CHARGING, balancer_amps=2.0, max_minutes=60)
    assert max(capped.minutes) == 60


def test_idle_balances_on_voltage() -> None:
    tracker = AmpHourTracker([280.0, 280.0], [200.0, 200.0])
    result = tracker.plan(
        PackMode.IDLE, 2.0, 60, voltages=[3.45, 3.40], voltage_parameters=LIFEPO4_CELL
    )
    assert result.minutes[0] == 0.0
    assert result.minutes[1] > 0
    with pytest.raises(ValueError, match="idle balancing needs"):
        tracker.plan(PackMode.IDLE, 2.0, 60)


@pytest.mark.parametrize(
    ("capacities", "contents"),
    [([], []), ([280.0], [1.0, 2.0]), ([0.0], [0.0]), ([280.0], [float("nan")])],
)
def test_bad_setup_is_refused(capacities: list[float], contents: list[float]) -> None:
    with pytest.raises(ValueError, match=r"must be|needed"):
        AmpHourTracker(capacities, contents)


def test_bad_inputs_are_refused() -> None:
    tracker = AmpHourTracker([280.0], [100.0])
    with pytest.raises(ValueError, match="current"):
        tracker.pack_current(float("nan"), 1)
    with pytest.raises(ValueError, match="duration"):
        tracker.balancer_charge(0, 1.0, float("inf"))
    with pytest.raises(ValueError, match="balancer current"):
        tracker.plan(PackMode.CHARGING, 0.0, 60)
