"""PV-surplus EV charging on a Victron ESS: how many amps the EVSE may draw now.

Pure logic (no Home Assistant): `PvSurplusController.update()` takes one snapshot of
the Venus measurements and returns a current (0 = pause) and a stable reason.

Why the surplus is computed the way it is. On an ESS the MultiPlus holds the grid near
its setpoint by charging or discharging the battery, so PV surplus shows up mostly as
battery charge power, and as export only when the battery is full or at its charge
limit. The power the EV could have without importing is therefore

    surplus = ev_power - grid_power + battery_power

(grid + = import, battery + = charging). It does not depend on what the EV draws now (a
bigger EV current only moves power from the battery/export terms into ev_power), so the
loop cannot run away. PV power and consumption are not needed for it (and would be wrong
with a PV inverter Venus does not see); they only go into the diagnostics.

Rules, with the defaults in `SurplusSettings`:

* Priority SoC (evcc's prioritySoc): below it the home battery charges first; its
  charge power is not counted as surplus, only its discharge (as a shortfall).
* Charging follows the smoothed surplus inside min..max A in whole amps. The filter is
  asymmetric: a falling surplus is followed within seconds (a cloud must not leave the
  battery or the grid carrying the EV), a rising one slowly (a minute of sun between
  clouds must not start or ramp the EV). A running current is lowered only once the
  surplus is half an amp below it, so a lagging EV power reading does not make it hunt.
* Battery assist (seed 001): below the minimum current the battery carries the
  shortfall while the sun still covers `assist_min_share` of the minimum charging power
  and the SoC is above every floor that applies: the lower SoC, the priority SoC, and
  the SoC the battery had when the car was plugged in, so the battery only lends back
  solar energy it banked during this session and never the house's reserve.
* Low SoC (seed 001): at or below the lower SoC the EVSE sleeps until the battery is
  back at or above the upper SoC, whatever the surplus.
* Contactor wear: a start needs the surplus (minimum power + a margin) for
  `start_delay_s` and at least `min_pause_s` since the last stop; a stop needs the
  shortfall for `stop_delay_s` and at least `min_run_s` since the start.
* Safety stops do not wait for those timers: low SoC, grid import above the tolerance
  for `import_stop_s` at the minimum current, missing/NaN/infinite inputs (reason
  ``stale_input``, never a guess), the car unplugged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, Final

# The modes around this controller (off, fixed currents) live in `evse_modes`.


class Reason(StrEnum):
    """Why the controller chose its current (stable: shown in HA and logged)."""

    SURPLUS = "surplus"  # charging from surplus
    BATTERY_ASSIST = "battery_assist"  # at the minimum, the battery carries the rest
    MIN_RUN_TIME = "min_run_time"  # shortfall, but the charge has not run long enough
    STOP_DELAY = "stop_delay"  # shortfall, waiting to see whether it lasts
    LOW_SOC_PAUSE = "low_soc_pause"  # asleep from the lower until the upper SoC
    PRIORITY_SOC = "priority_soc"  # paused: the home battery charges first
    WAITING_FOR_SUN = "waiting_for_sun"  # paused: not enough surplus
    START_DELAY = "start_delay"  # enough surplus, waiting to see whether it lasts
    MIN_PAUSE_TIME = "min_pause_time"  # enough surplus, but paused too recently
    GRID_IMPORT = "grid_import"  # stopped: sustained import at the minimum current
    STALE_INPUT = "stale_input"  # paused: a measurement is missing or invalid
    NOT_CONNECTED = "not_connected"


_NON_NEGATIVE: Final = (
    "assist_min_share",
    "start_margin_w",
    "current_hysteresis_a",
    "start_delay_s",
    "stop_delay_s",
    "min_run_s",
    "min_pause_s",
    "import_tolerance_w",
    "import_stop_s",
)
_POSITIVE: Final = ("voltage_v", "rise_tau_s", "fall_tau_s", "max_update_gap_s")


@dataclass(frozen=True)
class SurplusSettings:
    """The user's thresholds and the controller's timing (validated on creation)."""

    min_current_a: float = 6.0  # seed 001
    max_current_a: float = 20.0  # seed 001
    phases: int = 1
    voltage_v: float = 230.0
    battery_lower_soc: float = 30.0  # %: at/below, the EVSE sleeps (seed 001)
    battery_upper_soc: float = 80.0  # %: after a low-SoC pause, resume only at/above this
    # %: below it the home battery charges first (evcc prioritySoc). Half of the pack
    # covers an evening and a night of a typical house with an 8-10 kWh battery.
    priority_soc: float = 50.0
    # Battery assist needs the sun to cover at least this share of the minimum charging
    # power: the battery bridges clouds and the evening decline, it does not run the
    # EV alone (0 = assist on the battery alone, as seed 001 does).
    assist_min_share: float = 0.3
    assist_above_priority_soc: bool = True  # no assist below the priority SoC
    assist_keeps_plug_in_soc: bool = True  # no assist below the SoC at plug-in
    start_margin_w: float = 100.0  # a start needs minimum power + this
    current_hysteresis_a: float = 0.5  # lower a running current only this far below it
    start_delay_s: float = 60.0  # the surplus must hold this long before a start
    stop_delay_s: float = 120.0  # a shortfall must last this long before a stop
    min_run_s: float = 300.0  # shortest charge once started (contactor wear)
    min_pause_s: float = 300.0  # shortest pause once stopped (contactor wear)
    rise_tau_s: float = 30.0  # smoothing time constant on a rising surplus
    fall_tau_s: float = 3.0  # ... on a falling surplus: the fast attack
    import_tolerance_w: float = 100.0  # grid import above this counts as import
    import_stop_s: float = 10.0  # sustained import at the minimum current stops charging
    max_update_gap_s: float = 60.0  # a longer gap between updates restarts the filter

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not math.isfinite(value):
                raise ValueError(f"{item.name} must be a finite number, got {value!r}")
        if not 0 < self.min_current_a <= self.max_current_a:
            raise ValueError(
                "need 0 < min_current_a <= max_current_a, got "
                f"{self.min_current_a} and {self.max_current_a}"
            )
        if self.phases not in (1, 3):
            raise ValueError(f"phases must be 1 or 3, got {self.phases}")
        socs = (self.battery_lower_soc, self.battery_upper_soc, self.priority_soc)
        if not all(0 <= soc <= 100 for soc in socs):
            raise ValueError(f"SoC thresholds must be within 0..100 %, got {socs}")
        if self.battery_lower_soc >= self.battery_upper_soc:
            raise ValueError(
                f"battery_lower_soc ({self.battery_lower_soc} %) must be below "
                f"battery_upper_soc ({self.battery_upper_soc} %)"
            )
        if self.assist_min_share > 1:
            raise ValueError(f"assist_min_share must be within 0..1, got {self.assist_min_share}")
        for name in _NON_NEGATIVE:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        for name in _POSITIVE:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def watts_per_amp(self) -> float:
        """Charging power per ampere (all phases)."""
        return self.voltage_v * self.phases

    @property
    def min_power_w(self) -> float:
        """Charging power at the minimum current."""
        return self.min_current_a * self.watts_per_amp


@dataclass(frozen=True)
class SurplusInputs:
    """One snapshot of the measurements (None = unknown or stale)."""

    now: float  # monotonic seconds
    pv_power_w: float | None  # all PV (AC-coupled + MPPT)
    grid_power_w: float | None  # sum of phases, + = import
    battery_power_w: float | None  # + = charging
    battery_soc: float | None  # %
    consumption_w: float | None  # AC loads as Venus reports them
    ev_power_w: float | None  # the EV's own power now
    ev_connected: bool


@dataclass(frozen=True)
class SurplusDecision:
    """The current to set (0.0 = pause/sleep) and why."""

    current_a: float
    reason: str


@dataclass(frozen=True)
class _Measured:
    """The inputs the decision needs, checked."""

    now: float
    grid_w: float
    battery_w: float
    soc: float
    ev_w: float


def _finite(value: object) -> float | None:
    """The value as a float if it is a real, finite number, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


class PvSurplusController:
    """Decides the EVSE current in PV-surplus mode; call `update()` on every snapshot."""

    def __init__(self, settings: SurplusSettings) -> None:
        self._settings = settings
        self._clear()

    def _clear(self) -> None:
        self._current_a = 0.0
        self._reason = Reason.NOT_CONNECTED
        self._raw_w: float | None = None
        self._smoothed_w: float | None = None
        self._last_now: float | None = None
        self._low_soc_pause = False
        self._plug_in_soc: float | None = None
        self._run_started: float | None = None
        self._paused_since: float | None = None
        self._start_since: float | None = None
        self._stop_since: float | None = None
        self._import_since: float | None = None
        self._pv_w: float | None = None
        self._consumption_w: float | None = None

    @property
    def settings(self) -> SurplusSettings:
        """The settings in force."""
        return self._settings

    @property
    def surplus_w(self) -> float | None:
        """The smoothed surplus the decisions follow, W (None until a reading)."""
        return self._smoothed_w

    def update_settings(self, settings: SurplusSettings) -> None:
        """New settings from the next update on; timers, filter and latches carry on."""
        self._settings = settings
        if self._current_a > 0:
            self._current_a = min(
                max(self._current_a, settings.min_current_a), settings.max_current_a
            )

    def reset(self) -> None:
        """Forget everything (as after unplugging): paused, no timers, no history."""
        self._clear()

    # ---------------------------------------------------------------- update
    def update(self, inputs: SurplusInputs) -> SurplusDecision:
        """The current for this snapshot."""
        if not inputs.ev_connected:
            self.reset()
            return self._decide(0.0, Reason.NOT_CONNECTED)
        self._pv_w = _finite(inputs.pv_power_w)
        self._consumption_w = _finite(inputs.consumption_w)
        measured = self._measured(inputs)
        if measured is None:
            return self._safe_stop(_finite(inputs.now), Reason.STALE_INPUT)
        if self._plug_in_soc is None:
            self._plug_in_soc = measured.soc
        self._filter(measured.now, self._surplus(measured))
        if self._low_soc_latched(measured.soc):
            return self._safe_stop(measured.now, Reason.LOW_SOC_PAUSE)
        if self._current_a > 0:
            return self._while_charging(measured)
        return self._while_paused(measured)

    @staticmethod
    def _measured(inputs: SurplusInputs) -> _Measured | None:
        """The required inputs, or None if any is missing or impossible."""
        values = [
            _finite(value)
            for value in (
                inputs.now,
                inputs.grid_power_w,
                inputs.battery_power_w,
                inputs.battery_soc,
                inputs.ev_power_w,
            )
        ]
        now, grid_w, battery_w, soc, ev_w = values
        if now is None or grid_w is None or battery_w is None or soc is None or ev_w is None:
            return None
        if not 0 <= soc <= 100:
            return None
        return _Measured(now, grid_w, battery_w, soc, max(ev_w, 0.0))

    def _surplus(self, m: _Measured) -> float:
        """What the EV could draw without import, battery priority honoured."""
        battery_w = m.battery_w if m.soc >= self._settings.priority_soc else min(m.battery_w, 0)
        return m.ev_w - m.grid_w + battery_w

    def _filter(self, now: float, raw_w: float) -> None:
        """Asymmetric exponential smoothing: fast down, slow up."""
        s = self._settings
        last = self._last_now
        self._last_now = now
        self._raw_w = raw_w
        if self._smoothed_w is None or last is None or not 0 <= now - last <= s.max_update_gap_s:
            self._smoothed_w = raw_w  # first sample, clock jump or long gap: start afresh
            return
        tau = s.rise_tau_s if raw_w > self._smoothed_w else s.fall_tau_s
        self._smoothed_w += (1.0 - math.exp(-(now - last) / tau)) * (raw_w - self._smoothed_w)

    def _low_soc_latched(self, soc: float) -> bool:
        """At/below the lower SoC: asleep until the battery is back at the upper SoC."""
        s = self._settings
        if soc <= s.battery_lower_soc:
            self._low_soc_pause = True
        elif soc >= s.battery_upper_soc:
            self._low_soc_pause = False
        return self._low_soc_pause

    # ------------------------------------------------------------- charging
    def _while_charging(self, m: _Measured) -> SurplusDecision:
        s = self._settings
        smoothed = self._smoothed()
        if self._sustained_import(m):
            return self._safe_stop(m.now, Reason.GRID_IMPORT)
        if smoothed >= s.min_power_w:
            self._stop_since = None
            return self._decide(self._surplus_current(smoothed), Reason.SURPLUS)
        if smoothed >= s.assist_min_share * s.min_power_w and m.soc > self.assist_floor_soc():
            self._stop_since = None
            return self._decide(s.min_current_a, Reason.BATTERY_ASSIST)
        # A shortfall the battery may not carry: the minimum until the timers allow a stop.
        if self._stop_since is None:
            self._stop_since = m.now
        started = self._run_started if self._run_started is not None else m.now
        if m.now - started < s.min_run_s:
            return self._decide(s.min_current_a, Reason.MIN_RUN_TIME)
        if m.now - self._stop_since < s.stop_delay_s:
            return self._decide(s.min_current_a, Reason.STOP_DELAY)
        return self._stop(m.now, self._idle_reason(m))

    def assist_floor_soc(self) -> float:
        """The SoC above which the battery may carry the EV's shortfall."""
        s = self._settings
        floor = s.battery_lower_soc
        if s.assist_above_priority_soc:
            floor = max(floor, s.priority_soc)
        if s.assist_keeps_plug_in_soc and self._plug_in_soc is not None:
            floor = max(floor, self._plug_in_soc)
        return floor

    def _sustained_import(self, m: _Measured) -> bool:
        """Import above the tolerance while at the minimum current, for import_stop_s."""
        s = self._settings
        if m.grid_w <= s.import_tolerance_w or self._current_a > s.min_current_a:
            self._import_since = None
            return False
        if self._import_since is None:
            self._import_since = m.now
        return m.now - self._import_since >= s.import_stop_s

    def _surplus_current(self, smoothed_w: float) -> float:
        """Whole amps the smoothed surplus pays for, inside min..max.

        Up as soon as a whole amp more is paid for; down only once the surplus is more
        than the hysteresis below the present current.
        """
        s = self._settings
        target = smoothed_w / s.watts_per_amp + 1e-9
        amps = math.floor(target)
        current = self._current_a
        if current > 0 and amps < current:
            if target >= current - s.current_hysteresis_a:
                amps = math.floor(current)
            else:
                amps = math.floor(target + s.current_hysteresis_a)
        return float(min(max(amps, s.min_current_a), s.max_current_a))

    # --------------------------------------------------------------- paused
    def _while_paused(self, m: _Measured) -> SurplusDecision:
        s = self._settings
        smoothed = self._smoothed()
        if smoothed < s.min_power_w + s.start_margin_w:
            self._start_since = None
            return self._decide(0.0, self._idle_reason(m))
        if self._start_since is None:
            self._start_since = m.now
        if self._paused_since is not None and m.now - self._paused_since < s.min_pause_s:
            return self._decide(0.0, Reason.MIN_PAUSE_TIME)
        if m.now - self._start_since < s.start_delay_s:
            return self._decide(0.0, Reason.START_DELAY)
        self._run_started = m.now
        self._paused_since = None
        self._start_since = None
        self._stop_since = None
        return self._decide(self._surplus_current(smoothed), Reason.SURPLUS)

    def _idle_reason(self, m: _Measured) -> Reason:
        """Why there is no charge: the battery has priority, or there is not enough sun."""
        if m.soc < self._settings.priority_soc and m.battery_w > 0:
            return Reason.PRIORITY_SOC
        return Reason.WAITING_FOR_SUN

    # -------------------------------------------------------------- helpers
    def _smoothed(self) -> float:
        return self._smoothed_w if self._smoothed_w is not None else 0.0

    def _stop(self, now: float, reason: Reason) -> SurplusDecision:
        self._run_started = None
        self._stop_since = None
        self._import_since = None
        self._paused_since = now
        return self._decide(0.0, reason)

    def _safe_stop(self, now: float | None, reason: Reason) -> SurplusDecision:
        """Pause now whatever the timers say; a running charge starts its pause."""
        self._start_since = None
        if self._current_a > 0:
            return self._stop(now if now is not None else self._last_now or 0.0, reason)
        return self._decide(0.0, reason)

    def _decide(self, current_a: float, reason: Reason) -> SurplusDecision:
        self._current_a = current_a
        self._reason = reason
        return SurplusDecision(current_a, reason.value)

    def diagnostics(self) -> dict[str, Any]:
        """The controller's state for HA diagnostics (JSON-friendly)."""
        return {
            "current_a": self._current_a,
            "reason": self._reason.value,
            "raw_surplus_w": _rounded(self._raw_w),
            "smoothed_surplus_w": _rounded(self._smoothed_w),
            "pv_power_w": _rounded(self._pv_w),
            "consumption_w": _rounded(self._consumption_w),
            "low_soc_pause": self._low_soc_pause,
            "plug_in_soc": self._plug_in_soc,
            "assist_floor_soc": self.assist_floor_soc(),
            "run_started": self._run_started,
            "paused_since": self._paused_since,
            "start_pending_since": self._start_since,
            "stop_pending_since": self._stop_since,
            "import_since": self._import_since,
            "last_update": self._last_now,
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
