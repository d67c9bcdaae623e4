"""What a top-balance run found (seed 003's notes), drift across runs, and advice.

Seed 003 asks to note, at the end of each first charge, which cells reached shunting and
which cell reached HVC first (the fullest one). Kept across runs, that shows which cells
drift. When the imbalance is too large for the BMS bleed, the seed's two ways out:
1. charge the cells that did not reach shunting one by one with a bench supply set
   between the shunt level and HVC (0.05 V below HVC), or
2. drain the fullest cell with a small load, in fractions of an amp hour, and charge
   the pack again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .chemistry import ChemistryPreset, estimated_soc
from .controller import TopBalanceController, TopBalanceState, first_cells

SECONDS_PER_HOUR = 3600.0
FIRST_DRAIN_AH = 1.0  # seed 003: start draining in fractions of an amp hour, then recheck


@dataclass(frozen=True, slots=True)
class RunReport:
    """One run, as it is persisted and shown."""

    started_s: float
    finished_s: float
    outcome: str  # "done", "aborted:<reason>", or "stopped"
    cells_at_shunt: list[int]  # 1-based cells that reached the shunt level
    first_cells_at_hvc: list[int]  # the fullest cells: first to the top (ties: all)
    initial_delta_mv: float | None
    final_delta_mv: float | None
    ah_delivered: float
    final_cell_voltages: list[float] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        """How long the run took."""
        return max(self.finished_s - self.started_s, 0.0)

    def to_dict(self) -> dict[str, Any]:
        """Plain values for persistence."""
        return {
            "started_s": self.started_s,
            "finished_s": self.finished_s,
            "outcome": self.outcome,
            "cells_at_shunt": list(self.cells_at_shunt),
            "first_cells_at_hvc": list(self.first_cells_at_hvc),
            "initial_delta_mv": self.initial_delta_mv,
            "final_delta_mv": self.final_delta_mv,
            "ah_delivered": self.ah_delivered,
            "final_cell_voltages": list(self.final_cell_voltages),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunReport:
        """Inverse of `to_dict`; malformed data raises ValueError."""
        try:
            initial = data.get("initial_delta_mv")
            final = data.get("final_delta_mv")
            return cls(
                started_s=float(data["started_s"]),
                finished_s=float(data["finished_s"]),
                outcome=str(data["outcome"]),
                cells_at_shunt=[int(cell) for cell in data.get("cells_at_shunt", [])],
                first_cells_at_hvc=list(first_cells(data)),
                initial_delta_mv=None if initial is None else float(initial),
                final_delta_mv=None if final is None else float(final),
                ah_delivered=float(data.get("ah_delivered", 0.0)),
                final_cell_voltages=[float(v) for v in data.get("final_cell_voltages", [])],
            )
        except (KeyError, TypeError) as err:
            raise ValueError(f"not a top-balance report: {err}") from err


def _delta_mv(volts: Sequence[float] | None) -> float | None:
    if not volts:
        return None
    return round((max(volts) - min(volts)) * 1000, 1)


def report_from(controller: TopBalanceController) -> RunReport | None:
    """The report of a finished run (DONE or ABORTED); None while running or idle."""
    if controller.state not in (TopBalanceState.DONE, TopBalanceState.ABORTED):
        return None
    started = controller.started_s or 0.0
    finished = controller.finished_s if controller.finished_s is not None else started
    if controller.state is TopBalanceState.DONE:
        outcome = "done"
    else:
        outcome = f"aborted:{controller.abort_reason}"
    return RunReport(
        started_s=started,
        finished_s=finished,
        outcome=outcome,
        cells_at_shunt=sorted(controller.cells_at_shunt),
        first_cells_at_hvc=list(controller.first_cells_at_hvc),
        initial_delta_mv=_delta_mv(controller.initial_cell_voltages),
        final_delta_mv=_delta_mv(controller.final_cell_voltages),
        ah_delivered=round(controller.ah_delivered, 3),
        final_cell_voltages=list(controller.final_cell_voltages or []),
    )


@dataclass(frozen=True, slots=True)
class CellDrift:
    """One cell across runs."""

    cell: int  # 1-based
    runs: int  # reports that knew this cell
    first_at_hvc: int  # how often it was the fullest
    missed_shunt: int  # how often it did not reach the shunt level
    offsets_mv: list[float]  # final voltage minus the run's mean, per run (oldest first)

    @property
    def drifting(self) -> bool:
        """Repeatedly the fullest, repeatedly behind, or steadily moving away."""
        if self.first_at_hvc >= 2 or self.missed_shunt >= 2:
            return True
        return (
            len(self.offsets_mv) >= 3
            and abs(self.offsets_mv[-1]) > 10.0
            and all(
                abs(b) >= abs(a) for a, b in zip(self.offsets_mv, self.offsets_mv[1:], strict=False)
            )
        )


def drift(reports: Sequence[RunReport]) -> dict[int, CellDrift]:
    """Per-cell history over `reports` (oldest first), keyed by 1-based cell number."""
    cells = max(
        (
            max(
                len(r.final_cell_voltages),
                max(r.cells_at_shunt, default=0),
                max(r.first_cells_at_hvc, default=0),
            )
            for r in reports
        ),
        default=0,
    )
    history: dict[int, CellDrift] = {}
    for cell in range(1, cells + 1):
        runs = first = missed = 0
        offsets: list[float] = []
        for report in reports:
            volts = report.final_cell_voltages
            if cell > len(volts) and cell not in report.cells_at_shunt:
                continue
            runs += 1
            first += cell in report.first_cells_at_hvc
            missed += cell not in report.cells_at_shunt
            if cell <= len(volts):
                mean = sum(volts) / len(volts)
                offsets.append(round((volts[cell - 1] - mean) * 1000, 1))
        history[cell] = CellDrift(cell, runs, first, missed, offsets)
    return history


@dataclass(frozen=True, slots=True)
class DrainAdvice:
    """Seed 003 option 2: drain the fullest cell, then charge the pack again."""

    cell: int
    ah: float  # estimated excess of this cell over the lowest one
    first_step_ah: float  # what to drain before checking again
    minutes_at_load: float | None  # for first_step_ah at the given load


@dataclass(frozen=True, slots=True)
class ChargeAdvice:
    """Seed 003 option 1: charge these cells one by one to `voltage` (bench supply)."""

    cells: list[int]
    voltage: float
    ah: dict[int, float]  # estimated Ah per cell


@dataclass(frozen=True, slots=True)
class Advice:
    """What to do about a severe imbalance; `recommended` is "drain" or "charge"."""

    severe: bool
    gap_ah: float
    hours_at_bleed: float
    recommended: str | None
    drain: DrainAdvice | None
    charge: ChargeAdvice | None


def advice(
    cell_voltages: Sequence[float],
    preset: ChemistryPreset,
    capacity_ah: float,
    *,
    bleed_current_a: float = 1.0,
    load_w: float | None = None,
    max_hours: float = 24.0,
    target_cell_v: float | None = None,
) -> Advice:
    """Judge resting cell voltages taken at the end of a charge (near the top).

    The gap is estimated from a generic LiFePO4 curve: only meaningful near the top,
    where the voltages differ. Severe means the bleed would need more than `max_hours`.
    """
    volts = [float(v) for v in cell_voltages]
    if not volts or not all(math.isfinite(v) for v in volts):
        raise ValueError("cell voltages must be finite numbers")
    if not (math.isfinite(capacity_ah) and capacity_ah > 0):
        raise ValueError("capacity must be a positive number")
    if not (math.isfinite(bleed_current_a) and bleed_current_a > 0):
        raise ValueError("bleed current must be a positive number")
    if load_w is not None and not (math.isfinite(load_w) and load_w > 0):
        raise ValueError("load must be a positive number of watts")
    target = preset.cell_target_v if target_cell_v is None else target_cell_v
    shunt = target - preset.shunt_offset_v
    socs = [estimated_soc(v, preset) for v in volts]
    top = max(socs)
    gap_ah = round((top - min(socs)) * capacity_ah, 2)
    hours = round(gap_ah / bleed_current_a, 1)
    severe = hours > max_hours
    if not severe:
        return Advice(False, gap_ah, hours, None, None, None)

    fullest = volts.index(max(volts))
    excess = round((top - min(socs)) * capacity_ah, 2)
    step_ah = min(FIRST_DRAIN_AH, excess)
    minutes = None
    if load_w is not None:
        minutes = round(step_ah / (load_w / volts[fullest]) * 60, 1)
    drain = DrainAdvice(fullest + 1, excess, step_ah, minutes)

    # Bench supply between the shunt level and HVC: 0.05 V below HVC (seed 003).
    behind = [i for i, v in enumerate(volts) if v < shunt]
    charge_to = round(max(min(preset.hvc_v - 0.05, preset.max_cell_v), shunt), 3)
    top_soc = estimated_soc(charge_to, preset)
    charge = ChargeAdvice(
        cells=[i + 1 for i in behind],
        voltage=charge_to,
        ah={i + 1: round(max(top_soc - socs[i], 0.0) * capacity_ah, 2) for i in behind},
    )
    # Few cells full: draining them is less work; most full: charge the few behind.
    recommended = "drain" if len(behind) >= len(volts) / 2 else "charge"
    return Advice(True, gap_ah, hours, recommended, drain, charge)
