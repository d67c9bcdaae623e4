"""Baseline PV-surplus controllers for the benchmark (not shipped with the integration).

Each one follows its source, cited next to the rule:

* `SeedNodeRed`: seed 001 (``../shared/seeds/001_65bb136f92d8c9fb.txt``), the Node-RED
  flow as its README describes it. The README gives no thresholds and no timing; the
  readings chosen are in the class docstring.
* `OpenEvseEco`: openEVSE's solar divert in grid mode with its code defaults
  (OpenEVSE/openevse_esp32_firmware ``src/divert.cpp`` ``DivertTask::update_state``,
  ``src/input_filter.cpp``, ``src/app_config.cpp``; facts
  ``../shared/reference/venus-openevse-evcc-facts.md`` section 5).
* `EvccPv`: evcc's PV mode (evcc-io/evcc ``core/loadpoint.go`` ``pvMaxCurrent`` and its
  timers, ``core/site.go`` ``sitePower``); with its defaults, or configured like
  victron_balance (`evcc_like_ours`).

All of them share one call: ``update(reading) -> amps`` (0 = sleep), made every
``interval_s`` seconds by the harness, which also rounds down to whole amps and clamps
to the station's range like the EVSE does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

VOLTS = 230.0


@dataclass(frozen=True)
class Reading:
    """What a baseline can see at one of its updates (W; grid + = import, battery + = charging)."""

    now: float
    pv_w: float
    grid_w: float
    battery_w: float
    soc: float  # %
    household_w: float  # AC loads without the EV
    ev_current_a: float  # what the car draws now (the EVSE's own meter)
    ev_connected: bool


class SeedNodeRed:
    """Seed 001's PV mode as written: no smoothing, no timers.

    Readings chosen where the README is silent: the PV "left" is PV minus the house
    (without the EV), the battery supplements at 6 A (not less), the lower and upper SoC
    are victron_balance's defaults (30 / 80 %), and the flow reacts to every Venus update.

    * "adjusting the openEVSE charging current so as to try and not draw any current
      from either the battery or the grid ... between 6A and 20A": the current is the
      PV left after the house, whole amps, clamped to 6..20 A, set on every Venus update
      (Node-RED reacts to each MQTT message; the harness calls it every step).
    * "If the PV power drops below ~1.5 kW (6A) then the battery supplements the PV until
      the battery reaches a variable level": below 6 A it keeps 6 A.
    * "When this lower threshold is reached the openEVSE is put into sleep mode allowing
      the PV to charge the battery again until it reaches an upper threshold when it
      switches on the openEVSE charger again": a latch between the lower (30 %) and the
      upper (80 %) SoC, the same thresholds victron_balance uses.
    """

    interval_s = 0.0  # every Venus update

    def __init__(
        self,
        *,
        min_a: float = 6.0,
        max_a: float = 20.0,
        lower_soc: float = 30.0,
        upper_soc: float = 80.0,
    ) -> None:
        self.min_a = min_a
        self.max_a = max_a
        self.lower_soc = lower_soc
        self.upper_soc = upper_soc
        self.sleeping = False

    def update(self, reading: Reading) -> float:
        """Amps for this reading (0 = sleep)."""
        if reading.soc <= self.lower_soc:
            self.sleeping = True
        elif reading.soc >= self.upper_soc:
            self.sleeping = False
        if not reading.ev_connected or self.sleeping:
            return 0.0
        amps = math.floor(max(reading.pv_w - reading.household_w, 0.0) / VOLTS)
        return min(max(amps, self.min_a), self.max_a)


class OpenEvseEco:
    """openEVSE "eco" divert, grid mode, code defaults (``src/divert.cpp``).

    ``DivertTask::update_state`` (the version with ``divert_PV_ratio``): ``Igrid_ie =
    grid_ie / voltage - amps``; excess: ``reserve = (1000.0 * (divert_PV_ratio - 1.0)) /
    voltage``, ``_available_current = (-Igrid_ie - reserve)``; ``_charge_rate =
    floor(_available_current)``, ``+= 1`` if the fraction ``> min(1.0, divert_PV_ratio)``;
    ``trigger_current = getMinCurrent() * min(1.0, divert_PV_ratio)``; release only when
    ``0 == min_charge_time_remaining``; ``DivertTask::loop`` sets ``_min_charge_end`` when
    charging starts. Smoothing: ``input_filter.cpp``'s time-based filter with
    ``divert_attack_smoothing_time 20`` / ``divert_decay_smoothing_time 600`` and
    ``divert_min_charge_time 600`` (``app_config.cpp``), start hysteresis
    ``EVSE_DIVERT_HYSTERESIS`` 0.5 A. Voltage: 230 V (the firmware assumes 240 V without a
    voltage feed; this plant's grid is 230 V, as a configured voltage feed would say).

    Every grid feed (the docs ask for one every 5-10 s; the harness sends one every 10 s):

    * I_grid = grid_ie / V - EV amps; available = -I_grid - reserve when I_grid < 0,
      reserve = 1000 x (PV ratio - 1) / V with PV ratio 1.1; else 0.
    * smoothed += (available - smoothed) x (1 - exp(-dt/tau)), tau = attack 20 s when the
      available current rises above the smoothed one, decay 600 s otherwise (dt in whole
      seconds since the last feed, as input_filter.cpp counts it).
    * charge rate = floor(available) (+1 A only if the fraction exceeds min(1, ratio)).
    * trigger = min current x min(1, ratio). Smoothed >= trigger + 0.5 A (hysteresis):
      the divert claim is active at the charge rate; smoothed <= trigger: released once
      the minimum charge time (600 s from the start of charging) has passed; in between
      the claim keeps its last current.
    * The EVSE clamps a claim below its minimum current to the minimum (6 A).

    The home battery is invisible to it: openEVSE's home-battery topics are display only
    (facts §5), which is the point of issues #184/ESP8266 #231.
    """

    interval_s = 10.0

    def __init__(
        self,
        *,
        min_a: float = 6.0,
        pv_ratio: float = 1.1,
        attack_s: float = 20.0,
        decay_s: float = 600.0,
        min_charge_s: float = 600.0,
        hysteresis_a: float = 0.5,
    ) -> None:
        self.min_a = min_a
        self.pv_ratio = pv_ratio
        self.attack_s = attack_s
        self.decay_s = decay_s
        self.min_charge_s = min_charge_s
        self.hysteresis_a = hysteresis_a
        self.smoothed_a = 0.0
        self.active = False
        self.claim_a = 0.0
        self.min_charge_end = 0.0
        self._last_time: float | None = None
        self._was_charging = False

    def update(self, reading: Reading) -> float:
        """Amps for this grid feed (0 = divert claim disabled)."""
        charging = reading.ev_current_a > 0
        if charging and not self._was_charging:  # DivertTask::loop on the state change
            self.min_charge_end = reading.now + self.min_charge_s
        self._was_charging = charging
        i_grid = reading.grid_w / VOLTS - reading.ev_current_a
        available = 0.0
        if i_grid < 0:
            reserve = 1000.0 * max(self.pv_ratio - 1.0, 0.0) / VOLTS
            available = max(-i_grid - reserve, 0.0)
        tau = self.attack_s if available > self.smoothed_a else self.decay_s
        delta = 0 if self._last_time is None else int(reading.now - self._last_time)
        self._last_time = reading.now
        factor = 1.0 - math.exp(-delta / tau)
        self.smoothed_a = available * factor + self.smoothed_a * (1.0 - factor)
        rate = math.floor(available)
        if available - rate > min(1.0, self.pv_ratio):
            rate += 1
        trigger = self.min_a * min(1.0, self.pv_ratio)
        min_charge_left = self.active and charging and reading.now < self.min_charge_end
        if self.smoothed_a >= trigger + self.hysteresis_a:
            self.active = True
            self.claim_a = max(float(rate), self.min_a)  # the EVSE clamps to its minimum
        elif self.smoothed_a <= trigger and self.active and not min_charge_left:
            self.active = False
        return self.claim_a if self.active and reading.ev_connected else 0.0


class EvccPv:
    """evcc's PV mode (evcc-io/evcc ``core/loadpoint.go`` and ``core/site.go``).

    Followed from ``core/loadpoint.go`` at commit 003553fc598566d56ef81873691236146b2f826d:

    * ``NewLoadpoint``: ``minCurrent: 6``, ``maxCurrent: 16``, ``Enable: {Delay:
      time.Minute, Threshold: 0}``, ``Disable: {Delay: 3 * time.Minute, Threshold: 0}``;
      the site runs ``update`` every ``interval`` (30 s, ``site.Run``'s minimum before it
      warns).
    * ``pvMaxCurrent``: ``targetCurrent := max(effectiveCurrent+deltaCurrent, 0)`` with
      ``deltaCurrent := powerToCurrent(-sitePower, activePhases)``;
      ``if battery := batteryStart || batteryBuffered && lp.charging(); ... targetCurrent <
      minCurrent { return minCurrent }``; enabled and below the minimum: ``if
      projectedSitePower >= lp.Disable.Threshold`` the disable timer runs and, once
      ``elapsed >= lp.GetDisableDelay()``, ``lp.resetPVTimer()`` ("reset timer to prevent
      immediate charger re-enabling") and ``return 0``, else ``resetPVTimer("disable")``
      and ``return minCurrent``; disabled: ``if (lp.Enable.Threshold == 0 &&
      targetCurrent >= minCurrent)`` the enable timer runs and, once elapsed,
      ``lp.resetPVTimer()`` ("... re-disabling") and ``return minCurrent``, else
      ``resetPVTimer("enable")`` and ``return 0``; otherwise ``lp.resetPVTimer()`` and
      ``min(targetCurrent, maxCurrent)``.
    * ``effectiveCurrent``: 0 when not charging, else ``min(cur+2.0, lp.offeredCurrent)``
      with the measured phase current (openEVSE reports its current).
    * ``evVehicleConnectHandler``: ``lp.elapsePVTimer()`` ("immediately allow pv mode
      activity"); ``evChargeStopHandler``: ``if !lp.pvTimer.Equal(elapsed) {
      lp.resetPVTimer() }``.
    * ``setLimit``: ``lp.roundedCurrent`` truncates to whole amps (a charger without
      milliamp control); ``enabled := current >= effMinCurrent``; disabling sets
      ``lp.offeredCurrent = 0``.

    And ``core/site.go`` ``sitePower`` (the stored version that returns
    ``priorityAdjustment``): ``if ... site.battery.Soc < site.prioritySoc && residualPower
    <= 0 { ... residualPower = 100 }``; "if battery is charging below prioritySoc give it
    priority": ``batteryPower = 0``; else "if battery is above bufferSoc allow using it for
    charging": ``batteryBuffered = site.bufferSoc > 0 && site.battery.Soc >
    site.bufferSoc``, ``batteryStart = site.bufferStartSoc > 0 && site.battery.Soc >=
    site.bufferStartSoc``; ``sitePower := site.gridPower + batteryPower + ... +
    residualPower`` (evcc's battery power is + when discharging).

    Not modelled (not used here): phase switching, circuits, battery boost, the planner,
    smart cost limits, the welcome charge.
    """

    interval_s = 30.0
    _ELAPSED = -math.inf  # evcc's ``elapsed``: time.Unix(0, 1), long past

    def __init__(
        self,
        *,
        min_a: float = 6.0,
        max_a: float = 16.0,
        enable_delay_s: float = 60.0,
        disable_delay_s: float = 180.0,
        enable_threshold_w: float = 0.0,
        disable_threshold_w: float = 0.0,
        priority_soc: float = 0.0,
        buffer_soc: float = 0.0,
        buffer_start_soc: float = 0.0,
        residual_w: float = 0.0,
    ) -> None:
        if not priority_soc <= (buffer_soc or 100.0) <= (buffer_start_soc or 100.0):
            # evcc refuses these too (site_api.go: priority <= buffer <= bufferStart).
            raise ValueError("need prioritySoc <= bufferSoc <= bufferStartSoc")
        self.min_a = min_a
        self.max_a = max_a
        self.enable_delay_s = enable_delay_s
        self.disable_delay_s = disable_delay_s
        self.enable_threshold_w = enable_threshold_w
        self.disable_threshold_w = disable_threshold_w
        self.priority_soc = priority_soc
        self.buffer_soc = buffer_soc
        self.buffer_start_soc = buffer_start_soc
        self.residual_w = residual_w
        self.enabled = False
        self.offered_a = 0.0
        self.pv_timer: float | None = None  # None = evcc's zero time (timer reset)
        self._connected = False
        self._charging = False

    def site_power(self, reading: Reading) -> tuple[float, bool, bool]:
        """site.sitePower(): (+ = needs power from outside, batteryBuffered, batteryStart)."""
        battery_w = -reading.battery_w  # evcc: + = discharging
        residual_w = self.residual_w
        if reading.soc < self.priority_soc and residual_w <= 0:
            residual_w = 100.0
        buffered = start = False
        if reading.soc < self.priority_soc and battery_w < 0:
            battery_w = 0.0  # the charging battery has priority
        else:
            buffered = self.buffer_soc > 0 and reading.soc > self.buffer_soc
            start = self.buffer_start_soc > 0 and reading.soc >= self.buffer_start_soc
        return reading.grid_w + battery_w + residual_w, buffered, start

    def update(self, reading: Reading) -> float:
        """Amps for this control cycle (0 = charger disabled)."""
        if reading.ev_connected and not self._connected:
            self.pv_timer = self._ELAPSED  # evVehicleConnectHandler: elapsePVTimer()
        self._connected = reading.ev_connected
        if not reading.ev_connected:
            self._apply(0.0)
            return 0.0
        charging = reading.ev_current_a > 0
        if self._charging and not charging and self.pv_timer != self._ELAPSED:
            self.pv_timer = None  # evChargeStopHandler: resetPVTimer()
        self._charging = charging
        self._apply(self._pv_max_current(reading, charging))
        return self.offered_a if self.enabled else 0.0

    def _pv_max_current(self, reading: Reading, charging: bool) -> float:
        site_w, buffered, start = self.site_power(reading)
        effective = min(reading.ev_current_a + 2.0, self.offered_a) if charging else 0.0
        target = max(effective + (-site_w) / VOLTS, 0.0)
        now = reading.now
        if (start or (buffered and charging)) and target < self.min_a:
            return self.min_a
        if self.enabled and target < self.min_a:
            if site_w >= self.disable_threshold_w:
                if self.pv_timer is None:
                    self.pv_timer = now
                if now - self.pv_timer >= self.disable_delay_s:
                    self.pv_timer = None  # resetPVTimer(): no immediate re-enable
                    return 0.0
            else:
                self.pv_timer = None
            return self.min_a
        if not self.enabled:
            if (self.enable_threshold_w == 0 and target >= self.min_a) or (
                self.enable_threshold_w != 0 and site_w <= self.enable_threshold_w
            ):
                if self.pv_timer is None:
                    self.pv_timer = now
                if now - self.pv_timer >= self.enable_delay_s:
                    self.pv_timer = None  # resetPVTimer(): no immediate re-disable
                    return self.min_a
            else:
                self.pv_timer = None
            return 0.0
        self.pv_timer = None
        return min(target, self.max_a)

    def _apply(self, current: float) -> None:
        """setLimit(): whole amps; below the minimum disables the charger."""
        current = math.trunc(current)
        if current >= self.min_a:
            self.offered_a = float(current)
            self.enabled = True
        else:
            self.enabled = False
            self.offered_a = 0.0


def evcc_like_ours(*, min_a: float, max_a: float, priority_soc: float) -> EvccPv:
    """evcc configured as close to victron_balance's defaults as evcc can be.

    The mapping (victron_balance -> evcc): PV window 6-20 A -> minCurrent 6 /
    maxCurrent 20; priority SoC 50 % -> prioritySoc 50; battery assist above the priority
    SoC -> bufferSoc 50 (evcc needs prioritySoc <= bufferSoc; "continue charging from the
    battery above it"); no start on the battery alone -> bufferStartSoc unset; start
    delay 60 s / stop delay 120 s + minimum run 300 s -> evcc's own enable 1 min /
    disable 3 min (evcc has no minimum run or pause). What evcc cannot express: the
    low-SoC sleep from 30 % until 80 % and the plug-in SoC floor for the assist.
    """
    return EvccPv(min_a=min_a, max_a=max_a, priority_soc=priority_soc, buffer_soc=priority_soc)
