"""Amp-hour tracking: Lee Hart's "what we really want" (seed 004).

A voltage-based balancer is always somewhat wrong. Track the charge in each cell
instead: the pack current flows through every cell, the balancer adds charge to one.
Then, while discharging, aim for the same remaining amp-hours in every cell (they all
run empty together); while charging, aim for all cells to reach full together; while
idle, aim for equal voltage (the plain algorithm), since it is unknown what comes next.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from .lee_hart import ChargePlan, LeeHartParameters, plan

IDLE_BAND_AMPS = 1.0  # below this pack current the pack counts as resting


class PackMode(StrEnum):
    """What the pack is doing, from the sign of its current."""

    CHARGING = "charging"
    DISCHARGING = "discharging"
    IDLE = "idle"


def pack_mode(current_amps: float, idle_band: float = IDLE_BAND_AMPS) -> PackMode:
    """Positive current charges the pack (Victron's sign convention)."""
    if current_amps > idle_band:
        return PackMode.CHARGING
    if current_amps < -idle_band:
        return PackMode.DISCHARGING
    return PackMode.IDLE


def _finite(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{what} must be a number")
    return float(value)


@dataclass
class AmpHourTracker:
    """Estimated charge (Ah) in each cell, kept within 0..capacity."""

    capacities_ah: list[float]
    contents_ah: list[float]

    def __post_init__(self) -> None:
        if not self.capacities_ah or len(self.capacities_ah) != len(self.contents_ah):
            raise ValueError("one capacity and one content per cell are needed")
        if any(not math.isfinite(c) or c <= 0 for c in self.capacities_ah):
            raise ValueError("capacities must be positive numbers")
        self.contents_ah = [
            min(max(_finite(content, "content"), 0.0), capacity)
            for content, capacity in zip(self.contents_ah, self.capacities_ah, strict=True)
        ]

    @classmethod
    def from_soc(
        cls, capacities_ah: Sequence[float], soc_percent: Sequence[float]
    ) -> AmpHourTracker:
        """Start from per-cell state-of-charge estimates."""
        return cls(
            list(capacities_ah),
            [cap * soc / 100.0 for cap, soc in zip(capacities_ah, soc_percent, strict=True)],
        )

    def pack_current(self, amps: float, seconds: float) -> None:
        """The same current through every cell (positive charges)."""
        delta = _finite(amps, "current") * _finite(seconds, "duration") / 3600.0
        self.contents_ah = [
            min(max(content + delta, 0.0), capacity)
            for content, capacity in zip(self.contents_ah, self.capacities_ah, strict=True)
        ]

    def balancer_charge(self, cell: int, amps: float, seconds: float) -> None:
        """Charge the balancer put into one cell (0-based index)."""
        delta = _finite(amps, "current") * _finite(seconds, "duration") / 3600.0
        self.contents_ah[cell] = min(
            max(self.contents_ah[cell] + delta, 0.0), self.capacities_ah[cell]
        )

    def mark_full(self, cell: int) -> None:
        """A cell reached its top-of-charge voltage: its content is its capacity."""
        self.contents_ah[cell] = self.capacities_ah[cell]

    def plan(
        self,
        mode: PackMode,
        balancer_amps: float,
        max_minutes: float,
        voltages: Sequence[float] | None = None,
        voltage_parameters: LeeHartParameters | None = None,
    ) -> ChargePlan:
        """Minutes of balancer charge per cell for the pack's current mode."""
        if not (math.isfinite(balancer_amps) and balancer_amps > 0):
            raise ValueError("balancer current must be a positive number")
        if mode is PackMode.IDLE:
            if voltages is None or voltage_parameters is None:
                raise ValueError("idle balancing needs cell voltages and parameters")
            return plan(voltages, voltage_parameters)
        if mode is PackMode.DISCHARGING:
            # Equal remaining charge: lift every cell to the fullest one.
            reference = max(self.contents_ah)
            deficits = [reference - content for content in self.contents_ah]
        else:
            # Full together: every cell's headroom down to the smallest headroom.
            headrooms = [
                capacity - content
                for capacity, content in zip(self.capacities_ah, self.contents_ah, strict=True)
            ]
            reference = min(headrooms)
            deficits = [headroom - reference for headroom in headrooms]
        minutes = [min(deficit / balancer_amps * 60.0, max_minutes) for deficit in deficits]
        return ChargePlan(minutes=minutes, average=reference, averages=[reference] * len(minutes))
