"""One balancing scan: which cells to charge for how long, by the chosen strategy.

Settings (strategy, Tbase, floor, max minutes) are what the user tunes; their ranges
depend on what the balancer's relays connect (`cell` or 12 V `module`), because
Lee Hart's numbers are for 12 V modules and a LiFePO4 cell needs scaled ones
(`lee_hart.LIFEPO4_CELL`).

`scan` applies the run condition (seed 004: "while pack average is above about
12.5 V, or while charging power is available") and turns the plan into sequencer
steps, skipping charges too short to be worth two relay operations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from .amp_hours import AmpHourTracker, PackMode, pack_mode
from .contract import BalancerInfo
from .lee_hart import (
    LEAD_ACID_12V,
    LIFEPO4_CELL,
    Averaging,
    ChargePlan,
    LeeHartParameters,
    plan,
    should_run,
)
from .sequencer import ChargeStep, SequencerConfig, SequencerState, steps_from_minutes

MIN_MINUTES = 0.5  # shorter charges are skipped (two relay operations buy nothing)


class Strategy(StrEnum):
    """How the scan decides (the strategy select)."""

    LEE_HART = "lee_hart"  # the seed's running average
    TRUE_MEAN = "true_mean"  # every cell against the mean of the scan
    AMP_HOURS = "amp_hours"  # Lee's "what we really want": tracked amp-hours


class ScanOutcome(StrEnum):
    """Why a scan did (or did not) produce charge steps."""

    PLANNED = "planned"
    BALANCED = "balanced"  # every charge under MIN_MINUTES
    NOT_RUNNING = "not_running"  # below the run voltage and not charging


@dataclass(frozen=True, slots=True)
class Range:
    """Bounds and step of one setting."""

    low: float
    high: float
    step: float


RANGES: dict[str, dict[str, Range]] = {
    "cell": {
        "tbase": Range(1.0, 10_000.0, 1.0),
        "floor_voltage": Range(2.5, 3.3, 0.01),
        "max_minutes": Range(1.0, 240.0, 1.0),
    },
    "module": {
        "tbase": Range(1.0, 1_000.0, 1.0),
        "floor_voltage": Range(9.0, 12.0, 0.1),
        "max_minutes": Range(1.0, 240.0, 1.0),
    },
}
PRESETS: dict[str, LeeHartParameters] = {"cell": LIFEPO4_CELL, "module": LEAD_ACID_12V}


def _in_range(value: Any, bounds: Range, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be a number, got {value!r}")
    number = float(value)
    if not (math.isfinite(number) and bounds.low <= number <= bounds.high):
        raise ValueError(f"{what} {value!r} is outside {bounds.low}..{bounds.high}")
    return number


@dataclass(frozen=True, slots=True)
class BalancerSettings:
    """What the user tunes for one balancer."""

    kind: str
    strategy: Strategy
    tbase: float
    floor_voltage: float
    max_minutes: float

    def __post_init__(self) -> None:
        if self.kind not in RANGES:
            raise ValueError(f"unknown kind {self.kind!r}")
        for name, bounds in RANGES[self.kind].items():
            _in_range(getattr(self, name), bounds, name)

    @classmethod
    def default(cls, kind: str) -> BalancerSettings:
        """The chemistry preset for this kind of balancer."""
        if kind not in PRESETS:
            raise ValueError(f"unknown kind {kind!r}")
        preset = PRESETS[kind]
        return cls(
            kind=kind,
            strategy=Strategy.LEE_HART,
            tbase=preset.tbase,
            floor_voltage=preset.floor_voltage,
            max_minutes=preset.max_minutes,
        )

    def with_value(self, name: str, value: Any) -> BalancerSettings:
        """A copy with one number changed (ValueError outside its range)."""
        if name not in RANGES[self.kind]:
            raise ValueError(f"unknown setting {name!r}")
        checked = _in_range(value, RANGES[self.kind][name], name)
        if name == "tbase":
            return replace(self, tbase=checked)
        if name == "floor_voltage":
            return replace(self, floor_voltage=checked)
        return replace(self, max_minutes=checked)

    @property
    def parameters(self) -> LeeHartParameters:
        """Lee Hart parameters; the run voltage is the preset's."""
        return LeeHartParameters(
            tbase=self.tbase,
            floor_voltage=self.floor_voltage,
            max_minutes=self.max_minutes,
            run_above_voltage=PRESETS[self.kind].run_above_voltage,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain values for persistence."""
        return {
            "strategy": self.strategy.value,
            "tbase": self.tbase,
            "floor_voltage": self.floor_voltage,
            "max_minutes": self.max_minutes,
        }

    @classmethod
    def from_dict(cls, kind: str, data: Mapping[str, Any]) -> BalancerSettings:
        """Stored settings; values that no longer fit fall back to the preset one by one."""
        settings = cls.default(kind)
        if data.get("strategy") in {strategy.value for strategy in Strategy}:
            settings = replace(settings, strategy=Strategy(data["strategy"]))
        for name in RANGES[kind]:
            try:
                settings = settings.with_value(name, data.get(name))
            except ValueError:
                continue
        return settings


@dataclass(frozen=True, slots=True)
class Scan:
    """The result of one scan."""

    outcome: ScanOutcome
    plan: ChargePlan | None
    steps: list[ChargeStep]
    mode: PackMode
    strategy: Strategy  # what was used (amp-hours falls back to voltages without data)


def new_tracker(
    capacity_ah: float, voltages: Sequence[float], soc_from_voltage: Callable[[float], float]
) -> AmpHourTracker:
    """Start amp-hour tracking from the cells' voltages (rough in the flat middle)."""
    capacities = [capacity_ah] * len(voltages)
    return AmpHourTracker.from_soc(
        capacities, [min(max(soc_from_voltage(v), 0.0), 1.0) * 100.0 for v in voltages]
    )


def scan(
    voltages: Sequence[float],
    settings: BalancerSettings,
    *,
    pack_current: float | None,
    balancer_amps: float,
    previous_average: float | None = None,
    tracker: AmpHourTracker | None = None,
    max_cell_voltage: float | None = None,
) -> Scan:
    """Plan one scan over the cells (relay n = cell n).

    A cell at or above `max_cell_voltage` is never charged, whatever the plan says:
    with a Tbase too high for the cells' size the algorithm overshoots, and near the
    top of charge an overshoot is an overcharge.
    """
    parameters = settings.parameters
    mode = pack_mode(pack_current if pack_current is not None else 0.0)
    average = sum(voltages) / len(voltages)
    strategy = settings.strategy
    if strategy is Strategy.AMP_HOURS and tracker is not None and mode is not PackMode.IDLE:
        result = tracker.plan(mode, balancer_amps, settings.max_minutes)
    else:
        if not should_run(average, parameters, mode is PackMode.CHARGING):
            return Scan(ScanOutcome.NOT_RUNNING, None, [], mode, strategy)
        if strategy is Strategy.AMP_HOURS:
            strategy = Strategy.LEE_HART  # idle (equal voltage), or no amp-hour data
        averaging = Averaging.TRUE_MEAN if strategy is Strategy.TRUE_MEAN else Averaging.RUNNING
        initial = previous_average if averaging is Averaging.RUNNING else None
        result = plan(voltages, parameters, averaging=averaging, initial_average=initial)
    steps = [
        step
        for step in steps_from_minutes(result.minutes, MIN_MINUTES)
        if max_cell_voltage is None or voltages[step.relay - 1] < max_cell_voltage
    ]
    outcome = ScanOutcome.PLANNED if steps else ScanOutcome.BALANCED
    return Scan(outcome, result, steps, mode, strategy)


MODULE_MAX_V = 14.4  # a 12 V lead-acid module's absorption voltage


class DriveRefusal(StrEnum):
    """Why a balancer is never driven (each has a repair issue)."""

    NO_LEASE = "no_lease"  # protocol 1: it cannot switch itself off when we vanish
    CURRENT_OFF_UNPROVABLE = "current_off_unprovable"  # no current, I x R <= tolerance
    CHARGE_CAP_TOO_SHORT = "charge_cap_too_short"  # max_charge_s leaves no time to charge


def match_tolerance_v(kind: str) -> float:
    """Output vs BMS cell voltage with no current flowing."""
    return 0.05 if kind == "cell" else 0.1


def step_timeout_s(info: BalancerInfo, tick_s: float) -> float:
    """A step may take `settle_time`, its proof comes with the next measurement, and the
    loop looks once per tick: the timeout covers all three."""
    return info.settle_time + info.measure_interval + 2 * tick_s


def charge_limit_s(info: BalancerInfo, tick_s: float) -> float | None:
    """The longest charge we run: the device's cap less a margin (None: no cap known).

    The margin covers the command's way to the device and the proof of the break, so
    the device's own cap never ends a charge we planned.
    """
    cap = info.max_charge_s
    if cap is None:
        return None
    return cap - max(2 * step_timeout_s(info, tick_s), 0.05 * cap)


def _amps(info: BalancerInfo, current_a: float | None) -> float:
    return current_a if current_a is not None and current_a > 0 else info.max_current


def drive_refusal(
    info: BalancerInfo, current_a: float | None, tick_s: float
) -> tuple[DriveRefusal, str] | None:
    """Why this device must not be driven (and the detail for the user), or None."""
    if info.protocol < 2:
        return DriveRefusal.NO_LEASE, f"protocol {info.protocol}, no lease"
    rise = _amps(info, current_a) * info.output_resistance
    tolerance = match_tolerance_v(info.kind)
    if not info.measures_current and rise <= tolerance:
        return (
            DriveRefusal.CURRENT_OFF_UNPROVABLE,
            f"no current measurement and I x R = {rise * 1000:.0f} mV "
            f"<= the {tolerance * 1000:.0f} mV tolerance",
        )
    limit = charge_limit_s(info, tick_s)
    if limit is not None and limit < MIN_MINUTES * 60.0:
        return DriveRefusal.CHARGE_CAP_TOO_SHORT, f"max_charge_s {info.max_charge_s:g} s"
    return None


def sequencer_config(info: BalancerInfo, current_a: float | None, tick_s: float) -> SequencerConfig:
    """Thresholds for one device, from its `info` (docs/balancer-mqtt.md).

    Raises ValueError for a device whose "current off" cannot be proven (see
    `drive_refusal`, which says why first).
    """
    rise = _amps(info, current_a) * info.output_resistance  # the I x R step when charging
    timeout = step_timeout_s(info, tick_s)
    return SequencerConfig(
        step_timeout_s=timeout,
        step_timeouts={SequencerState.CHARGING: 3 * timeout},  # the BMS lags a little
        match_tolerance_v=match_tolerance_v(info.kind),
        min_rise_v=0.3 * rise,
        max_rise_v=max(0.5, 5 * rise),
        current_measured=info.measures_current,
        rise_v=rise,
        max_charge_s=charge_limit_s(info, tick_s),
    )


def cap_steps(steps: Sequence[ChargeStep], limit_s: float | None) -> list[ChargeStep]:
    """No planned charge longer than the device allows (Lee Hart: 60 minutes)."""
    if limit_s is None:
        return list(steps)
    return [replace(step, seconds=min(step.seconds, limit_s)) for step in steps]


def charge_cap_v(kind: str, cell_target_v: float) -> float:
    """No cell is charged at or above this: the top-balance target (modules: absorption)."""
    return MODULE_MAX_V if kind == "module" else cell_target_v


def at_charge_cap(relay: int, cells: Sequence[float], cap_v: float) -> bool:
    """The cell on `relay` (1-based) reached the cap: stop charging it this scan."""
    return cells[relay - 1] >= cap_v
