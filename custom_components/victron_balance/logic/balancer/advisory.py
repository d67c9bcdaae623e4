"""Balancing advice for people without balancer hardware (seed 003, options 1 and 2).

1. Charge the low cells one by one with a bench supply, its voltage set between the
   shunt level and the HVC (seed: 3.55 V for 3.6 V modules), so the supply's voltage
   limit ends the charge and the cell cannot be overcharged.
2. Drain the fullest cell with a lamp or resistor in small steps ("fractions of one
   amp hour", e.g. 1 A for 5-10 minutes), then cycle the main charger again.

Voltages alone say which cell is lowest or fullest; how long and how much needs an
amp-hour estimate (capacities plus contents, e.g. from `AmpHourTracker`, or a
voltage-to-SoC curve). Without one, times and amounts are left as None and the steps
stay small: the seed's advice for exactly that case.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


def _positive(value: float, what: str) -> float:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{what} must be a positive number")
    return float(value)


@dataclass(frozen=True, slots=True)
class AdvisorySettings:
    """The chemistry's top and the tools at hand."""

    hvc_v: float  # the cell's high-voltage cutoff ("full", seed 003)
    margin_v: float = 0.05  # bench supply set this far below HVC (3.60 -> 3.55 V)
    supply_current_a: float = 5.0  # the bench supply's current limit (seed: 3-5 A)
    drain_load_w: float = 5.0  # the lamp or resistor on the fullest cell
    drain_step_ah: float = 0.1  # one drain step: a fraction of an amp-hour
    tolerance_v: float = 0.02  # voltage spread that counts as balanced
    tolerance_ah: float = 0.2  # amp-hour spread that counts as balanced
    knee_v: float | None = None  # below it voltages say little (LiFePO4: 3.40 V)

    def __post_init__(self) -> None:
        for name in (
            "hvc_v",
            "margin_v",
            "supply_current_a",
            "drain_load_w",
            "drain_step_ah",
            "tolerance_v",
            "tolerance_ah",
        ):
            _positive(getattr(self, name), name)
        if self.margin_v >= self.hvc_v:
            raise ValueError("margin_v must be below hvc_v")
        if self.knee_v is not None:
            _positive(self.knee_v, "knee_v")

    @property
    def target_v(self) -> float:
        """The bench supply's voltage setting."""
        return round(self.hvc_v - self.margin_v, 3)


@dataclass(frozen=True, slots=True)
class BenchCharge:
    """Option 1 for one cell: connect the bench supply, set to `supply_v` / `current_a`."""

    cell: int  # 1-based
    voltage_v: float
    supply_v: float
    current_a: float
    ah: float | None  # estimated charge to full, if known
    minutes: float | None  # at `current_a`; the voltage limit tapers the end

    def to_dict(self) -> dict[str, Any]:
        """JSON types only."""
        return {
            "cell": self.cell,
            "voltage_v": round(self.voltage_v, 3),
            "supply_v": self.supply_v,
            "current_a": self.current_a,
            "ah": None if self.ah is None else round(self.ah, 3),
            "minutes": None if self.minutes is None else round(self.minutes, 1),
        }


@dataclass(frozen=True, slots=True)
class Drain:
    """Option 2: one small drain step on the fullest cell, then recharge the pack."""

    cell: int  # 1-based
    voltage_v: float
    load_w: float
    load_a: float
    step_ah: float
    step_minutes: float
    excess_ah: float | None  # estimated total to remove, if known
    steps: int | None  # how many such steps that is

    def to_dict(self) -> dict[str, Any]:
        """JSON types only."""
        return {
            "cell": self.cell,
            "voltage_v": round(self.voltage_v, 3),
            "load_w": self.load_w,
            "load_a": round(self.load_a, 3),
            "step_ah": round(self.step_ah, 3),
            "step_minutes": round(self.step_minutes, 1),
            "excess_ah": None if self.excess_ah is None else round(self.excess_ah, 3),
            "steps": self.steps,
        }


@dataclass(frozen=True, slots=True)
class Advice:
    """Both options for the current voltages; `to_dict` is a service response."""

    balanced: bool
    spread_v: float
    target_v: float
    charge: list[BenchCharge] = field(default_factory=list)  # lowest first
    drain: Drain | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON types only (Home Assistant service responses must be JSON)."""
        return {
            "balanced": self.balanced,
            "spread_v": round(self.spread_v, 3),
            "target_v": self.target_v,
            "charge": [item.to_dict() for item in self.charge],
            "drain": None if self.drain is None else self.drain.to_dict(),
            "notes": list(self.notes),
        }


def _contents(
    voltages: list[float],
    capacities_ah: Sequence[float] | None,
    contents_ah: Sequence[float] | None,
    soc_from_voltage: Callable[[float], float] | None,
) -> tuple[list[float], list[float]] | None:
    """(capacities, contents) per cell, or None when no amp-hour estimate is possible."""
    if capacities_ah is None:
        return None
    capacities = [_positive(c, "capacity") for c in capacities_ah]
    if len(capacities) != len(voltages):
        raise ValueError("one capacity per cell is needed")
    if contents_ah is not None:
        if len(contents_ah) != len(voltages):
            raise ValueError("one content per cell is needed")
        contents = [
            min(max(float(c), 0.0), cap) for c, cap in zip(contents_ah, capacities, strict=True)
        ]
    elif soc_from_voltage is not None:
        contents = [
            cap * min(max(soc_from_voltage(v), 0.0), 1.0)
            for v, cap in zip(voltages, capacities, strict=True)
        ]
    else:
        return None
    if not all(math.isfinite(c) for c in contents):
        raise ValueError("contents must be numbers")
    return capacities, contents


def advise(
    voltages: Sequence[float],
    settings: AdvisorySettings,
    *,
    capacities_ah: Sequence[float] | None = None,
    contents_ah: Sequence[float] | None = None,
    soc_from_voltage: Callable[[float], float] | None = None,
) -> Advice:
    """Which cells to bench-charge (option 1) and which to drain (option 2)."""
    values = [float(v) for v in voltages]
    if not values or not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError("cell voltages must be positive numbers")
    target = settings.target_v
    spread = max(values) - min(values)
    notes: list[str] = []
    estimate = _contents(values, capacities_ah, contents_ah, soc_from_voltage)
    if estimate is None:
        notes.append("no amp-hour estimate: charge until the supply's current tapers")
    headrooms = None if estimate is None else [c - x for c, x in zip(*estimate, strict=True)]
    for index, volts in enumerate(values, start=1):
        if volts > settings.hvc_v:
            notes.append(f"cell {index} is above HVC ({volts:.3f} V): stop charging the pack")
    if settings.knee_v is not None and max(values) < settings.knee_v and estimate is None:
        notes.append("all cells are below the knee: charge the pack first, voltages say little")

    # Option 1: the cells that lag behind the fullest, lowest first.
    charge: list[BenchCharge] = []
    if headrooms is not None:
        least = min(headrooms)
        lagging = [i for i, h in enumerate(headrooms) if h - least > settings.tolerance_ah]
        lagging.sort(key=lambda i: -headrooms[i])
    else:
        lagging = [i for i, v in enumerate(values) if max(values) - v > settings.tolerance_v]
        lagging.sort(key=lambda i: values[i])
    for i in lagging:
        if values[i] >= target:
            continue  # already at the supply setting: nothing would flow
        ah = None if headrooms is None else headrooms[i]
        charge.append(
            BenchCharge(
                cell=i + 1,
                voltage_v=values[i],
                supply_v=target,
                current_a=settings.supply_current_a,
                ah=ah,
                minutes=None if ah is None else ah / settings.supply_current_a * 60.0,
            )
        )

    drain = _drain(values, headrooms, settings)
    balanced = not charge and drain is None
    return Advice(balanced, spread, target, charge, drain, notes)


def _drain(
    values: list[float], headrooms: list[float] | None, settings: AdvisorySettings
) -> Drain | None:
    """Option 2: the fullest cell, if it stands out from the next one."""
    if len(values) < 2:
        return None
    excess: float | None
    if headrooms is not None:
        order = sorted(range(len(values)), key=lambda i: headrooms[i])
        fullest = order[0]
        # Down to the next fullest cell: then both trip the charger together.
        excess = headrooms[order[1]] - headrooms[fullest]
        if excess <= settings.tolerance_ah:
            return None
    else:
        order = sorted(range(len(values)), key=lambda i: -values[i])
        fullest = order[0]
        if values[fullest] - values[order[1]] <= settings.tolerance_v:
            return None
        excess = None
    volts = values[fullest]
    load_a = settings.drain_load_w / volts
    step_ah = settings.drain_step_ah if excess is None else min(settings.drain_step_ah, excess)
    return Drain(
        cell=fullest + 1,
        voltage_v=volts,
        load_w=settings.drain_load_w,
        load_a=load_a,
        step_ah=step_ah,
        step_minutes=step_ah / load_a * 60.0,
        excess_ah=excess,
        steps=None if excess is None else math.ceil(excess / settings.drain_step_ah),
    )
