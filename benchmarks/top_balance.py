"""Top balance from a large imbalance: seed 000's fixed current against the controller.

Both controllers act as the virtual BMS (`plant.external_bms`) with DVCC on, on the
simulator's pure physics plant (no MQTT), one simulated second per step:

* `seed_fixed_current` (seed 000): Info/MaxChargeCurrent 5 A, CVL = cells x 3.65 V,
  AllowToCharge always 1; only the real BMS's OVP stops it.
* `victron_balance`: `TopBalanceController`, stepped from the plant's measurements, its
  decisions passed through the safety envelope (`logic.safety.filter_limits`) against
  the real BMS's published values, as the integration sends them: the real BMS's CCL
  and permissions bind the run, only the CVL may be raised (to the cap).

The real BMS leaves the top to the top balance: a fixed CCL of 100 A (no taper near the
top, as a JK board or dbus-serialbattery with CCCM off), its own 3.65 V OVP.

"Balanced" is judged by the harness the same way for both: every cell at or above the
shunt level (target - 0.1 V) and max - min <= 10 mV, held for the hold time. A run stops
then, or at twice the lower bound ("never": null).

Lower bound (the issue): the fullest cell to the top at the charger's maximum current,
plus the largest Ah gap (Ah missing to full) divided by the bleed current.

`scripts/bench top_balance` prints the JSON on stdout and progress on stderr.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from custom_components.victron_balance.logic.charge_supervisor import envelope_config
from custom_components.victron_balance.logic.safety.envelope import Wish, filter_limits
from custom_components.victron_balance.logic.safety.real_bms import BmsReading
from custom_components.victron_balance.logic.top_balance.chemistry import PRESETS
from custom_components.victron_balance.logic.top_balance.controller import (
    Measurements,
    TopBalanceController,
    TopBalanceSettings,
    TopBalanceState,
)
from simulator.bms import BmsConfig
from simulator.chargers import EssConfig, MpptConfig, MultiPlusConfig
from simulator.dvcc import BmsLimits, DvccSettings
from simulator.pack import PackConfig
from simulator.plant import PlantConfig, PlantModel
from simulator.profiles import constant

HOUR = 3600.0
HOLD_S = 300.0
DONE_DELTA_V = 0.010
SEED_CURRENT_A = 5.0  # seed 000's script: Info/MaxChargeCurrent 5 A
SEED_CELL_V = 3.65  # seed 000: CVL = cells x 3.65 V
CAP_FACTOR = 2.0  # give up ("never") after this many lower bounds
CONTROLLERS = ("seed_fixed_current", "victron_balance")


@dataclass(frozen=True)
class Scenario:
    """One pack and charger setup."""

    name: str
    bleed_a: float
    cells: int = 16
    capacity_ah: float = 280.0
    soc: float = 0.75
    soc_spread: float = 0.09  # +/-: seed 1 gives a max - min spread of 0.17
    seed: int = 1
    max_charge_a: float = 70.0
    preset: str = "lifepo4_355"
    # BMS balance trigger: cells more than this above the lowest bleed (JK: 5 mV default).
    balance_threshold_v: float = 0.005
    dc_coupled_pv_w: float = 0.0  # > 0: an MPPT with DC-coupled feed-in (ignores CCL)

    def plant(self) -> PlantModel:
        """A fresh plant with DVCC on (the one settings write both harnesses make)."""
        dc = self.dc_coupled_pv_w > 0
        config = PlantConfig(
            pack=PackConfig(
                cells=self.cells,
                capacity_ah=self.capacity_ah,
                soc=self.soc,
                soc_spread=self.soc_spread,
                seed=self.seed,
            ),
            bms=BmsConfig(
                balance_current=self.bleed_a,
                balance_threshold=self.balance_threshold_v,
                ccl_by_cell_voltage=False,
                max_charge_current=100.0,
            ),
            multiplus=MultiPlusConfig(max_charge_current=self.max_charge_a, grid_charging=True),
            mppt=MpptConfig() if dc else None,
            ess=EssConfig() if dc else None,
            dc_coupled_feed_in=dc,
            pv=constant(self.dc_coupled_pv_w),
        )
        return PlantModel(config)

    def lower_bound_h(self) -> float:
        """Fullest cell to the top at full current, plus the largest Ah gap at bleed."""
        plant = self.plant()
        missing = [cell.capacity_ah - cell.charge_ah for cell in plant.pack.cells]
        charge_a = self.max_charge_a + (
            MpptConfig().max_charge_current if self.dc_coupled_pv_w else 0
        )
        return min(missing) / charge_a + (max(missing) - min(missing)) / self.bleed_a


SCENARIOS = (
    Scenario("16s_280ah_lfp_spread17_bleed1a", bleed_a=1.0),
    Scenario("16s_280ah_lfp_spread17_bleed2a", bleed_a=2.0),
    Scenario("16s_280ah_lfp_spread17_bleed2a_dc_pv", bleed_a=2.0, dc_coupled_pv_w=3000.0),
)


class BalanceMonitor:
    """The harness's own "balanced" criterion, the same for every controller."""

    def __init__(self, shunt_v: float) -> None:
        self.shunt_v = shunt_v
        self.since: float | None = None

    def update(self, now: float, volts: list[float]) -> bool:
        """True once the criterion held for HOLD_S."""
        if min(volts) >= self.shunt_v and max(volts) - min(volts) <= DONE_DELTA_V + 1e-9:
            self.since = now if self.since is None else self.since
            return now - self.since >= HOLD_S
        self.since = None
        return False


def settings_for(scenario: Scenario) -> TopBalanceSettings:
    """The controller's settings for a scenario."""
    preset = PRESETS[scenario.preset]
    return TopBalanceSettings(
        cells=scenario.cells,
        preset=preset,
        target_cell_v=preset.cell_target_v,
        hold_s=HOLD_S,
        done_delta_v=DONE_DELTA_V,
        max_current_a=scenario.max_charge_a,
        bleed_current_a=scenario.bleed_a,
        max_duration_s=7 * 24 * HOUR,
        dc_coupled_feed_in=scenario.dc_coupled_pv_w > 0,
        capacity_ah=scenario.capacity_ah,
    )


def measure(plant: PlantModel) -> Measurements:
    """What the integration would read from the BMS and Venus."""
    pack = plant.pack
    volts = pack.cell_voltages()
    high_temperature = max(pack.temperatures())
    return Measurements(
        now_s=plant.now,
        cell_voltages=list(volts),
        pack_voltage=sum(volts),
        pack_current=pack.current,
        temperature_c=high_temperature,
        bms_alarm=not plant.bms.discharge_allowed
        or high_temperature >= plant.bms.config.high_temperature,
        venus_alive=True,
        bms_allows_charge=plant.bms.charge_allowed,
    )


def real_reading(plant: PlantModel) -> BmsReading:
    """The real BMS as the integration reads it from its published paths."""
    items: dict[str, Any] = {}
    for path, value in plant.bms.paths().items():
        # Published as Venus types: flags as bools, numbers as floats.
        if path.startswith("/Io/"):
            items[path] = bool(value)
        elif isinstance(value, int) and not path.startswith("/Alarms/"):
            items[path] = float(value)
        else:
            items[path] = value
    items["/Dc/0/Voltage"] = sum(plant.pack.cell_voltages())
    return BmsReading.of(items, len(plant.pack.cells))


def run(scenario: Scenario, controller: str) -> dict[str, Any]:
    """One controller on one scenario."""
    started = time.monotonic()
    plant = scenario.plant()
    settings_writes = 1  # Settings/Services/Bol = 1 (DVCC on); nothing else is written
    plant.set_settings(DvccSettings(bol=1))
    preset = PRESETS[scenario.preset]
    monitor = BalanceMonitor(preset.cell_target_v - preset.shunt_offset_v)
    cap_s = CAP_FACTOR * scenario.lower_bound_h() * HOUR
    ctrl: TopBalanceController | None = None
    envelope = envelope_config(settings_for(scenario))
    if controller == "victron_balance":
        ctrl = TopBalanceController()
        ctrl.start(plant.now, settings_for(scenario))
    else:
        plant.external_bms = BmsLimits(scenario.cells * SEED_CELL_V, SEED_CURRENT_A, True)
    max_cell = max(plant.pack.cell_voltages())
    energy_j = 0.0
    balanced_at: float | None = None
    outcome = "cap"
    next_report = 0.0
    while plant.now < cap_s:
        if ctrl is not None:
            decision = ctrl.step(measure(plant))
            if decision.state is TopBalanceState.ABORTED:
                outcome = f"aborted: {decision.abort_reason}"
                break
            wish = Wish(
                cvl_v=decision.cvl_v,
                ccl_a=decision.ccl_a,
                allow_charge=decision.allow_to_charge,
                elevate_cvl=decision.active,
            )
            wire = filter_limits(wish, real_reading(plant), envelope).wire
            plant.external_bms = BmsLimits(
                wire.max_charge_voltage, wire.max_charge_current, wire.allow_to_charge
            )
        plant.step()
        volts = plant.pack.cell_voltages()
        max_cell = max(max_cell, *volts)
        if plant.pack.current > 0:
            energy_j += sum(volts) * plant.pack.current * plant.config.step
        if monitor.update(plant.now, volts):
            balanced_at = plant.now
            outcome = "balanced"
            break
        if plant.now >= next_report:
            next_report += 6 * HOUR
            print(
                f"  {scenario.name} {controller}: {plant.now / HOUR:5.1f} h "
                f"max {max(volts):.3f} min {min(volts):.3f} I {plant.pack.current:5.1f} A "
                f"ovp {plant.ovp_events}",
                file=sys.stderr,
            )
    volts = plant.pack.cell_voltages()
    print(
        f"{scenario.name} {controller}: {outcome} at {plant.now / HOUR:.2f} h "
        f"({time.monotonic() - started:.0f} s wall)",
        file=sys.stderr,
    )
    return {
        "time_to_balanced_h": None if balanced_at is None else round(balanced_at / HOUR, 2),
        "ovp_events": plant.ovp_events,
        "max_cell_v": round(max_cell, 3),
        "final_delta_mv": round((max(volts) - min(volts)) * 1000, 1),
        "settings_writes": settings_writes,
        "energy_kwh": round(energy_j / 3.6e6, 2),
    }


def _job(args: tuple[int, str]) -> tuple[int, str, dict[str, Any]]:
    index, controller = args
    return index, controller, run(SCENARIOS[index], controller)


def main() -> None:
    """Run every scenario with every controller (2 processes) and print the JSON."""
    jobs = [(index, name) for index in range(len(SCENARIOS)) for name in CONTROLLERS]
    results: dict[int, dict[str, dict[str, Any]]] = {index: {} for index in range(len(SCENARIOS))}
    with ProcessPoolExecutor(max_workers=2) as pool:
        for index, controller, result in pool.map(_job, jobs):
            results[index][controller] = result
    out = {
        "scenarios": [
            {
                "name": scenario.name,
                "lower_bound_h": round(scenario.lower_bound_h(), 2),
                "results": {name: results[index][name] for name in CONTROLLERS},
            }
            for index, scenario in enumerate(SCENARIOS)
        ]
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
