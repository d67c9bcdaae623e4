"""DVCC user limits: the bounds the numbers and services accept."""

from __future__ import annotations

import pytest

from custom_components.victron_balance.logic.dvcc_limits import (
    LimitBounds,
    checked_current,
    checked_voltage,
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


def test_charger_follow_check() -> None:
    from custom_components.victron_balance.logic.dvcc_limits import charger_follows

    assert charger_follows(20, 20.0)
    assert charger_follows(20, 12.0)  # the BMS may allow less: still following
    assert charger_follows(20, 20.5)  # rounding on the charger side
    assert not charger_follows(20, 20.6)
    assert not charger_follows(20, 70.0)
