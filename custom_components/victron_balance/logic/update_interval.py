"""How often entity states are written: the *Update interval* option.

A GX publishes every cell voltage, power and current about once a second. Writing
each of them to Home Assistant costs CPU and a recorder row (and on a Raspberry Pi
the SD card pays for it), so an entity is written at most once per interval of its
pace, and only when what it shows changed at its display precision. A value that
changes after a quiet spell is written at once; the interval only spaces out the
writes of a value that keeps changing.

Control loops (top balance, hold, PV surplus, balancer) never read entity states:
they read the newest parsed values, so this option does not slow them down.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class UpdateInterval(StrEnum):
    """The presets of the option."""

    LIVE = "live"  # every change
    FAST = "fast"  # at most once a second
    NORMAL = "normal"  # 5 s for power, current and cells, 30 s for slow values
    ECONOMY = "economy"  # 30 s and 5 minutes


class Pace(StrEnum):
    """How quickly what an entity shows moves."""

    CELL = "cell"  # a cell voltage, and what is derived from the cells
    FAST = "fast"  # power, current, voltage
    SLOW = "slow"  # state of charge, temperature, amp-hours, durations, limits
    EVENT = "event"  # flags, states, choices, settings: written as they change


DEFAULT_UPDATE_INTERVAL = UpdateInterval.NORMAL
CELLS_WHILE_BALANCING_S = 1.0  # a top balance or the balancer runs: cells every second

# (power/current/cells, slow values) in seconds.
_SECONDS: dict[UpdateInterval, tuple[float, float]] = {
    UpdateInterval.LIVE: (0.0, 0.0),
    UpdateInterval.FAST: (1.0, 1.0),
    UpdateInterval.NORMAL: (5.0, 30.0),
    UpdateInterval.ECONOMY: (30.0, 300.0),
}


def write_interval(preset: UpdateInterval, pace: Pace, *, balancing: bool = False) -> float:
    """The shortest time between two writes of one entity, in seconds."""
    if pace is Pace.EVENT:
        return 0.0
    fast, slow = _SECONDS[preset]
    if pace is Pace.SLOW:
        return slow
    if pace is Pace.CELL and balancing:
        return min(fast, CELLS_WHILE_BALANCING_S)
    return fast


def intervals(preset: UpdateInterval, *, balancing: bool = False) -> dict[Pace, float]:
    """The interval of every pace (looked up per message, so computed once per flush)."""
    return {pace: write_interval(preset, pace, balancing=balancing) for pace in Pace}


def parse_update_interval(value: Any, default: UpdateInterval) -> UpdateInterval:
    """The option's preset; anything unknown (an older or damaged entry) is `default`."""
    try:
        return UpdateInterval(value)
    except ValueError:
        return default
