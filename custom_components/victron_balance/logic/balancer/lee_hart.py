"""Lee Hart's balancer algorithm, as written in his control software notes (seed 004).

    for i = 1 to N
        let Vave   = (Vi + Vave*(N-1))/N           (running average)
        let Charge = Tbase*(Vave-Vi)*(Vave-Vfloor)
        clamp Charge to 0..60 minutes
        charge battery i for Charge minutes

The running average starts from a previous scan (or, here, from the mean of the given
voltages unless told otherwise) and is updated with each cell as it is visited. The
"true mean" variant compares every cell with the mean of the whole scan instead.
`(Vave - Vfloor)` shortens the charge as the pack nears empty, so the loop scans faster
when a weak module may be jumping around.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class Averaging(StrEnum):
    """How the reference voltage is formed."""

    RUNNING = "running"  # the seed's Vave = (Vi + Vave*(N-1))/N, cell by cell
    TRUE_MEAN = "true_mean"  # the arithmetic mean of the scan


@dataclass(frozen=True, slots=True)
class LeeHartParameters:
    """Tuning of the algorithm; Lee tuned Tbase by experiment for his own pack."""

    tbase: float  # minutes per volt squared
    floor_voltage: float  # V: the lowest voltage a cell/module should ever see
    max_minutes: float  # longest charge for one cell per visit
    run_above_voltage: float | None = None  # average voltage above which balancing runs

    def __post_init__(self) -> None:
        if not (math.isfinite(self.tbase) and self.tbase > 0):
            raise ValueError("tbase must be a positive number")
        if not math.isfinite(self.floor_voltage):
            raise ValueError("floor voltage must be a number")
        if not (math.isfinite(self.max_minutes) and self.max_minutes > 0):
            raise ValueError("max minutes must be a positive number")


# Seed 004: 12 V lead-acid modules, Tbase 20 min, floor 10 V, at most 60 min, run while
# the pack average is above about 12.5 V.
LEAD_ACID_12V = LeeHartParameters(
    tbase=20.0, floor_voltage=10.0, max_minutes=60.0, run_above_voltage=12.5
)
# LiFePO4 cells, scaled: a cell's useful voltage differences are millivolts, not the
# tenths of a volt of a lead-acid module, and only mean something near the top of charge
# (above ~3.40 V; the curve is flat in the middle). Floor 3.0 V, Tbase 1000 min/V^2:
# a cell 50 mV under a 3.45 V average gets 1000 * 0.05 * 0.45 = 22.5 min.
LIFEPO4_CELL = LeeHartParameters(
    tbase=1000.0, floor_voltage=3.0, max_minutes=60.0, run_above_voltage=3.40
)


@dataclass(frozen=True, slots=True)
class ChargePlan:
    """Minutes of charge per cell (in cell order) and the average they were judged by."""

    minutes: list[float]
    average: float
    averages: list[float] = field(default_factory=list)  # reference used for each cell

    def to_json(self) -> dict[str, object]:
        """The shape `scripts/balance-plan` prints."""
        return {"minutes": self.minutes, "average": self.average}


def _checked(voltages: Sequence[float]) -> list[float]:
    values = [float(voltage) for voltage in voltages]
    if not values:
        raise ValueError("at least one voltage is needed")
    if not all(math.isfinite(value) and value >= 0 for value in values):
        raise ValueError("voltages must be finite, non-negative numbers")
    return values


def charge_minutes(voltage: float, average: float, parameters: LeeHartParameters) -> float:
    """Charge = Tbase*(Vave-Vi)*(Vave-Vfloor), clamped to 0..max minutes."""
    charge = parameters.tbase * (average - voltage) * (average - parameters.floor_voltage)
    return min(max(charge, 0.0), parameters.max_minutes)


def plan(
    voltages: Sequence[float],
    parameters: LeeHartParameters,
    *,
    averaging: Averaging = Averaging.RUNNING,
    initial_average: float | None = None,
) -> ChargePlan:
    """One scan over the cells: how long to charge each one."""
    values = _checked(voltages)
    count = len(values)
    mean = sum(values) / count
    if initial_average is not None and not math.isfinite(initial_average):
        raise ValueError("initial average must be a number")
    average = mean if initial_average is None else float(initial_average)
    minutes: list[float] = []
    references: list[float] = []
    for voltage in values:
        if averaging is Averaging.RUNNING:
            average = (voltage + average * (count - 1)) / count
        else:
            average = mean
        references.append(average)
        minutes.append(charge_minutes(voltage, average, parameters))
    return ChargePlan(minutes=minutes, average=average, averages=references)


def should_run(pack_average: float, parameters: LeeHartParameters, charging: bool) -> bool:
    """Lee ran the loop while driving, above ~12.5 V average, or with charging power."""
    if charging:
        return True
    if parameters.run_above_voltage is None:
        return True
    return pack_average >= parameters.run_above_voltage
