"""PV-surplus EV charging on a Victron ESS: victron_balance against four baselines.

The plant is the simulator's pure physics (`simulator.plant.PlantModel`, no MQTT):
5 kWp of PV on a SmartSolar MPPT (98 % efficient), a MultiPlus-II with the ESS assistant
(95 % inverting; PV first to the loads, then the battery, the rest exported: "feed-in
excess DC-coupled PV" on, grid charging off, minimum SoC 10 %; the ESS loop follows a new
set point with a 3 s time constant, so load steps show on the grid meter for a few
seconds), DVCC on with the BMS's limits, and an 8 kWh 16s LiFePO4 pack whose charge and
discharge efficiency is the grid's ``battery_efficiency`` (1.0 or 0.95 each way). The
household follows the BDEW H0 profile (3500 kWh/a); the EV is one more AC load.

Weather (`benchmarks.pv_weather`): 16 days of pvlib's TMY, with passing clouds of a mean
sun-and-shade cycle of 3, 10 or 30 minutes (the grid's ``cloud_cycle_min``).

One day. The battery's state at midnight comes from simulating the previous day
without the EV (from 50 %). The night until 08:00 is the same for everyone; then each
controller gets the same plant from 08:00: the EV is plugged in until 18:00 and wants
40 kWh; the run goes on (without the EV) until the next sunrise, so what the EV took
from the battery shows as grid import at night. A reference run of the same day without
the EV gives the counterfactual. EV: 1 phase, 230 V, 6-32 A, draws exactly the pilot in
whole amps; a new current takes effect 4 s after the command, a start from sleep 8 s.

Controllers, each with its own defaults and inputs as it would really get them (plant
step 2 s in the plug-in window, 30 s outside it):

* victron_balance: `PvSurplusController` with `SurplusSettings()` and no forecast, fed
  the Venus values every step; the EV power reaches Venus one step (2 s) late.
* victron_balance_forecast: the same with a solar forecast (`pv_weather.DayForecast`,
  the day's error drawn from -20..+20 %); ``_high`` / ``_low``: the forecast 20 % above /
  below the truth on every day.
* seed_nodered (`pv_baselines.SeedNodeRed`): the same Venus values and lag, every step.
* openevse_eco (`pv_baselines.OpenEvseEco`): a grid feed every 10 s, its own EV amps.
* evcc_pv (`pv_baselines.EvccPv`): every 30 s, evcc's defaults.
* evcc_pv_battery: evcc configured like victron_balance (`pv_baselines.evcc_like_ours`:
  20 A, prioritySoc 50, bufferSoc 50).

Results per controller (kWh unless named otherwise), summed over the days:

* ``displaced_export_kwh``: export of the reference run minus export of this run: the
  energy that would have gone to the grid and the EV used instead (directly, or through a
  battery that refilled from it).
* ``ev_grid_import_kwh``: import of this run minus the reference's, from midnight to the
  next sunrise, plus the battery energy still missing at sunrise against the reference
  (at what it would have delivered to the house: x discharge and inverter efficiency).
* ``ev_kwh``: energy into the EV; ``battery_loss_kwh``: charge and discharge losses in the
  battery over the run; ``charge_starts``: EV from not drawing to drawing;
  ``min_battery_soc``: the lowest SoC over the days (%).
* secondary: ``ev_solar_share`` (1 - grid import while the EV drew, and battery energy not
  given back by 18:00, over the EV energy; capped at 1.0, so controllers tie there),
  ``grid_import_kwh`` and ``grid_export_kwh`` (site totals, house included).

Output: ``days`` and ``results`` for the default cell (clouds 10 min, battery 0.95),
``cells`` for the whole grid, ``grid_totals`` summed over it, ``targets`` (issue 14's,
checked), ``per_day`` for the default cell. ``reference_export_kwh`` (per cell, and
summed as ``grid_reference_export_kwh``) is what the reference exported: the ceiling of
``displaced_export_kwh``. `scripts/bench pv_surplus` prints the JSON
on stdout and progress on stderr; ``--cycles``/``--efficiencies``/``--days`` run a part.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from bisect import bisect_right
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Protocol

from benchmarks.pv_baselines import EvccPv, OpenEvseEco, Reading, SeedNodeRed, evcc_like_ours
from benchmarks.pv_weather import (
    FORECAST_ERROR,
    HOUR,
    DayForecast,
    Tmy,
    choose_days,
    forecast_error,
    load_tmy,
    pv_profile,
    sunrise_hour,
)
from custom_components.victron_balance.logic.pv_surplus import (
    PvSurplusController,
    SurplusInputs,
    SurplusSettings,
)
from simulator.bms import BmsConfig
from simulator.chargers import EssConfig, MpptConfig, MultiPlusConfig
from simulator.chemistry import LIFEPO4, Chemistry
from simulator.dvcc import DvccSettings
from simulator.pack import PackConfig
from simulator.plant import PlantConfig, PlantModel
from simulator.profiles import Profile, bdew_h0_profile

DAY = 86400.0
STEP_S = 2.0
COARSE_STEP_S = 30.0
BATTERY_KWH = 8.0
CELLS = 16
CELL_NOMINAL_V = 3.2
ANNUAL_LOAD_KWH = 3500.0
WARMUP_SOC = 0.5
PLUG_IN_H = 8.0
UNPLUG_H = 18.0
EV_WANTS_WH = 40_000.0
VOLTS = 230.0
EV_MIN_A = 6.0
EV_MAX_A = 32.0
CHANGE_DELAY_S = 4.0
START_DELAY_S = 8.0
MPPT_EFFICIENCY = 0.98  # SmartSolar MPPT, datasheet maximum
INVERTER_EFFICIENCY = 0.95  # MultiPlus-II 48/5000: 96 % maximum, less at part load
CHARGER_EFFICIENCY = 0.94
ESS_RESPONSE_S = 3.0
CLOUD_CYCLES_MIN = (3.0, 10.0, 30.0)
BATTERY_EFFICIENCIES = (1.0, 0.95)
DEFAULT_CELL = (10.0, 0.95)
BASELINES = ("seed_nodered", "openevse_eco", "evcc_pv", "evcc_pv_battery")
FORECASTS = (
    "victron_balance_forecast",
    "victron_balance_forecast_high",
    "victron_balance_forecast_low",
)
CONTROLLERS = ("victron_balance", *FORECASTS, *BASELINES)
SETTINGS = SurplusSettings()


# ---------------------------------------------------------------------- plant
_LFP_SOCS = tuple(point[0] for point in LIFEPO4.ocv_curve)


@dataclass(frozen=True)
class _FastLifepo4(Chemistry):
    """LIFEPO4 with the curve's SoC column looked up once: the same numbers, faster."""

    def ocv(self, soc: float) -> float:
        curve = self.ocv_curve
        index = min(max(bisect_right(_LFP_SOCS, soc), 1), len(curve) - 1)
        (s0, v0), (s1, v1) = curve[index - 1], curve[index]
        return v0 + (v1 - v0) * (soc - s0) / (s1 - s0)


FAST_LIFEPO4 = _FastLifepo4(**{f.name: getattr(LIFEPO4, f.name) for f in fields(LIFEPO4)})


def build_plant(tmy: Tmy, day: int, cycle_min: float, efficiency: float) -> PlantModel:
    """The installation, t = 0 at midnight before the day before ``day``."""
    first_hour = (day - 1) * 24
    capacity_ah = BATTERY_KWH * 1000.0 / (CELLS * CELL_NOMINAL_V)
    config = PlantConfig(
        pack=PackConfig(
            cells=CELLS,
            chemistry=FAST_LIFEPO4,
            capacity_ah=capacity_ah,
            soc=WARMUP_SOC,
            seed=day,
        ),
        bms=BmsConfig(),
        multiplus=MultiPlusConfig(
            grid_charging=False,
            inverter_efficiency=INVERTER_EFFICIENCY,
            charger_efficiency=CHARGER_EFFICIENCY,
        ),
        mppt=MpptConfig(efficiency=MPPT_EFFICIENCY),
        ess=EssConfig(min_soc=10.0, response_s=ESS_RESPONSE_S),
        dc_coupled_feed_in=True,
        pv=pv_profile(tmy, first_hour, 72, cycle_min, f"clouds-{day}-{cycle_min:g}"),
        load=_load_profile(first_hour),
        step=COARSE_STEP_S,
        battery_charge_efficiency=efficiency,
        battery_discharge_efficiency=efficiency,
    )
    plant = PlantModel(config)
    plant.set_settings(DvccSettings(bol=1))
    return plant


_LOADS: dict[str, Callable[[float], float]] = {}


def _load_profile(first_hour: int) -> Profile:
    if "h0" not in _LOADS:
        _LOADS["h0"] = bdew_h0_profile(ANNUAL_LOAD_KWH)
    base = _LOADS["h0"]
    start_s = first_hour * HOUR

    def profile(t: float) -> float:
        return base(t + start_s)

    return profile


def stored_wh(plant: PlantModel) -> float:
    """Energy in the pack at nominal voltage (what the SoC gauge means)."""
    return plant.pack.soc * BATTERY_KWH * 1000.0


# ------------------------------------------------------------------ EV + EVSE
@dataclass
class Evse:
    """The station and the car: whole amps, a response delay, 40 kWh wanted."""

    commanded_a: float = 0.0
    pilot_a: float = 0.0
    delivered_wh: float = 0.0
    pending: list[tuple[float, float]] = field(default_factory=list)

    def command(self, now: float, amps: float) -> None:
        """What the controller asks for; takes effect after the delay."""
        amps = 0.0 if amps <= 0 else float(min(max(math.floor(amps), EV_MIN_A), EV_MAX_A))
        if amps == self.commanded_a:
            return
        delay = START_DELAY_S if self.commanded_a == 0 else CHANGE_DELAY_S
        self.pending.append((now + delay, amps))
        self.commanded_a = amps

    def current(self, now: float, connected: bool) -> float:
        """Amps the car draws from ``now`` for one step."""
        while self.pending and self.pending[0][0] <= now:
            self.pilot_a = self.pending.pop(0)[1]
        if not connected or self.delivered_wh >= EV_WANTS_WH:
            return 0.0
        return self.pilot_a


# ---------------------------------------------------------------- controllers
class Controller(Protocol):
    """The harness's view of one controller."""

    interval_s: float

    def decide(self, reading: Reading, ev_power_lagged_w: float) -> float:
        """Amps to command (0 = sleep)."""


class VictronBalance:
    """The integration's controller, fed like the HA glue would feed it."""

    interval_s = 0.0

    def __init__(self, forecast: DayForecast | None, day_start: float) -> None:
        self.controller = PvSurplusController(SETTINGS)
        self.forecast = forecast
        self.day_start = day_start
        self.reasons: dict[str, int] = {}

    def decide(self, reading: Reading, ev_power_lagged_w: float) -> float:
        forecast = self.forecast
        t = reading.now - self.day_start
        decision = self.controller.update(
            SurplusInputs(
                now=reading.now,
                pv_power_w=reading.pv_w,
                grid_power_w=reading.grid_w,
                battery_power_w=reading.battery_w,
                battery_soc=reading.soc,
                consumption_w=reading.household_w + ev_power_lagged_w,
                ev_power_w=ev_power_lagged_w,
                ev_connected=reading.ev_connected,
                forecast_remaining_wh=None if forecast is None else forecast.remaining_wh(t),
                sunset_in_s=None if forecast is None else forecast.sunset_in_s(t),
                daylight_s=None if forecast is None else forecast.daylight_s,
                battery_capacity_wh=None if forecast is None else BATTERY_KWH * 1000.0,
            )
        )
        self.reasons[decision.reason] = self.reasons.get(decision.reason, 0) + 1
        return decision.current_a


class Baseline:
    """A baseline from pv_baselines; Venus-fed ones see the lagged EV power."""

    def __init__(self, inner: SeedNodeRed | OpenEvseEco | EvccPv, venus_fed: bool) -> None:
        self.inner = inner
        self.interval_s = inner.interval_s
        self.venus_fed = venus_fed

    def decide(self, reading: Reading, ev_power_lagged_w: float) -> float:
        if self.venus_fed:
            # Venus's consumption includes the EV; the flow subtracts the EV power it knows.
            household = reading.household_w + (reading.ev_current_a * VOLTS - ev_power_lagged_w)
            reading = Reading(**{**asdict(reading), "household_w": household})
        return self.inner.update(reading)


def make_controller(name: str, tmy: Tmy, day: int, day_start: float) -> Controller:
    """A fresh controller by name."""
    errors = {
        "victron_balance_forecast": forecast_error(tmy.dates[day]),
        "victron_balance_forecast_high": FORECAST_ERROR,
        "victron_balance_forecast_low": -FORECAST_ERROR,
    }
    if name == "victron_balance":
        return VictronBalance(None, day_start)
    if name in errors:
        return VictronBalance(DayForecast.for_day(tmy, day, errors[name]), day_start)
    if name == "seed_nodered":
        return Baseline(SeedNodeRed(), venus_fed=True)
    if name == "openevse_eco":
        return Baseline(OpenEvseEco(), venus_fed=False)
    if name == "evcc_pv":
        return Baseline(EvccPv(), venus_fed=False)
    if name == "evcc_pv_battery":
        inner = evcc_like_ours(
            min_a=SETTINGS.min_current_a,
            max_a=SETTINGS.max_current_a,
            priority_soc=SETTINGS.priority_soc,
        )
        return Baseline(inner, venus_fed=False)
    raise ValueError(f"unknown controller {name}")


# ------------------------------------------------------------------- one run
@dataclass
class Tally:
    """What one run adds up (Wh unless named otherwise)."""

    ev: float = 0.0
    ev_grid: float = 0.0
    ev_battery: float = 0.0
    grid_import: float = 0.0
    grid_export: float = 0.0
    battery_in: float = 0.0
    battery_out: float = 0.0
    battery_loss: float = 0.0
    window_battery_net: float = 0.0  # + = charged over the plug-in window
    charge_starts: int = 0
    min_soc: float = 100.0
    end_stored: float = 0.0

    def non_solar(self) -> float:
        """EV energy from the grid, or from the battery and not given back by 18:00."""
        return self.ev_grid + min(self.ev_battery, max(-self.window_battery_net, 0.0))


@dataclass
class Run:
    """A plant with its tally, at some point of the day."""

    plant: PlantModel
    tally: Tally

    def step(self, ev_w: float, window: bool) -> float:
        """One plant step with ``ev_w`` of EV load; returns the battery's DC power."""
        plant, tally = self.plant, self.tally
        dt = plant.config.step
        plant.ev_load_w = ev_w
        plant.step()
        pack = plant.pack
        battery_w = pack.current * pack.voltage()
        hours = dt / HOUR
        grid_w = plant.flows.grid_power
        import_w = max(grid_w, 0.0)
        ev_grid_w = min(ev_w, import_w)
        tally.ev += ev_w * hours
        tally.ev_grid += ev_grid_w * hours
        tally.ev_battery += min(ev_w - ev_grid_w, max(-battery_w, 0.0)) * hours
        tally.grid_import += import_w * hours
        tally.grid_export += max(-grid_w, 0.0) * hours
        cfg = plant.config
        if battery_w > 0:
            tally.battery_in += battery_w * hours
            tally.battery_loss += battery_w * (1.0 - cfg.battery_charge_efficiency) * hours
        else:
            tally.battery_out -= battery_w * hours
            tally.battery_loss -= battery_w * (1.0 / cfg.battery_discharge_efficiency - 1.0) * hours
        if window:
            tally.window_battery_net += battery_w * hours
        tally.min_soc = min(tally.min_soc, pack.soc * 100.0)
        return battery_w

    def coarse_until(self, end: float) -> None:
        """No EV, coarse steps, until ``end``."""
        self.plant.config = replace(self.plant.config, step=COARSE_STEP_S)
        while self.plant.now < end - 1e-6:
            self.step(0.0, False)

    def plugged(self, end: float, controller: Controller | None) -> None:
        """The plug-in window in 2 s steps; ``controller`` None = the reference (no EV)."""
        plant = self.plant
        plant.config = replace(plant.config, step=STEP_S)
        evse = Evse()
        next_control = plant.now
        last_ev_w = 0.0
        while plant.now < end - 1e-6:
            amps = evse.current(plant.now, controller is not None)
            ev_w = amps * VOLTS
            if ev_w > 0 and last_ev_w <= 0:
                self.tally.charge_starts += 1
            battery_w = self.step(ev_w, True)
            evse.delivered_wh += ev_w * STEP_S / HOUR
            if controller is not None and plant.now >= next_control:
                connected = plant.now < end
                reading = _reading(plant, battery_w, ev_w, amps, connected)
                evse.command(plant.now, controller.decide(reading, last_ev_w))
                next_control = plant.now + max(controller.interval_s, STEP_S) - 1e-9
            last_ev_w = ev_w


def _reading(
    plant: PlantModel, battery_w: float, ev_w: float, amps: float, connected: bool
) -> Reading:
    flows = plant.flows
    return Reading(
        now=plant.now,
        pv_w=flows.pv_power,
        grid_w=flows.grid_power,
        battery_w=battery_w,
        soc=plant.pack.soc * 100.0,
        household_w=flows.load_power - ev_w,
        ev_current_a=amps,
        ev_connected=connected,
    )


# ---------------------------------------------------------------------- jobs
_TMY: list[Tmy] = []


def _tmy() -> Tmy:
    if not _TMY:
        _TMY.append(load_tmy())
    return _TMY[0]


@dataclass(frozen=True)
class Job:
    """One day of one grid cell."""

    cycle_min: float
    efficiency: float
    day: int
    controllers: tuple[str, ...]


def simulate(job: Job) -> dict[str, Any]:
    """Warm-up, the night, then the reference and every controller from 08:00."""
    started = time.monotonic()
    tmy = _tmy()
    plant = build_plant(tmy, job.day, job.cycle_min, job.efficiency)
    plant.run(DAY)  # the previous day without the EV: the battery's state at midnight
    midnight = plant.now
    start_soc = plant.pack.soc * 100.0
    morning = Run(plant, Tally())
    morning.coarse_until(midnight + PLUG_IN_H * HOUR)
    unplug = midnight + UNPLUG_H * HOUR
    sunrise = midnight + DAY + sunrise_hour(tmy, job.day + 1) * HOUR

    def finish(controller: Controller | None) -> Tally:
        run = copy.deepcopy(morning)
        run.plugged(unplug, controller)
        run.coarse_until(sunrise)
        run.tally.end_stored = stored_wh(run.plant)
        return run.tally

    reference = finish(None)
    tallies = {
        name: finish(make_controller(name, tmy, job.day, midnight)) for name in job.controllers
    }
    print(
        f"{tmy.dates[job.day]} clouds {job.cycle_min:g} min, battery {job.efficiency:g}: "
        + " ".join(f"{name} {tally.ev / 1000:.1f}" for name, tally in tallies.items())
        + f" kWh ({time.monotonic() - started:.0f} s)",
        file=sys.stderr,
    )
    return {
        "date": tmy.dates[job.day],
        "irradiation_kwh_m2": round(tmy.daily_irradiation(job.day) / 1000.0, 2),
        "start_soc": round(start_soc, 1),
        "reference": asdict(reference),
        "tallies": {name: asdict(tally) for name, tally in tallies.items()},
    }


# ------------------------------------------------------------------- metrics
def summary(
    tallies: Sequence[Tally], references: Sequence[Tally], efficiency: float
) -> dict[str, Any]:
    """The results of one controller over some days."""
    pairs = list(zip(tallies, references, strict=True))
    ev = sum(t.ev for t in tallies)
    non_solar = sum(t.non_solar() for t in tallies)
    # Battery energy missing at sunrise, at what it would have given the house.
    deficit = sum(r.end_stored - t.end_stored for t, r in pairs) * efficiency * INVERTER_EFFICIENCY
    return {
        "ev_kwh": _kwh(ev),
        "displaced_export_kwh": _kwh(sum(r.grid_export - t.grid_export for t, r in pairs)),
        "ev_grid_import_kwh": _kwh(sum(t.grid_import - r.grid_import for t, r in pairs) + deficit),
        "battery_loss_kwh": _kwh(sum(t.battery_loss for t in tallies)),
        "charge_starts": sum(t.charge_starts for t in tallies),
        "min_battery_soc": round(min(t.min_soc for t in tallies), 1),
        "ev_solar_share": round(1.0 - non_solar / ev, 3) if ev > 0 else None,
        "grid_import_kwh": _kwh(sum(t.grid_import for t in tallies)),
        "grid_export_kwh": _kwh(sum(t.grid_export for t in tallies)),
    }


def _kwh(wh: float) -> float:
    return round(wh / 1000.0, 2)


def check_targets(
    cells: list[dict[str, Any]], totals: dict[str, dict[str, float]]
) -> dict[str, Any]:
    """Issue 14's targets, cell by cell and over the grid."""
    per_cell = []
    for cell in cells:
        r = cell["results"]
        ours = r["victron_balance_forecast"]
        evcc = r["evcc_pv_battery"]
        best = max(BASELINES, key=lambda name: r[name]["displaced_export_kwh"])
        starts_cap = 1.2 * min(evcc["charge_starts"], r["seed_nodered"]["charge_starts"])
        per_cell.append(
            {
                "cloud_cycle_min": cell["cloud_cycle_min"],
                "battery_efficiency": cell["battery_efficiency"],
                "displaced_vs_best_baseline": [
                    ours["displaced_export_kwh"],
                    best,
                    r[best]["displaced_export_kwh"],
                ],
                "displaced_ok": ours["displaced_export_kwh"] >= r[best]["displaced_export_kwh"],
                "import_vs_evcc_pv_battery": [
                    ours["ev_grid_import_kwh"],
                    evcc["ev_grid_import_kwh"],
                ],
                "import_ok": ours["ev_grid_import_kwh"] <= evcc["ev_grid_import_kwh"],
                "starts_vs_cap": [ours["charge_starts"], round(starts_cap, 1)],
                "starts_ok": ours["charge_starts"] <= starts_cap,
            }
        )
    plain = totals["victron_balance"]["displaced_export_kwh"]
    return {
        "per_cell": per_cell,
        "victron_balance_displaced_ge_each_baseline": all(
            plain >= totals[name]["displaced_export_kwh"] for name in BASELINES
        ),
        "forecast_displaced_ge_1_05_victron_balance": {
            name: [
                totals[name]["displaced_export_kwh"],
                round(1.05 * plain, 2),
                totals[name]["displaced_export_kwh"] >= 1.05 * plain,
            ]
            for name in FORECASTS
        },
    }


def main(argv: Sequence[str] | None = None) -> None:
    """The grid (or a part of it) on 2 processes; the JSON on stdout."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=float, nargs="*", default=list(CLOUD_CYCLES_MIN))
    parser.add_argument("--efficiencies", type=float, nargs="*", default=list(BATTERY_EFFICIENCIES))
    parser.add_argument("--days", type=int, nargs="*", help="indices into the 16 days")
    parser.add_argument("--controllers", nargs="*", default=list(CONTROLLERS))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    started = time.monotonic()
    tmy = _tmy()
    days = choose_days(tmy)
    if args.days:
        days = [days[i] for i in args.days]
    print("days: " + ", ".join(f"{tmy.dates[d]} ({s})" for s, d in days), file=sys.stderr)
    controllers = tuple(args.controllers)
    grid = [(c, e) for c in args.cycles for e in args.efficiencies]
    jobs = [Job(c, e, day, controllers) for c, e in grid for _season, day in days]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        outcomes = list(pool.map(simulate, jobs, chunksize=1))
    by_cell: dict[tuple[float, float], list[dict[str, Any]]] = {cell: [] for cell in grid}
    for job, outcome in zip(jobs, outcomes, strict=True):
        by_cell[(job.cycle_min, job.efficiency)].append(outcome)

    def results(cell: tuple[float, float]) -> dict[str, Any]:
        runs = by_cell[cell]
        references = [Tally(**o["reference"]) for o in runs]
        return {
            name: summary([Tally(**o["tallies"][name]) for o in runs], references, cell[1])
            for name in controllers
        }

    def ceiling(cell: tuple[float, float]) -> float:
        """The reference's export: no controller can displace more."""
        return _kwh(sum(o["reference"]["grid_export"] for o in by_cell[cell]))

    cells = [
        {
            "cloud_cycle_min": c,
            "battery_efficiency": e,
            "reference_export_kwh": ceiling((c, e)),
            "results": results((c, e)),
        }
        for c, e in grid
    ]
    totals = {
        name: {
            key: round(sum(cell["results"][name][key] for cell in cells), 2)
            for key in ("ev_kwh", "displaced_export_kwh", "ev_grid_import_kwh", "charge_starts")
        }
        for name in controllers
    }
    default = DEFAULT_CELL if DEFAULT_CELL in by_cell else grid[0]
    out: dict[str, Any] = {
        "days": len(days),
        "results": results(default),
        "default_cell": {
            "cloud_cycle_min": default[0],
            "battery_efficiency": default[1],
            "reference_export_kwh": ceiling(default),
        },
        "cells": cells,
        "grid_totals": totals,
        "grid_reference_export_kwh": round(sum(cell["reference_export_kwh"] for cell in cells), 2),
    }
    if set(CONTROLLERS) <= set(controllers):
        out["targets"] = check_targets(cells, totals)
    out.update(
        {
            "dates": [tmy.dates[d] for _s, d in days],
            "settings": asdict(SETTINGS),
            "plant": {
                "mppt_efficiency": MPPT_EFFICIENCY,
                "inverter_efficiency": INVERTER_EFFICIENCY,
                "ess_response_s": ESS_RESPONSE_S,
                "battery_kwh": BATTERY_KWH,
                "kwp": 5.0,
            },
            "per_day": [
                {
                    "date": o["date"],
                    "season": season,
                    "irradiation_kwh_m2": o["irradiation_kwh_m2"],
                    "start_soc": o["start_soc"],
                    "results": {
                        name: summary(
                            [Tally(**o["tallies"][name])], [Tally(**o["reference"])], default[1]
                        )
                        for name in controllers
                    },
                }
                for (season, _d), o in zip(days, by_cell[default], strict=True)
            ],
            "wall_s": round(time.monotonic() - started, 1),
        }
    )
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
