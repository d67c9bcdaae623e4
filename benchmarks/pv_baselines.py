"""Baseline PV-surplus controllers for the benchmark (not shipped with the integration).

Each one is written from its documented rules, cited next to the rule:

* `SeedNodeRed`: seed 001 (``../shared/seeds/001_65bb136f92d8c9fb.txt``), the
  Node-RED flow as its README describes it.
* `OpenEvseEco`: openEVSE's built-in solar divert in grid mode with its code defaults
  (facts ``../shared/reference/venus-openevse-evcc-facts.md`` §5, which summarises
  ``src/divert.cpp`` and ``src/input_filter.cpp`` of OpenEVSE/openevse_esp32_firmware).
* `EvccPv`: evcc's PV mode with its loadpoint and site defaults (facts §6, which
  summarises ``core/loadpoint.go``/``core/site.go`` of evcc-io/evcc).

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
    """openEVSE "eco" divert, grid mode, code defaults (facts §5; src/divert.cpp).

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
    """evcc's PV mode with its defaults (facts §6; core/loadpoint.go, core/site.go).

    * Control loop every 30 s (``interval: 30s``).
    * sitePower = grid + battery (evcc's battery sign: + = discharging) + residual.
      Below ``prioritySoc`` a charging battery counts 0 and residual is forced to 100 W;
      evcc's default prioritySoc is 0 (unset), so by default a charging home battery is
      surplus.
    * target = effective current + (-sitePower) / (V x phases), where the effective
      current is 0 when not charging, else min(measured + 2 A, offered).
    * Enabled and target < min (6 A): sitePower >= disable threshold (0 W) starts the
      disable timer, 0 A after the disable delay (3 min); meanwhile the minimum current.
    * Disabled: target >= min (enable threshold 0 W means "export must exceed the
      minimum charge power") starts the enable timer, the minimum current after the
      enable delay (1 min). Connecting the car puts the timer in its elapsed state, so the
      first start needs no delay; a stop of charging resets it.
    * Otherwise the target, capped at max (16 A) and truncated to whole amps (setLimit on
      a charger without milliamp control).
    """

    interval_s = 30.0
    _ELAPSED = -math.inf  # evcc's "elapsed" timer: time.Unix(0, 1)

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
        residual_w: float = 0.0,
    ) -> None:
        self.min_a = min_a
        self.max_a = max_a
        self.enable_delay_s = enable_delay_s
        self.disable_delay_s = disable_delay_s
        self.enable_threshold_w = enable_threshold_w
        self.disable_threshold_w = disable_threshold_w
        self.priority_soc = priority_soc
        self.residual_w = residual_w
        self.enabled = False
        self.offered_a = 0.0
        self.pv_timer: float | None = None
        self._connected = False
        self._charging = False

    def site_power(self, reading: Reading) -> float:
        """site.sitePower(): + = needs power from outside, - = surplus."""
        battery_w = -reading.battery_w  # evcc: + = discharging
        residual_w = self.residual_w
        if reading.soc < self.priority_soc:
            if residual_w <= 0:
                residual_w = 100.0
            battery_w = max(battery_w, 0.0)
        return reading.grid_w + battery_w + residual_w

    def update(self, reading: Reading) -> float:
        """Amps for this control cycle (0 = charger disabled)."""
        if reading.ev_connected and not self._connected:
            self.pv_timer = self._ELAPSED  # evVehicleConnectHandler: elapsePVTimer()
        self._connected = reading.ev_connected
        if not reading.ev_connected:
            self.enabled = False
            self.offered_a = 0.0
            return 0.0
        charging = reading.ev_current_a > 0
        if self._charging and not charging and self.pv_timer != self._ELAPSED:
            self.pv_timer = None  # evChargeStopHandler: resetPVTimer()
        self._charging = charging
        self._apply(self._pv_max_current(reading, charging))
        return self.offered_a if self.enabled else 0.0

    def _pv_max_current(self, reading: Reading, charging: bool) -> float:
        site_w = self.site_power(reading)
        effective = min(reading.ev_current_a + 2.0, self.offered_a) if charging else 0.0
        target = max(effective + (-site_w) / VOLTS, 0.0)
        now = reading.now
        if self.enabled and target < self.min_a:
            if site_w >= self.disable_threshold_w:
                if self.pv_timer is None:
                    self.pv_timer = now
                if now - self.pv_timer >= self.disable_delay_s:
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
