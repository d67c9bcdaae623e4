"""The top-balance controller: measurements in, charge limits out, once a second.

Seed 003 tops a pack by charging until the fullest cell trips HVC, then draining it or
charging the others by hand. Here the charger does it unattended, through the virtual
BMS (CVL, CCL, AllowToCharge) or the DVCC limits:

* BULK: the charger's maximum current until the fullest cell nears the shunt level.
* REGULATE: a proportional loop on the highest cell voltage. At the set point the
  current equals the BMS bleed, so the full cells stand still while every other cell
  gains that current: the gap closes as fast as passive balancing allows, and the
  highest cell stays well below OVP. Where MPPTs ignore CCL (DC-coupled feed-in) the
  CVL is clipped to the sum of min(cell, set point) plus a small margin, as
  dbus-serialbattery's clipped-sum controller does: only a voltage holds an MPPT back.
* HOLD: every cell at the shunt level and the delta within `done_delta_v`; after
  `hold_s` of that, DONE and normal limits return.
* ABORTED: any safety condition (see `AbortReason`); normal limits, never an elevated
  CVL, and no charge current (AllowToCharge = 0, CCL 0) when the reason is a hazard:
  a BMS alarm or block, over-voltage, temperature, Venus unreachable. What goes on the
  wire after a run is `logic.safety`'s business: it holds every document to the real
  BMS's limits and permissions for as long as they apply.

Cell numbers in decisions are 1-based, as Venus and the BMS count them. `now_s` must be
a wall clock (epoch seconds) so a run persisted with `to_dict` can be judged after a
restart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .chemistry import PRESETS, ChargeBounds, ChemistryPreset, charge_bounds, estimated_soc

SECONDS_PER_HOUR = 3600.0
MAX_STEP_S = 10.0  # longer gaps between steps are not counted as charging time
PLAUSIBLE_LOW_V = 1.0  # a cell reading below this is a wiring or read error


class TopBalanceState(StrEnum):
    """Where a run is."""

    IDLE = "idle"
    BULK = "bulk"
    REGULATE = "regulate"
    HOLD = "hold"
    DONE = "done"
    ABORTED = "aborted"


ACTIVE_STATES = frozenset({TopBalanceState.BULK, TopBalanceState.REGULATE, TopBalanceState.HOLD})


class AbortReason(StrEnum):
    """Why a run stopped early (the values are translation keys for the HA side)."""

    CELL_OVER_VOLTAGE = "cell_over_voltage"
    BMS_ALARM = "bms_alarm"
    BMS_BLOCKS_CHARGE = "bms_blocks_charge"
    TEMPERATURE = "temperature"
    VENUS_LOST = "venus_lost"
    MAX_DURATION = "max_duration"
    STALE_DATA = "stale_data"
    IMPLAUSIBLE_DATA = "implausible_data"
    RESTART_EXPIRED = "restart_expired"
    STOPPED = "stopped"


def _check(value: float, what: str, low: float, high: float) -> float:
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise ValueError(f"{what} must be a number in {low}..{high}, got {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class TopBalanceSettings:
    """One run's parameters; validated against the preset's bounds on construction."""

    cells: int
    preset: ChemistryPreset
    target_cell_v: float
    shunt_offset_v: float = 0.1
    done_delta_v: float = 0.010
    hold_s: float = 300.0
    max_current_a: float = 70.0
    bleed_current_a: float = 1.0
    ovp_margin_v: float = 0.05
    max_duration_s: float = 72 * SECONDS_PER_HOUR
    temperature_min_c: float = 5.0
    temperature_max_c: float = 45.0
    dc_coupled_feed_in: bool = False
    capacity_ah: float | None = None  # only for progress and ETA
    normal_cell_v: float | None = None  # CVL per cell outside a run; None: the shunt level
    normal_current_a: float | None = None  # CCL outside a run; None: max_current_a
    stale_after_s: float = 30.0  # bad or missing data this long aborts
    ovp_recover_s: float = 60.0  # a cell at OVP - margin must come back within this
    resume_window_s: float = 300.0  # a persisted run older than this is not resumed
    regulate_headroom_v: float = 0.03  # set point below min(target, OVP - margin)
    gain_a_per_v: float = 500.0  # proportional gain of the regulation loop
    dc_margin_v: float = 0.010  # pack margin of the clipped-sum CVL

    def __post_init__(self) -> None:
        bounds = charge_bounds(self.cells, self.preset, self.max_current_a)
        if bounds.clamp_cell_target(self.target_cell_v) != self.target_cell_v:
            raise ValueError(
                f"target_cell_v must be within {bounds.cell_target_min}..{bounds.cell_target_max}"
            )
        _check(self.shunt_offset_v, "shunt_offset_v", 0.01, 0.3)
        _check(self.done_delta_v, "done_delta_v", 0.001, 0.1)
        _check(self.hold_s, "hold_s", 0.0, 24 * SECONDS_PER_HOUR)
        _check(self.bleed_current_a, "bleed_current_a", 0.01, 20.0)
        _check(self.ovp_margin_v, "ovp_margin_v", 0.0, 0.3)
        _check(self.max_duration_s, "max_duration_s", 60.0, 14 * 24 * SECONDS_PER_HOUR)
        _check(self.temperature_min_c, "temperature_min_c", -40.0, 80.0)
        _check(self.temperature_max_c, "temperature_max_c", self.temperature_min_c, 80.0)
        _check(self.stale_after_s, "stale_after_s", 1.0, 3600.0)
        _check(self.ovp_recover_s, "ovp_recover_s", 1.0, 3600.0)
        _check(self.resume_window_s, "resume_window_s", 1.0, 24 * SECONDS_PER_HOUR)
        _check(self.regulate_headroom_v, "regulate_headroom_v", 0.0, 0.3)
        _check(self.gain_a_per_v, "gain_a_per_v", 1.0, 100000.0)
        _check(self.dc_margin_v, "dc_margin_v", 0.0, 0.5)
        if self.capacity_ah is not None:
            _check(self.capacity_ah, "capacity_ah", 1.0, 100000.0)
        if self.normal_current_a is not None:
            _check(self.normal_current_a, "normal_current_a", 0.0, self.max_current_a)
        if self.normal_cell_v is not None:
            _check(self.normal_cell_v, "normal_cell_v", self.preset.min_cell_v, self.target_cell_v)
        if self.regulate_v < self.shunt_v + self.done_delta_v:
            raise ValueError(
                "no room to regulate: OVP minus margin and headroom is below the shunt level"
            )

    @property
    def bounds(self) -> ChargeBounds:
        """The limits every output is clamped to."""
        return charge_bounds(self.cells, self.preset, self.max_current_a)

    @property
    def shunt_v(self) -> float:
        """Cells at or above this are shunting (bleeding)."""
        return self.target_cell_v - self.shunt_offset_v

    @property
    def regulate_v(self) -> float:
        """Set point of the highest cell."""
        ceiling = min(self.target_cell_v, self.preset.ovp_v - self.ovp_margin_v)
        return ceiling - self.regulate_headroom_v

    @property
    def limit_v(self) -> float:
        """A cell at or above this must come back within `ovp_recover_s`."""
        return self.preset.ovp_v - self.ovp_margin_v

    @property
    def normal_cvl_v(self) -> float:
        """Pack CVL outside a run."""
        per_cell = self.shunt_v if self.normal_cell_v is None else self.normal_cell_v
        return round(self.cells * per_cell, 3)

    @property
    def normal_ccl_a(self) -> float:
        """CCL outside a run."""
        return self.max_current_a if self.normal_current_a is None else self.normal_current_a

    def to_dict(self) -> dict[str, Any]:
        """Plain values for persistence."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["preset"] = self.preset.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TopBalanceSettings:
        """Inverse of `to_dict`; a preset given by key alone is looked up in PRESETS."""
        values = dict(data)
        preset = values.pop("preset")
        values["preset"] = (
            PRESETS[preset] if isinstance(preset, str) else ChemistryPreset.from_dict(preset)
        )
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Measurements:
    """What the controller sees each step; None = unknown or stale."""

    now_s: float
    cell_voltages: list[float | None]
    pack_voltage: float | None
    pack_current: float | None  # + charging
    temperature_c: float | None
    bms_alarm: bool = False
    venus_alive: bool = True
    bms_allows_charge: bool | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """Limits to publish and what the sensors show."""

    state: TopBalanceState
    cvl_v: float
    ccl_a: float
    allow_to_charge: bool
    progress_pct: float
    eta_s: float | None
    cells_at_shunt: list[int] = field(default_factory=list)
    first_cells_at_hvc: tuple[int, ...] = ()  # the fullest cells (ties: all of them)
    ah_delivered: float = 0.0
    abort_reason: str | None = None

    @property
    def active(self) -> bool:
        """True while a run may hold an elevated CVL."""
        return self.state in ACTIVE_STATES


class TopBalanceController:
    """One top-balance run at a time; `step` about once a second."""

    def __init__(self, settings: TopBalanceSettings | None = None) -> None:
        self.settings = settings
        self.state = TopBalanceState.IDLE
        self._reset()

    def _reset(self) -> None:
        self.started_s: float | None = None
        self.finished_s: float | None = None
        self.last_seen_s: float | None = None  # last step with valid data
        self._last_step_s: float | None = None
        self.ah_delivered = 0.0
        self.cells_at_shunt: set[int] = set()
        self.first_cells_at_hvc: tuple[int, ...] = ()
        self.abort_reason: str | None = None
        self.initial_cell_voltages: list[float] | None = None
        self.final_cell_voltages: list[float] | None = None
        self._hold_since: float | None = None
        self._invalid_since: float | None = None
        self._over_since: float | None = None
        self._eta_s: float | None = None

    # ------------------------------------------------------------------ control
    def start(self, now_s: float, settings: TopBalanceSettings) -> Decision:
        """Begin a run; the limits stay normal until the first valid measurement."""
        now_s = _check(now_s, "now_s", -math.inf, math.inf)
        self.settings = settings
        self._reset()
        self.state = TopBalanceState.BULK
        self.started_s = now_s
        self.last_seen_s = now_s
        self._last_step_s = now_s
        return self._decision(settings.normal_cvl_v, 0.0, True)

    def abort(self, reason: str, now_s: float) -> Decision:
        """Stop the run (user, HA shutdown or unload, or a safety condition)."""
        return self._abort(str(reason), now_s, allow_to_charge=True)

    def safe_decision(self, allow_to_charge: bool = True) -> Decision:
        """The limits to fall back to: normal CVL and CCL, never an elevated CVL."""
        settings = self.settings
        if settings is None:
            return Decision(self.state, 0.0, 0.0, allow_to_charge, 0.0, None)
        ccl = settings.normal_ccl_a if allow_to_charge else 0.0
        return self._decision(settings.normal_cvl_v, ccl, allow_to_charge)

    def step(self, m: Measurements) -> Decision:
        """One control step."""
        settings = self.settings
        if settings is None:
            return self.safe_decision()
        if self.state not in ACTIVE_STATES:
            return self.safe_decision(m.venus_alive and m.bms_allows_charge is not False)
        now = float(m.now_s)
        if not math.isfinite(now):
            return self._invalid(now, settings, AbortReason.IMPLAUSIBLE_DATA)
        if not m.venus_alive:
            return self._abort(AbortReason.VENUS_LOST, now, allow_to_charge=False)
        if m.bms_alarm:
            return self._abort(AbortReason.BMS_ALARM, now, allow_to_charge=False)
        if m.bms_allows_charge is False:
            return self._abort(AbortReason.BMS_BLOCKS_CHARGE, now, allow_to_charge=False)
        assert self.started_s is not None
        if now - self.started_s > settings.max_duration_s:
            return self._abort(AbortReason.MAX_DURATION, now)

        volts, problem = self._valid_cells(m, settings)
        if problem is AbortReason.CELL_OVER_VOLTAGE:
            return self._abort(problem, now, allow_to_charge=False)
        if problem is not None:
            return self._invalid(now, settings, problem)
        temperature = m.temperature_c
        if temperature is None or not math.isfinite(temperature):
            return self._invalid(now, settings, AbortReason.STALE_DATA)
        if not settings.temperature_min_c <= temperature <= settings.temperature_max_c:
            return self._abort(AbortReason.TEMPERATURE, now, allow_to_charge=False)
        self._invalid_since = None

        # Charge counter: only fresh, finite current, only over short gaps.
        last = self._last_step_s
        if last is not None and m.pack_current is not None and math.isfinite(m.pack_current):
            dt = min(max(now - last, 0.0), MAX_STEP_S)
            self.ah_delivered += max(m.pack_current, 0.0) * dt / SECONDS_PER_HOUR
        self._last_step_s = now
        self.last_seen_s = now
        if self.initial_cell_voltages is None:
            self.initial_cell_voltages = list(volts)
        self.final_cell_voltages = list(volts)

        high = max(volts)
        low = min(volts)
        if high >= settings.limit_v:
            self._over_since = now if self._over_since is None else self._over_since
            if now - self._over_since >= settings.ovp_recover_s:
                return self._abort(AbortReason.CELL_OVER_VOLTAGE, now, allow_to_charge=False)
        else:
            self._over_since = None

        shunt = settings.shunt_v
        crossed = [index for index, volt in enumerate(volts, start=1) if volt >= shunt]
        if crossed and not self.first_cells_at_hvc:
            # The fullest cells: drain them, if any. Cells crossing in the same sample
            # are all "first": the reading cannot tell them apart.
            self.first_cells_at_hvc = tuple(crossed)
        self.cells_at_shunt.update(crossed)

        # States: labels on one control law, plus the done timer.
        if self.state is TopBalanceState.BULK and high >= shunt - 0.05:
            self.state = TopBalanceState.REGULATE
        balanced = low >= shunt and high - low <= settings.done_delta_v + 1e-9
        if balanced and self.state is not TopBalanceState.BULK:
            if self._hold_since is None:
                self._hold_since = now
                self.state = TopBalanceState.HOLD
            if now - self._hold_since >= settings.hold_s:
                self.state = TopBalanceState.DONE
                self.finished_s = now
                self._eta_s = 0.0
                return self.safe_decision()
        elif self.state is TopBalanceState.HOLD:
            self.state = TopBalanceState.REGULATE
            self._hold_since = None

        # Proportional on the highest cell, fed forward with the bleed: at the set point
        # the full cells stand still and the others gain the bleed current.
        ccl = settings.bleed_current_a + settings.gain_a_per_v * (settings.regulate_v - high)
        if high >= settings.limit_v:
            ccl = 0.0
        ccl = min(max(ccl, 0.0), settings.max_current_a)
        cvl = settings.cells * settings.target_cell_v
        if settings.dc_coupled_feed_in:
            clipped = sum(min(volt, settings.regulate_v) for volt in volts) + settings.dc_margin_v
            cvl = min(cvl, clipped)
        self._eta_s = self._estimate_eta(volts, settings, now)
        return self._decision(cvl, ccl, True)

    # ------------------------------------------------------------------ helpers
    def _valid_cells(
        self, m: Measurements, settings: TopBalanceSettings
    ) -> tuple[list[float], AbortReason | None]:
        if len(m.cell_voltages) != settings.cells:
            return [], AbortReason.IMPLAUSIBLE_DATA
        volts: list[float] = []
        for volt in m.cell_voltages:
            if volt is None:
                return [], AbortReason.STALE_DATA
            if not (math.isfinite(volt) and volt >= PLAUSIBLE_LOW_V):
                return [], AbortReason.IMPLAUSIBLE_DATA
            volts.append(float(volt))
        # A reading at or above the BMS's trip is an over-voltage, whatever caused it
        # (a real one or a sensor error): both mean "stop charging now".
        if max(volts) >= settings.preset.ovp_v:
            return volts, AbortReason.CELL_OVER_VOLTAGE
        return volts, None

    def _invalid(self, now: float, settings: TopBalanceSettings, reason: AbortReason) -> Decision:
        """Bad data: no charge current and no elevated CVL; abort if it lasts."""
        if math.isfinite(now):
            self._invalid_since = now if self._invalid_since is None else self._invalid_since
            if now - self._invalid_since >= settings.stale_after_s:
                return self._abort(reason, now, allow_to_charge=False)
        return self._decision(settings.normal_cvl_v, 0.0, False)

    def _abort(self, reason: str, now_s: float, *, allow_to_charge: bool = True) -> Decision:
        if self.state in ACTIVE_STATES:
            self.state = TopBalanceState.ABORTED
            self.abort_reason = reason
            self.finished_s = now_s if math.isfinite(now_s) else self.last_seen_s
            self._eta_s = None
        return self.safe_decision(allow_to_charge)

    def _estimate_eta(
        self, volts: list[float], settings: TopBalanceSettings, now: float
    ) -> float | None:
        """Rough time left: bulk to the set point, the gap at bleed current, the hold."""
        hold_left = settings.hold_s
        if self._hold_since is not None:
            hold_left = max(settings.hold_s - (now - self._hold_since), 0.0)
        if self.state is TopBalanceState.HOLD:
            return hold_left
        if settings.capacity_ah is None:
            return None
        preset = settings.preset
        socs = [estimated_soc(volt, preset) for volt in volts]
        top = estimated_soc(settings.regulate_v, preset)
        bulk_h = max(top - max(socs), 0.0) * settings.capacity_ah / settings.max_current_a
        gap_h = (max(socs) - min(socs)) * settings.capacity_ah / settings.bleed_current_a
        return (bulk_h + gap_h) * SECONDS_PER_HOUR + hold_left

    def _progress(self) -> float:
        settings = self.settings
        if self.state is TopBalanceState.DONE:
            return 100.0
        if settings is None or self.started_s is None:
            return 0.0
        if self._eta_s is not None and self.last_seen_s is not None:
            elapsed = max(self.last_seen_s - self.started_s, 0.0)
            total = elapsed + self._eta_s
            return round(min(100.0 * elapsed / total, 99.9), 1) if total > 0 else 0.0
        return round(min(100.0 * len(self.cells_at_shunt) / settings.cells, 99.9), 1)

    def _decision(self, cvl: float, ccl: float, allow_to_charge: bool) -> Decision:
        """Every output goes through here: clamped to the bounds, never NaN."""
        settings = self.settings
        assert settings is not None
        bounds = settings.bounds
        ceiling = min(bounds.voltage_max, settings.cells * settings.target_cell_v)
        safe_cvl = min(settings.normal_cvl_v, ceiling)
        if not math.isfinite(cvl):
            cvl, ccl = safe_cvl, 0.0
        if not math.isfinite(ccl):
            ccl = 0.0
        cvl = round(min(max(cvl, bounds.voltage_min), ceiling), 3)
        ccl = round(min(max(ccl, 0.0), settings.max_current_a), 2)
        eta = self._eta_s if self.state in ACTIVE_STATES else None
        return Decision(
            state=self.state,
            cvl_v=cvl,
            ccl_a=ccl,
            allow_to_charge=allow_to_charge,
            progress_pct=self._progress(),
            eta_s=None if eta is None else round(eta),
            cells_at_shunt=sorted(self.cells_at_shunt),
            first_cells_at_hvc=self.first_cells_at_hvc,
            ah_delivered=round(self.ah_delivered, 3),
            abort_reason=self.abort_reason,
        )

    # -------------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        """Everything needed to resume (or judge) the run after a restart."""
        return {
            "version": 1,
            "settings": None if self.settings is None else self.settings.to_dict(),
            "state": str(self.state),
            "started_s": self.started_s,
            "finished_s": self.finished_s,
            "last_seen_s": self.last_seen_s,
            "ah_delivered": self.ah_delivered,
            "cells_at_shunt": sorted(self.cells_at_shunt),
            "first_cells_at_hvc": list(self.first_cells_at_hvc),
            "abort_reason": self.abort_reason,
            "initial_cell_voltages": self.initial_cell_voltages,
            "final_cell_voltages": self.final_cell_voltages,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], now_s: float) -> TopBalanceController:
        """Restore a run. An active run resumes only if it is recent and within its
        maximum duration; otherwise it is aborted, so nothing stays elevated.
        Malformed data raises ValueError."""
        try:
            settings_data = data["settings"]
            settings = (
                None if settings_data is None else TopBalanceSettings.from_dict(settings_data)
            )
            controller = cls(settings)
            controller.state = TopBalanceState(data["state"])
            controller.started_s = _optional_float(data["started_s"])
            controller.finished_s = _optional_float(data["finished_s"])
            controller.last_seen_s = _optional_float(data["last_seen_s"])
            controller.ah_delivered = float(data["ah_delivered"])
            controller.cells_at_shunt = {int(cell) for cell in data["cells_at_shunt"]}
            controller.first_cells_at_hvc = first_cells(data)
            reason = data["abort_reason"]
            controller.abort_reason = None if reason is None else str(reason)
            controller.initial_cell_voltages = _optional_floats(data["initial_cell_voltages"])
            controller.final_cell_voltages = _optional_floats(data["final_cell_voltages"])
        except (KeyError, TypeError) as err:
            raise ValueError(f"not a saved top-balance run: {err}") from err
        if controller.state in ACTIVE_STATES:
            controller._resume(now_s)
        return controller

    def _resume(self, now_s: float) -> None:
        settings = self.settings
        started = self.started_s
        seen = self.last_seen_s
        if settings is None or started is None or seen is None or not math.isfinite(now_s):
            self._abort(AbortReason.RESTART_EXPIRED, now_s)
            return
        if now_s - started > settings.max_duration_s:
            self._abort(AbortReason.MAX_DURATION, now_s)
            return
        if not 0 <= now_s - seen <= settings.resume_window_s:
            self._abort(AbortReason.RESTART_EXPIRED, now_s)
            return
        # The hold timer restarts: the cells may have moved while nobody watched.
        self.state = TopBalanceState.REGULATE
        self._last_step_s = now_s
        self.last_seen_s = now_s


def first_cells(data: dict[str, Any]) -> tuple[int, ...]:
    """The first cells at HVC from stored data (also the older single-cell form)."""
    if "first_cells_at_hvc" in data:
        return tuple(int(cell) for cell in data["first_cells_at_hvc"])
    first = data.get("first_cell_at_hvc")
    return () if first is None else (int(first),)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _optional_floats(value: Any) -> list[float] | None:
    return None if value is None else [float(item) for item in value]
