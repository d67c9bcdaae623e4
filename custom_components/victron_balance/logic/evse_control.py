"""The EVSE control step around the PV controller: its inputs, its target, the claim.

`evse_modes` decides the fixed cases; this module feeds the PV-surplus controller from
the Venus state, turns its decision into a claim within the user's bounds, and decides
when a claim has to be (re)sent. The Home Assistant side only moves data and messages.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from .evse_modes import EvseSettings, Situation, Target, capped_current
from .openevse import ClaimRequest, EvseReadings, claim_matches
from .pv_forecast import finite_number
from .pv_surplus import SurplusDecision, SurplusInputs, SurplusSettings
from .venus_state import BatteryView, VenusState, float_value, phase_total
from .venus_topics import SYSTEM

# A claim the station does not show is sent again after 5 s, then 10, 20... up to 60 s.
CLAIM_RESEND_MIN_S: Final = 5.0
CLAIM_RESEND_MAX_S: Final = 60.0


@dataclass(frozen=True)
class TimingOption:
    """One of the PV controller's timing constants as an integration option (seconds)."""

    key: str  # the option's key
    field: str  # the SurplusSettings field it sets
    minimum: float
    maximum: float

    @property
    def default(self) -> float:
        """Today's value: the controller's default."""
        return float(getattr(_DEFAULTS, self.field))


_DEFAULTS: Final = SurplusSettings()
PV_TIMING_OPTIONS: Final = (
    TimingOption("pv_start_delay", "start_delay_s", 0.0, 1800.0),
    TimingOption("pv_stop_delay", "stop_delay_s", 0.0, 1800.0),
    TimingOption("pv_min_run", "min_run_s", 0.0, 3600.0),
    TimingOption("pv_min_pause", "min_pause_s", 0.0, 3600.0),
    TimingOption("pv_rise_smoothing", "rise_tau_s", 1.0, 600.0),
    TimingOption("pv_fall_smoothing", "fall_tau_s", 1.0, 600.0),
)


def pv_timing(options: Mapping[str, Any]) -> dict[str, float]:
    """The timing constants from the options (SurplusSettings field -> seconds).

    A missing option, or one outside its range (the options form enforces the range,
    so only a hand-edited entry has one), keeps today's default.
    """
    timing: dict[str, float] = {}
    for option in PV_TIMING_OPTIONS:
        value = finite_number(options.get(option.key))
        if value is None or not option.minimum <= value <= option.maximum:
            value = option.default
        timing[option.field] = value
    return timing


def surplus_settings(
    settings: EvseSettings, timing: Mapping[str, float] | None = None
) -> SurplusSettings:
    """The PV controller's settings from the user's numbers and the timing options.

    The maximum current caps the PV window too, and the priority SoC never sits
    above the upper SoC (the battery would never be "full enough" to share).
    """
    mapped = SurplusSettings(
        min_current_a=float(settings.pv_min_current_a),
        max_current_a=float(min(settings.pv_max_current_a, settings.max_current_a)),
        battery_lower_soc=settings.battery_lower_soc,
        battery_upper_soc=settings.battery_upper_soc,
        priority_soc=min(settings.priority_soc, settings.battery_upper_soc),
    )
    changes: dict[str, Any] = dict(timing or {})
    return replace(mapped, **changes)


@dataclass(frozen=True)
class SolarForecast:
    """What the HA layer read for the forecast (None where it has nothing valid)."""

    remaining_wh: float | None  # PV energy still to come today
    sunset_in_s: float | None  # until today's sunset (0 once it has set)
    daylight_s: float | None  # today's sunrise to sunset


_ENERGY_UNITS: Final = {"Wh": 1.0, "kWh": 1000.0, "MWh": 1_000_000.0}


def forecast_energy_wh(state: str, unit: object) -> float | None:
    """A forecast sensor's state in Wh (Forecast.Solar and Solcast report kWh)."""
    factor = _ENERGY_UNITS.get(unit) if isinstance(unit, str) else None
    try:
        value = float(state)
    except ValueError:
        return None
    if factor is None or not math.isfinite(value) or value < 0:
        return None
    return value * factor


def battery_capacity_wh(battery: BatteryView | None) -> float | None:
    """The followed battery's installed capacity (Ah) at the pack voltage now."""
    if battery is None:
        return None
    capacity = float_value(battery.value("/InstalledCapacity"))
    volts = float_value(battery.value("/Dc/0/Voltage"))
    if capacity is None or volts is None or capacity <= 0 or volts <= 0:
        return None
    return capacity * volts


def surplus_inputs(
    now: float,
    state: VenusState,
    readings: EvseReadings,
    battery: BatteryView | None,
    forecast: SolarForecast | None = None,
) -> SurplusInputs:
    """What the PV controller sees of the system at `now` (None where Venus has nothing).

    Without a forecast (no forecast entity) the forecast inputs stay None and the
    controller works without one.
    """
    dc_pv = float_value(state.value(SYSTEM, "/Dc/Pv/Power"))
    ac_pv = [phase_total(state, "/Ac/PvOnGrid"), phase_total(state, "/Ac/PvOnOutput")]
    known = [p for p in (dc_pv, *ac_pv) if p is not None]
    soc = float_value(state.value(SYSTEM, "/Dc/Battery/Soc"))
    if soc is None and battery is not None:
        soc = float_value(battery.value("/Soc"))  # the followed battery's own SoC
    return SurplusInputs(
        now=now,
        pv_power_w=sum(known) if known else None,
        grid_power_w=phase_total(state, "/Ac/Grid"),
        battery_power_w=float_value(state.value(SYSTEM, "/Dc/Battery/Power")),
        battery_soc=soc,
        consumption_w=phase_total(state, "/Ac/Consumption"),
        ev_power_w=readings.power_w,
        ev_connected=readings.plugged_in,
        forecast_remaining_wh=None if forecast is None else forecast.remaining_wh,
        sunset_in_s=None if forecast is None else forecast.sunset_in_s,
        daylight_s=None if forecast is None else forecast.daylight_s,
        battery_capacity_wh=None if forecast is None else battery_capacity_wh(battery),
    )


def surplus_target(
    decision: SurplusDecision, settings: EvseSettings, situation: Situation
) -> Target:
    """The PV controller's decision as a claim: a pause, or whole amps within the caps."""
    if not decision.current_a > 0 or not math.isfinite(decision.current_a):
        return Target(ClaimRequest(None), decision.reason)
    current = capped_current(decision.current_a, settings, situation)
    return Target(ClaimRequest(current), decision.reason)


@dataclass
class ClaimKeeper:
    """Remembers the claim sent and decides when it has to go out (again)."""

    sent: ClaimRequest | None = None
    sent_at: float | None = None
    resend_after: float = CLAIM_RESEND_MIN_S

    def due(self, request: ClaimRequest, shown: dict[str, object] | None, now: float) -> bool:
        """Send `request` now? New requests go at once; one the station does not show
        (lost, or the station restarted) again after a growing wait."""
        if request != self.sent:
            self.resend_after = CLAIM_RESEND_MIN_S
            return True
        if claim_matches(request, shown):
            self.resend_after = CLAIM_RESEND_MIN_S
            return False
        if self.sent_at is not None and now - self.sent_at < self.resend_after:
            return False
        self.resend_after = min(self.resend_after * 2, CLAIM_RESEND_MAX_S)
        return True

    def record(self, request: ClaimRequest, now: float) -> None:
        """`request` went out."""
        self.sent = request
        self.sent_at = now

    def forget(self) -> None:
        """Nothing of ours is in force (offline, or released): send afresh next time."""
        self.sent = None
        self.sent_at = None
        self.resend_after = CLAIM_RESEND_MIN_S

    def must_release(self, shown: dict[str, object] | None) -> bool:
        """Off: is there a claim of ours to release (sent by us, or still shown)?"""
        return self.sent is not None or shown is not None
