"""DVCC user limits: bounds, targets and the flash write budget."""

from __future__ import annotations

import pytest

from custom_components.victron_balance.logic.dvcc_limits import (
    ChargeMode,
    DvccTarget,
    LimitBounds,
    WriteBudget,
    checked_current,
    checked_voltage,
    dvcc_target,
)

BOUNDS = LimitBounds.for_pack(16, 2.5, 3.65, 100)


def test_bounds_from_the_pack() -> None:
    assert LimitBounds(100, 40.0, 58.4) == BOUNDS
    with pytest.raises(ValueError, match="invalid pack"):
        LimitBounds.for_pack(0, 2.5, 3.65, 100)
    with pytest.raises(ValueError, match="invalid pack"):
        LimitBounds.for_pack(16, 3.65, 2.5, 100)


def test_current_is_truncated_like_venus_and_bounded() -> None:
    assert checked_current(7.5, BOUNDS) == 7
    assert checked_current(0, BOUNDS) == 0
    for bad in (-1, 100.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="charge current"):
            checked_current(bad, BOUNDS)


def test_voltage_is_bounded() -> None:
    assert checked_voltage(55.2049, BOUNDS) == 55.2
    for bad in (39.9, 58.41, float("nan")):
        with pytest.raises(ValueError, match="charge voltage"):
            checked_voltage(bad, BOUNDS)


def test_targets() -> None:
    assert dvcc_target(ChargeMode.FOLLOW_BMS, 3, 50, BOUNDS) == DvccTarget(-1, 0.0)
    assert dvcc_target(ChargeMode.LIMITED, 30.9, 55.2, BOUNDS) == DvccTarget(30, 55.2)
    with pytest.raises(ValueError, match="charge voltage"):
        dvcc_target(ChargeMode.LIMITED, 30, 70, BOUNDS)


def test_write_budget() -> None:
    budget = WriteBudget(min_interval_s=30)
    assert budget.wait_s("a", 0) == 0
    budget.record("a", 0)
    assert budget.wait_s("a", 10) == 20
    assert budget.wait_s("b", 10) == 0  # each setting has its own spacing
    assert budget.wait_s("a", 31) == 0
    budget.record("a", 40)
    budget.record("b", 41)
    assert budget.per_hour(100) == 3
    assert budget.per_hour(3601) == 2  # the first write is older than an hour
    assert budget.total == 3


def test_charger_follow_check() -> None:
    from custom_components.victron_balance.logic.dvcc_limits import charger_follows

    assert charger_follows(20, 20.0)
    assert charger_follows(20, 12.0)  # the BMS may allow less: still following
    assert charger_follows(20, 20.5)  # rounding on the charger side
    assert not charger_follows(20, 20.6)
    assert not charger_follows(20, 70.0)
