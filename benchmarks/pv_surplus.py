"""PV-surplus EV charging on a Victron ESS: victron_balance against three baselines.

The plant is the simulator's pure physics (`simulator.plant.PlantModel`, no MQTT):
5 kWp of PV on a SmartSolar MPPT, a MultiPlus-II with the ESS assistant (PV first to the
loads, then the battery, the rest exported: "feed-in excess DC-coupled PV" on, grid
charging off, minimum SoC 10 %), DVCC on with the BMS's limits, and an 8 kWh 16s LiFePO4
pack. The household follows the BDEW H0 profile (3500 kWh/a); the EV is one more AC load
on the MultiPlus output (`PlantModel.ev_load_w`).

Days. Real days from pvlib's shipped typical meteorological year (``723170TYA.CSV``,
Greensboro NC): in each season (Dec-Feb, Mar-May, Jun-Aug, Sep-Nov) the days at the
ranks 100 %, 67 %, 33 % and 0 % of daily irradiation (sunniest to most overcast), 16
days, printed with the year the TMY took them from. The hourly data is made minute-wise
(`minute_irradiance`): in partly cloudy hours the sun comes and goes (a seeded two-state
process between the clear-sky and the diffuse level, ~10 min cycles, scaled so every
hour keeps its measured irradiation), because passing clouds are what a PV-surplus
controller has to get right and hourly averages have none.

One day. The battery's state at midnight comes from simulating the previous day
without the EV (from 50 %). Then each controller gets the same day from that state; the
EV is plugged in 08:00-18:00 and wants 40 kWh. EV: 1 phase, 230 V, the onboard charger
accepts 6-32 A and draws exactly the pilot; the EVSE uses whole amps; a new current takes
effect 4 s after the command, a start from sleep 8 s (openEVSE claim, pilot, the car's
charger ramping). A reference run of the same day without the EV gives the
counterfactual numbers.

Controllers, each with its own defaults and inputs as it would really get them (plant
step 2 s):

* victron_balance: `PvSurplusController` with `SurplusSettings()` (6-20 A, lower/upper
  SoC 30/80 %, priority SoC 50 %), fed the Venus values every step (Venus publishes about
  once a second); the EV power reaches Venus via openEVSE's MQTT one step (2 s) late, so
  it does not match grid and battery exactly.
* seed_nodered (`pv_baselines.SeedNodeRed`): the same Venus values and lag, every step.
* openevse_eco (`pv_baselines.OpenEvseEco`): a grid feed every 10 s (its docs ask for
  5-10 s) and its own EV amps.
* evcc_pv (`pv_baselines.EvccPv`): a control cycle every 30 s reading grid, battery and
  the charger at once; prioritySoc at evcc's default (0, unset).

Results per controller, summed over the days (and per day under ``per_day``):

* ``ev_kwh``: energy into the EV.
* ``ev_solar_share``: the share of the EV energy that came from the sun. Each step the
  EV is counted as fed first by grid import (ev_grid = min(EV, import)), then by battery
  discharge (ev_battery = min(EV - ev_grid, discharge)), then by PV. Battery energy counts
  as solar when the battery got it back before the car left (the ESS never charges it
  from the grid): non-solar = sum(ev_grid) + min(sum(ev_battery), net battery discharge
  over 08:00-18:00). ev_solar_share = 1 - non-solar / EV energy, energy-weighted over
  all days; the same formula for all. 1.0 is its ceiling, so controllers can tie there;
  ``ev_non_solar_kwh`` and ``ev_solar_kwh`` give the absolute numbers.
* ``ev_displaced_export_share`` (extra, stricter): 1 - (grid import above the reference
  run + battery energy at midnight below the reference run) / EV energy, i.e. the share
  of the EV energy that would otherwise have been exported (``ev_displaced_export_kwh``
  absolute). On this lossless plant every kWh the EV takes from a battery that would
  have been full by the evening counts as grid here, so the more a controller charges
  the EV, the lower this share; a controller that only takes export scores 1.0.
* ``grid_import_kwh``: site import over the whole day (house included).
* ``battery_throughput_kwh``: energy into plus energy out of the battery.
* ``charge_starts``: how often the EV went from not drawing to drawing current.
* ``min_battery_soc``: the lowest battery SoC over all days (the house drains it at
  night on the dull days, the same for all); ``min_battery_soc_plugged_in`` only while
  the car was plugged in.

`scripts/bench pv_surplus` prints the JSON on stdout and progress on stderr.
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import sys
import time
from bisect import bisect_right
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Protocol

from benchmarks.pv_baselines import EvccPv, OpenEvseEco, Reading, SeedNodeRed
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
from simulator.profiles import (
    HOURS_PER_YEAR,
    TMY_FILE,
    Profile,
    bdew_h0_profile,
    pv_power_from_weather,
    sampled,
)

DAY = 86400.0
HOUR = 3600.0
STEP_S = 2.0
WARMUP_STEP_S = 10.0
KWP = 5.0
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
SEASONS = (
    ("winter", (12, 1, 2)),
    ("spring", (3, 4, 5)),
    ("summer", (6, 7, 8)),
    ("autumn", (9, 10, 11)),
)
RANKS = (1.0, 2 / 3, 1 / 3, 0.0)
CLOUD_CYCLE_MIN = 10.0
CLEAR_SKY_WINDOW_DAYS = 7
CONTROLLERS = ("victron_balance", "seed_nodered", "openevse_eco", "evcc_pv")
SETTINGS = SurplusSettings()


# -------------------------------------------------------------------- weather
@dataclass(frozen=True)
class Tmy:
    """The hourly TMY columns the benchmark uses (index k covers hour k..k+1)."""

    ghi: list[float]
    dhi: list[float]
    temp: list[float]
    dates: list[str]  # per day of the TMY, the real date it was taken from

    def daily_irradiation(self, day: int) -> float:
        """Wh/m2 on one day of the TMY."""
        return sum(self.ghi[day * 24 : day * 24 + 24])


def load_tmy() -> Tmy:
    """pvlib's shipped TMY3 file (imports pvlib lazily, like simulator.profiles)."""
    import pvlib  # type: ignore[import-untyped]  # noqa: PLC0415

    path = os.path.join(os.path.dirname(pvlib.__file__), "data", TMY_FILE)
    data, _meta = pvlib.iotools.read_tmy3(path, map_variables=True)
    stamps = list(data["Date (MM/DD/YYYY)"])
    dates = []
    for day in range(HOURS_PER_YEAR // 24):
        month, mday, year = str(stamps[day * 24]).split("/")
        dates.append(f"{year}-{month}-{mday}")
    return Tmy(
        ghi=[float(v) for v in data["ghi"]],
        dhi=[float(v) for v in data["dhi"]],
        temp=[float(v) for v in data["temp_air"]],
        dates=dates,
    )


def choose_days(tmy: Tmy) -> list[tuple[str, int]]:
    """(season, day of year) at fixed irradiation ranks in each season."""
    chosen: list[tuple[str, int]] = []
    for season, months in SEASONS:
        days = [d for d in range(365) if int(tmy.dates[d].split("-")[1]) in months]
        ranked = sorted(days, key=lambda d: (tmy.daily_irradiation(d), d))
        for rank in RANKS:
            chosen.append((season, ranked[round(rank * (len(ranked) - 1))]))
    return chosen


def _hourly_at(values: Sequence[float], hour: int) -> float:
    return values[hour % HOURS_PER_YEAR]


def minute_irradiance(tmy: Tmy, first_hour: int, hours: int, seed: str) -> list[float]:
    """GHI per minute for ``hours`` from ``first_hour``, with passing clouds.

    Clear-sky level per hour: the highest GHI at that hour of day within +/- a week
    (the TMY's own clear days). Diffuse level: the hour's DHI. The hour's sun fraction
    f = (GHI - DHI) / (clear - DHI) drives a two-state (sun/shade) Markov chain with a
    mean cycle of CLOUD_CYCLE_MIN; each hour is then scaled to its measured GHI.
    """
    rng = random.Random(seed)
    sunny = True
    out: list[float] = []
    for offset in range(hours):
        hour = first_hour + offset
        ghi = _hourly_at(tmy.ghi, hour)
        dhi = min(_hourly_at(tmy.dhi, hour), ghi)
        clear = max(
            _hourly_at(tmy.ghi, hour + 24 * shift)
            for shift in range(-CLEAR_SKY_WINDOW_DAYS, CLEAR_SKY_WINDOW_DAYS + 1)
        )
        fraction = (ghi - dhi) / (clear - dhi) if clear > dhi else 1.0
        fraction = min(max(fraction, 0.0), 1.0)
        minutes: list[float] = []
        for _ in range(60):
            if 0.1 < fraction < 0.9:
                mean_run = (fraction if sunny else 1.0 - fraction) * CLOUD_CYCLE_MIN
                if rng.random() < 1.0 / max(mean_run, 1.0):
                    sunny = not sunny
                minutes.append(clear if sunny else dhi)
            else:
                minutes.append(ghi)
        mean = sum(minutes) / 60.0
        scale = ghi / mean if mean > 0 else 0.0
        out.extend(value * scale for value in minutes)
    return out


def pv_profile(tmy: Tmy, first_hour: int, hours: int, seed: str) -> Profile:
    """PV power (W) from ``first_hour`` on, minute-wise, t = 0 at ``first_hour``."""
    ghi = minute_irradiance(tmy, first_hour, hours, seed)
    watts = [
        pv_power_from_weather(KWP, value, _hourly_at(tmy.temp, first_hour + minute // 60))
        for minute, value in enumerate(ghi)
    ]
    # Minute values are means over the minute: place them at its middle.
    return sampled(watts, 60.0, -30.0)


# ---------------------------------------------------------------------- plant
_LFP_SOCS = tuple(point[0] for point in LIFEPO4.ocv_curve)


@dataclass(frozen=True)
class _FastLifepo4(Chemistry):
    """LIFEPO4 with the curve's SoC column looked up once: the same numbers, faster.

    The OCV lookup runs ~16 x 5 times per plant step and dominated the run time.
    """

    def ocv(self, soc: float) -> float:
        curve = self.ocv_curve
        index = min(max(bisect_right(_LFP_SOCS, soc), 1), len(curve) - 1)
        (s0, v0), (s1, v1) = curve[index - 1], curve[index]
        return v0 + (v1 - v0) * (soc - s0) / (s1 - s0)


FAST_LIFEPO4 = _FastLifepo4(**{f.name: getattr(LIFEPO4, f.name) for f in fields(LIFEPO4)})


def build_plant(tmy: Tmy, day: int) -> PlantModel:
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
        multiplus=MultiPlusConfig(grid_charging=False),
        mppt=MpptConfig(),
        ess=EssConfig(min_soc=10.0),
        dc_coupled_feed_in=True,
        pv=pv_profile(tmy, first_hour, 48, f"clouds-{day}"),
        load=_load_profile(first_hour),
        step=STEP_S,
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

    def __init__(self) -> None:
        self.controller = PvSurplusController(SETTINGS)
        self.reasons: dict[str, int] = {}

    def decide(self, reading: Reading, ev_power_lagged_w: float) -> float:
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


def make_controller(name: str) -> Controller:
    """A fresh controller by name."""
    if name == "victron_balance":
        return VictronBalance()
    if name == "seed_nodered":
        return Baseline(SeedNodeRed(), venus_fed=True)
    if name == "openevse_eco":
        return Baseline(OpenEvseEco(), venus_fed=False)
    if name == "evcc_pv":
        return Baseline(EvccPv(), venus_fed=False)
    raise ValueError(f"unknown controller {name}")


# ------------------------------------------------------------------ one day
@dataclass
class Tally:
    """What one run of one day adds up (Wh unless named otherwise)."""

    ev: float = 0.0
    ev_grid: float = 0.0
    ev_battery: float = 0.0
    grid_import: float = 0.0
    grid_export: float = 0.0
    battery_in: float = 0.0
    battery_out: float = 0.0
    window_battery_net: float = 0.0  # + = charged over the plug-in window
    charge_starts: int = 0
    min_soc: float = 100.0
    min_soc_plugged_in: float = 100.0
    end_stored: float = 0.0

    def non_solar(self) -> float:
        """EV energy from the grid, or from the battery and not given back by 18:00."""
        return self.ev_grid + min(self.ev_battery, max(-self.window_battery_net, 0.0))


def run_day(plant: PlantModel, controller: Controller | None) -> Tally:
    """One day (midnight to midnight) on a plant that is at the day's midnight."""
    tally = Tally()
    start = plant.now
    plug, unplug = start + PLUG_IN_H * HOUR, start + UNPLUG_H * HOUR
    evse = Evse()
    next_control = start
    ev_w = 0.0
    last_ev_w = 0.0
    steps = round(DAY / STEP_S)
    for _ in range(steps):
        now = plant.now
        connected = controller is not None and plug <= now < unplug
        amps = evse.current(now, connected)
        ev_w = amps * VOLTS
        if ev_w > 0 and last_ev_w <= 0:
            tally.charge_starts += 1
        plant.ev_load_w = ev_w
        plant.step()
        battery_w = plant.pack.current * plant.pack.voltage()
        _account(tally, plant, battery_w, ev_w, connected)
        evse.delivered_wh += ev_w * STEP_S / HOUR
        if controller is not None and plant.now >= next_control:
            reading = _reading(plant, battery_w, ev_w, amps, plug <= plant.now < unplug)
            evse.command(plant.now, controller.decide(reading, last_ev_w))
            next_control = plant.now + max(controller.interval_s, STEP_S) - 1e-9
        last_ev_w = ev_w
    tally.end_stored = stored_wh(plant)
    return tally


def _reading(
    plant: PlantModel, battery_w: float, ev_w: float, amps: float, connected: bool
) -> Reading:
    flows = plant.flows
    pack = plant.pack
    return Reading(
        now=plant.now,
        pv_w=flows.pv_power,
        grid_w=flows.grid_power,
        battery_w=battery_w,
        soc=pack.soc * 100.0,
        household_w=flows.load_power - ev_w,
        ev_current_a=amps,
        ev_connected=connected,
    )


def _account(
    tally: Tally, plant: PlantModel, battery_w: float, ev_w: float, connected: bool
) -> None:
    hours = STEP_S / HOUR
    grid_w = plant.flows.grid_power
    import_w = max(grid_w, 0.0)
    ev_grid_w = min(ev_w, import_w)
    tally.ev += ev_w * hours
    tally.ev_grid += ev_grid_w * hours
    tally.ev_battery += min(ev_w - ev_grid_w, max(-battery_w, 0.0)) * hours
    tally.grid_import += import_w * hours
    tally.grid_export += max(-grid_w, 0.0) * hours
    tally.battery_in += max(battery_w, 0.0) * hours
    tally.battery_out += max(-battery_w, 0.0) * hours
    if connected:
        tally.window_battery_net += battery_w * hours
    tally.min_soc = min(tally.min_soc, plant.pack.soc * 100.0)
    if connected:
        tally.min_soc_plugged_in = min(tally.min_soc_plugged_in, plant.pack.soc * 100.0)


# --------------------------------------------------------------------- jobs
_TMY: list[Tmy] = []


def _tmy() -> Tmy:
    if not _TMY:
        _TMY.append(load_tmy())
    return _TMY[0]


def simulate_day(day: int) -> dict[str, Any]:
    """Warm-up, the reference without the EV, then every controller on one day."""
    started = time.monotonic()
    tmy = _tmy()
    plant = build_plant(tmy, day)
    # The previous day without the EV, in coarse steps: only the battery's state at
    # midnight matters.
    plant.config = replace(plant.config, step=WARMUP_STEP_S)
    plant.run(DAY)
    plant.config = replace(plant.config, step=STEP_S)
    midnight = copy.deepcopy(plant)
    reference = run_day(copy.deepcopy(midnight), None)
    tallies = {
        name: run_day(copy.deepcopy(midnight), make_controller(name)) for name in CONTROLLERS
    }
    print(
        f"{tmy.dates[day]}: "
        + " ".join(f"{name} {tally.ev / 1000:.1f} kWh" for name, tally in tallies.items())
        + f" ({time.monotonic() - started:.0f} s)",
        file=sys.stderr,
    )
    return {
        "date": tmy.dates[day],
        "irradiation_kwh_m2": round(tmy.daily_irradiation(day) / 1000.0, 2),
        "start_soc": round(midnight.pack.soc * 100.0, 1),
        "reference": asdict(reference),
        "tallies": {name: asdict(tally) for name, tally in tallies.items()},
    }


def _summary(tallies: list[Tally], references: list[Tally]) -> dict[str, Any]:
    ev = sum(t.ev for t in tallies)
    non_solar = sum(t.non_solar() for t in tallies)
    extra = sum(
        (t.grid_import - r.grid_import) + (r.end_stored - t.end_stored)
        for t, r in zip(tallies, references, strict=True)
    )
    return {
        "ev_kwh": round(ev / 1000.0, 2),
        "ev_solar_share": round(1.0 - non_solar / ev, 4) if ev > 0 else None,
        "grid_import_kwh": round(sum(t.grid_import for t in tallies) / 1000.0, 2),
        "battery_throughput_kwh": round(
            sum(t.battery_in + t.battery_out for t in tallies) / 1000.0, 2
        ),
        "charge_starts": sum(t.charge_starts for t in tallies),
        "min_battery_soc": round(min(t.min_soc for t in tallies), 1),
        "min_battery_soc_plugged_in": round(min(t.min_soc_plugged_in for t in tallies), 1),
        "ev_solar_kwh": round((ev - non_solar) / 1000.0, 2),
        "ev_non_solar_kwh": round(non_solar / 1000.0, 3),
        "ev_displaced_export_share": round(1.0 - extra / ev, 3) if ev > 0 else None,
        "ev_displaced_export_kwh": round((ev - extra) / 1000.0, 2),
        "grid_export_kwh": round(sum(t.grid_export for t in tallies) / 1000.0, 2),
    }


def main() -> None:
    """Every chosen day on 2 processes; the JSON on stdout."""
    started = time.monotonic()
    tmy = _tmy()
    days = choose_days(tmy)
    print("days: " + ", ".join(f"{tmy.dates[d]} ({s})" for s, d in days), file=sys.stderr)
    with ProcessPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(simulate_day, [day for _season, day in days]))
    references = [Tally(**o["reference"]) for o in outcomes]
    per_controller = {name: [Tally(**o["tallies"][name]) for o in outcomes] for name in CONTROLLERS}
    out = {
        "days": len(days),
        "results": {name: _summary(per_controller[name], references) for name in CONTROLLERS},
        "dates": [tmy.dates[d] for _s, d in days],
        "settings": asdict(SETTINGS),
        "per_day": [
            {
                "date": o["date"],
                "season": season,
                "irradiation_kwh_m2": o["irradiation_kwh_m2"],
                "start_soc": o["start_soc"],
                "results": {
                    name: _summary([Tally(**o["tallies"][name])], [Tally(**o["reference"])])
                    for name in CONTROLLERS
                },
            }
            for (season, _d), o in zip(days, outcomes, strict=True)
        ],
        "wall_s": round(time.monotonic() - started, 1),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
