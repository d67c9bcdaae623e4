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
* With a solar forecast (the ``forecast_*`` inputs; `pv_forecast`) the forecast decides
  instead of the priority SoC: the battery keeps the share of the surplus it needs to be
  full by sunset (none while the sun to come is well above that: the car goes first in
  the morning instead of the battery filling and the rest being exported in the
  afternoon; all of it when the battery would not fill). Export is always the car's.
* Charging follows the smoothed surplus inside min..max A in whole amps. The filter is
  asymmetric: a falling surplus is followed within seconds (a cloud must not leave the
  battery or the grid carrying the EV), a rising one slowly (a minute of sun between
  clouds must not start or ramp the EV). A running current is lowered only once the
  surplus is half an amp below it, so a lagging EV power reading does not make it hunt.
* Battery assist (seed 001): below the minimum current the battery carries the
  shortfall while the sun still covers `assist_min_share` of the minimum charging power
  and the SoC is above every floor that applies: the lower SoC, the priority SoC, and
  the SoC the battery had when the car was plugged in, so the battery only lends back
  solar energy it banked during this session and never the house's reserve. A battery
  above `full_soc` that exports may also start the car this way.
* Loss-aware assist with a forecast: the battery lends (through any cloud, and for a
  start above the upper SoC) only while the forecast fills it again by sunset, so what
  it lends comes back from PV that would be exported, not from the grid in the evening;
  the floor is then the lower SoC.
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

from .pv_forecast import Outlook, OutlookSettings, SolarOutlook, finite_number

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
    # %: a battery this full that exports may start the car below the minimum power (the
    # BMS tapers the charge above it, so the ESS exports the rest).
    full_soc: float = 95.0
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
        socs = (self.battery_lower_soc, self.battery_upper_soc, self.priority_soc, self.full_soc)
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
    # The solar forecast (all None without a forecast entity): PV energy still to come
    # today, seconds until sunset, today's sunrise-to-sunset duration, and the home
    # battery's capacity.
    forecast_remaining_wh: float | None = None
    sunset_in_s: float | None = None
    daylight_s: float | None = None
    battery_capacity_wh: float | None = None


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


class PvSurplusController:
    """Decides the EVSE current in PV-surplus mode; call `update()` on every snapshot."""

    def __init__(self, settings: SurplusSettings, outlook: OutlookSettings | None = None) -> None:
        self._settings = settings
        self._outlook = SolarOutlook(outlook)
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
        self._plan: Outlook | None = None
        self._outlook.reset()

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
        self._pv_w = finite_number(inputs.pv_power_w)
        self._consumption_w = finite_number(inputs.consumption_w)
        measured = self._measured(inputs)
        if measured is None:
            return self._safe_stop(finite_number(inputs.now), Reason.STALE_INPUT)
        if self._plug_in_soc is None:
            self._plug_in_soc = measured.soc
        self._plan = self._outlook.update(
            now=measured.now,
            pv_w=self._pv_w,
            house_w=None if self._consumption_w is None else self._consumption_w - measured.ev_w,
            soc=measured.soc,
            full_soc=self._settings.full_soc,
            remaining_wh=inputs.forecast_remaining_wh,
            sunset_in_s=inputs.sunset_in_s,
            daylight_s=inputs.daylight_s,
            capacity_wh=inputs.battery_capacity_wh,
        )
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
            finite_number(value)
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
        """What the EV could draw without import, the battery's priority honoured.

        Without a forecast the battery has priority below the priority SoC (its charge
        power is not surplus). With one, it keeps the share of the surplus it needs to be
        full at sunset (`pv_forecast`), whatever its SoC; export is always surplus.
        """
        without_charge_w = m.ev_w - m.grid_w + min(m.battery_w, 0.0)
        if self._plan is not None:
            total_w = without_charge_w + max(m.battery_w, 0.0)
            surplus_w = total_w - self._plan.battery_share * max(total_w, 0.0)
            if m.grid_w < -self._settings.import_tolerance_w:
                # Exporting: the battery does not take what it is offered (full, or at its
                # charge limit), so the export is the car's.
                surplus_w = max(surplus_w, without_charge_w)
            return surplus_w
        if m.soc < self._settings.priority_soc:
            return without_charge_w
        return without_charge_w + max(m.battery_w, 0.0)

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
        if self._sun_covers_assist(smoothed) and m.soc > self.assist_floor_soc():
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

    def _sun_covers_assist(self, smoothed_w: float) -> bool:
        """Does the sun pay enough of the minimum current for the battery to carry the rest?

        Without a forecast: `assist_min_share` of it. With one that fills the battery
        anyway, any share: a cloud's worth of battery energy comes back before sunset,
        and riding through it saves the car a stop and a start.
        """
        if self._plan is not None and self._plan.spare_wh > 0:
            return True
        return smoothed_w >= self._settings.assist_min_share * self._settings.min_power_w

    def assist_floor_soc(self) -> float:
        """The SoC above which the battery may carry the EV's shortfall.

        With a forecast: the lower SoC while the battery fills anyway by sunset (what it
        lends comes back from PV that would be exported), else never (100 %).
        """
        s = self._settings
        floor = s.battery_lower_soc
        if self._plan is not None:
            return floor if self._plan.spare_wh > 0 else 100.0
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
        if smoothed < s.min_power_w + s.start_margin_w and not self._may_start_on_assist(
            m, smoothed
        ):
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
        reason = Reason.SURPLUS if smoothed >= s.min_power_w else Reason.BATTERY_ASSIST
        return self._decide(self._surplus_current(smoothed), reason)

    def _may_start_on_assist(self, m: _Measured, smoothed: float) -> bool:
        """Start below the minimum on a battery that is full and exporting anyway.

        With a forecast: above the upper SoC, while the forecast's spare energy covers
        what a minimum run could take from the battery (it fills again by sunset).
        Without one: only a full battery that exports (above `full_soc`), and only down
        to the assist floors, so it lends no more than it banked this session.
        Either way the sun must pay at least `assist_min_share` of the minimum.
        """
        s = self._settings
        if smoothed < s.assist_min_share * s.min_power_w:
            return False
        plan = self._plan
        if plan is None:
            exporting = m.grid_w < -s.import_tolerance_w
            return exporting and m.soc >= s.full_soc and m.soc > self.assist_floor_soc()
        if m.soc < s.battery_upper_soc:
            return False
        lent_wh = s.min_power_w * (1.0 - s.assist_min_share) * s.min_run_s / 3600.0
        return plan.spare_wh > lent_wh

    def _idle_reason(self, m: _Measured) -> Reason:
        """Why there is no charge: the battery has priority, or there is not enough sun."""
        if self._plan is not None:
            battery_first = self._plan.battery_share > 0.5
        else:
            battery_first = m.soc < self._settings.priority_soc
        if battery_first and m.battery_w > 0:
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
            **{f"forecast_{key}": value for key, value in self._outlook.diagnostics().items()},
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
