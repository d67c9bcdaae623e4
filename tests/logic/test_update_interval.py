"""The update-interval presets: how often each pace may be written."""

from __future__ import annotations

import pytest

from custom_components.victron_balance.logic.update_interval import (
    CELLS_WHILE_BALANCING_S,
    DEFAULT_UPDATE_INTERVAL,
    Pace,
    UpdateInterval,
    intervals,
    parse_update_interval,
    write_interval,
)


@pytest.mark.parametrize(
    ("preset", "fast", "slow"),
    [
        (UpdateInterval.LIVE, 0.0, 0.0),
        (UpdateInterval.FAST, 1.0, 1.0),
        (UpdateInterval.NORMAL, 5.0, 30.0),
        (UpdateInterval.ECONOMY, 30.0, 300.0),
    ],
)
def test_presets(preset: UpdateInterval, fast: float, slow: float) -> None:
    assert write_interval(preset, Pace.FAST) == fast
    assert write_interval(preset, Pace.CELL) == fast
    assert write_interval(preset, Pace.SLOW) == slow
    assert write_interval(preset, Pace.EVENT) == 0.0  # flags and states never wait


def test_cells_every_second_while_balancing_never_slower_than_the_preset() -> None:
    assert write_interval(UpdateInterval.NORMAL, Pace.CELL, balancing=True) == 1.0
    assert write_interval(UpdateInterval.ECONOMY, Pace.CELL, balancing=True) == 1.0
    assert write_interval(UpdateInterval.LIVE, Pace.CELL, balancing=True) == 0.0
    # Only the cells: a power stays at its interval.
    assert write_interval(UpdateInterval.NORMAL, Pace.FAST, balancing=True) == 5.0
    assert CELLS_WHILE_BALANCING_S == 1.0


def test_intervals_cover_every_pace() -> None:
    table = intervals(UpdateInterval.NORMAL, balancing=True)
    assert table == {Pace.CELL: 1.0, Pace.FAST: 5.0, Pace.SLOW: 30.0, Pace.EVENT: 0.0}


def test_parse_falls_back_to_the_default() -> None:
    assert DEFAULT_UPDATE_INTERVAL is UpdateInterval.NORMAL
    assert parse_update_interval("economy", UpdateInterval.NORMAL) is UpdateInterval.ECONOMY
    assert parse_update_interval(None, UpdateInterval.NORMAL) is UpdateInterval.NORMAL
    assert parse_update_interval("hourly", UpdateInterval.FAST) is UpdateInterval.FAST
