"""The safety campaign: randomized episodes on the simulator's pure plant, invariants counted.

`scripts/bench safety [episodes] [seed]` runs (default 10,000) episodes of the charge
supervisor against `benchmarks.safety_gx.PureGx` (no MQTT), each a random mix of
top-balance runs, holds, limited mode, real-BMS blocks and alarms, cold, data gaps,
BMS-driver restarts (topics vanishing and coming back one by one), rejected writes and
Home Assistant restarts (crashes and clean unloads), and checks after every second,
against the GX's own truth:

* I1: every document within the real BMS's limits and permissions (CVL above the real
  one only during an active run, never above the cap);
* I2: once a run or hold has ended, DVCC never follows an elevated CVL (2 s allowed for
  the driver's update loop), and a document goes out in the step that ended it;
* I3: while in control, a document every second, blind ones without charge;
* I4: every charge-voltage write inside the window of the pack's true cell count;
* I5: the virtual BMS is chosen only for a run or a hold, and after the episode's
  cool-down DVCC follows the user's choice again, the driver gone, no MultipleBatteries;
* I6: the balancer's lease, will, cap and sequencing (`benchmarks.safety_balancer`).

`ovp_events` counts the real BMS's over-voltage trips while charging followed a decision
of ours (DVCC following the virtual BMS during a run, or its CVL above the real BMS's);
reported apart, as context: trips while the real BMS was in control (its own charging),
and trips while Home Assistant was down mid-run and the driver held our last document
(the one case the README says is not covered; the driver's timeout is 15 s as the README
recommends).

Prints `{"episodes", "violations": {"I1".."I6"}, "ovp_events", "wrong_flash_writes",
"seconds", ...}`; every count should be 0.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from collections import Counter, deque
from concurrent.futures import ProcessPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from benchmarks.safety_balancer import run_episodes
from benchmarks.safety_gx import REAL, VIRTUAL, PureGx
from custom_components.victron_balance.logic.charge_supervisor import (
    ChargeSupervisor,
    EventKind,
    Refused,
    Step,
)
from custom_components.victron_balance.logic.dvcc_limits import ChargeMode
from custom_components.victron_balance.logic.safety.gx_settings import (
    BMS_INSTANCE_PATH,
    MAX_CHARGE_CURRENT_PATH,
    MAX_CHARGE_VOLTAGE_PATH,
)
from custom_components.victron_balance.logic.safety.real_bms import CHARGE_BLOCKING_ALARMS

EPS = 1e-6
DEFAULT_EPISODES = 10_000
COOL_DOWN_S = 110  # after the last event: everything must be given back by then
DRIVER_LAG_S = 2.0  # the driver applies a JSON on its next 1 s update
ENDS = frozenset(
    {
        EventKind.TOP_BALANCE_STOPPED,
        EventKind.TOP_BALANCE_ABORTED,
        EventKind.TOP_BALANCE_DONE,
        EventKind.HOLD_STOPPED,
        EventKind.HOLD_ENDED,
    }
)
ALARMS = ("HighVoltage", "HighCellVoltage", "BmsCable", "InternalFailure", "LowVoltage")
ACTIONS = (
    ("mode", 10),
    ("stop", 3),
    ("limits", 3),
    ("params", 1),
    ("block", 3),
    ("unblock", 3),
    ("alarm", 2),
    ("clear_alarm", 3),
    ("cold", 1),
    ("warm", 2),
    ("discharge_block", 1),
    ("gap", 2),
    ("driver_restart", 2),
    ("crash", 2),
    ("unload", 1),
    ("reject_writes", 1),
    ("bms_on_gx", 1),
    ("near_top", 2),
)


@dataclass
class Result:
    """One episode's counts."""

    violations: Counter[str] = field(default_factory=Counter)
    details: list[str] = field(default_factory=list)
    ovp_events: int = 0  # BMS trips while the virtual BMS was DVCC's BMS (ours)
    ovp_real_bms: int = 0  # ... while the real BMS was (its own charging, for context)
    ovp_crashed: int = 0  # ... while Home Assistant was down mid-run (not guaranteed)
    wrong_flash_writes: int = 0
    steps: int = 0
    runs: int = 0
    holds: int = 0
    elevated_documents: int = 0
    stale_documents: int = 0

    def violation(self, invariant: str, detail: str) -> None:
        """Count one; keep the first few details."""
        self.violations[invariant] += 1
        if len(self.details) < 3:
            self.details.append(f"{invariant}: {detail}")


class Episode:
    """One random episode; see the module docstring."""

    def __init__(self, seed: int) -> None:
        rng = self.rng = random.Random(seed)
        self.gx = PureGx(
            cells=rng.choice([4, 4, 8, 16]),
            flavour=rng.choice(["serialbattery", "mqtt_battery"]),
            seed=seed,
            soc=rng.uniform(0.90, 0.985),
            spread=rng.uniform(0.0, 0.03),
        )
        self.result = Result()
        self.supervisor: ChargeSupervisor | None = ChargeSupervisor(VIRTUAL)
        self.saved: dict[str, Any] | None = None
        self.down_until = 0.0
        self.gap_until = 0.0
        self.driver_back_at: float | None = None
        self.reject = False
        self.ended_at: float | None = None  # the last end of virtual control
        self.back_at = 0.0  # the integration's last (re)start
        self.limits: deque[float | None] = deque(maxlen=int(DRIVER_LAG_S) + 1)
        if rng.random() < 0.5:
            self.gx.set_setting(BMS_INSTANCE_PATH, REAL)
        if rng.random() < 0.3:
            self.gx.set_setting(MAX_CHARGE_CURRENT_PATH, rng.choice([10, 30]))

    # ------------------------------------------------------------------ running
    def run(self) -> Result:
        """The episode: events, then a cool-down in which everything must settle."""
        length = self.rng.randint(30, 120)
        for second in range(length):
            if second > 5 and self.rng.random() < 0.12:
                self.act(self._pick())
            self.tick()
        self.cool_down()
        return self.result

    def _pick(self) -> str:
        names = [name for name, _ in ACTIONS]
        weights = [weight for _, weight in ACTIONS]
        return self.rng.choices(names, weights)[0]

    def tick(self) -> None:
        gx = self.gx
        gx.set_alive(gx.mono >= self.gap_until)
        if self.driver_back_at is not None and gx.mono >= self.driver_back_at:
            gx.battery_back()
            self.driver_back_at = None
        trips = len(gx.plant.bms.ovp_events)
        ours = self.ours()
        gx.step()
        if len(gx.plant.bms.ovp_events) > trips:
            if ours and self.supervisor is None:
                self.result.ovp_crashed += 1  # the driver holding our last document
            elif ours:
                self.result.ovp_events += 1
                self.result.violation("OVP", f"BMS tripped at {gx.plant.bms.ovp_events[-1]}")
            else:
                self.result.ovp_real_bms += 1
        self.result.steps += 1
        if self.supervisor is None and gx.mono >= self.down_until:
            self.start_again()
        if self.supervisor is not None:
            self.deliver(self.supervisor.step(gx.view()))
        self.check_dvcc()

    def ours(self) -> bool:
        """Charging follows a decision of ours: DVCC follows the virtual BMS during a run,
        or its CVL above the real BMS's (outside a run the virtual BMS mirrors the real
        one, which then charges by its own rules)."""
        gx, supervisor = self.gx, self.supervisor
        if gx.active_bms() != VIRTUAL:
            return False
        if supervisor is None or supervisor.running:
            return True
        followed = gx.virtual_cvl()
        real = _num(gx.real_items().get("/Info/MaxChargeVoltage"))
        return followed is not None and (real is None or followed > real + EPS)

    def deliver(self, step: Step) -> None:
        supervisor = self.supervisor
        assert supervisor is not None
        self.check(step)
        self.gx.receive_document(step.document)
        for write in step.writes:
            if self.gx.receive_write(write, rejected=self.reject):
                supervisor.confirmed(write)

    # ------------------------------------------------------------------ actions
    def act(self, name: str) -> None:
        gx, rng, supervisor = self.gx, self.rng, self.supervisor
        faults = gx.faults
        if name == "mode" and supervisor is not None:
            mode = rng.choice([ChargeMode.TOP_BALANCE, ChargeMode.TOP_BALANCE, *list(ChargeMode)])
            try:
                events = supervisor.select_mode(mode, gx.view())
            except Refused:
                return
            self.result.runs += mode is ChargeMode.TOP_BALANCE
            self.result.holds += mode is ChargeMode.HOLD_AT_SOC
            self.action_step(events)
        elif name == "stop" and supervisor is not None:
            self.action_step(supervisor.stop_virtual_control(gx.view()))
        elif name == "limits" and supervisor is not None:
            with suppress(Refused):  # out-of-range numbers are refused: part of the test
                supervisor.set_limits(
                    gx.view(),
                    current_a=rng.choice([None, 5.0, 30.0, 250.0]),
                    voltage_v=rng.choice([None, 3.65, gx.cells * 3.4, gx.cells * 3.7]),
                )
            self.action_step([])
        elif name == "params" and supervisor is not None:
            supervisor.set_parameters(
                target_cell_v=rng.choice([3.5, 3.55, 3.6, 3.65]),
                max_current_a=rng.choice([10.0, 40.0, 70.0]),
                hold_target_pct=rng.choice([50.0, 80.0, 95.0]),
            )
        elif name == "block":
            faults.blocks_charge = True
        elif name == "unblock":
            faults.blocks_charge = faults.blocks_discharge = False
        elif name == "alarm":
            faults.alarm = rng.choice(ALARMS)
        elif name == "clear_alarm":
            faults.alarm = None
        elif name == "cold":
            faults.temperature = rng.choice([-5.0, 60.0])
        elif name == "warm":
            faults.temperature = None
        elif name == "discharge_block":
            faults.blocks_discharge = True
        elif name == "gap":
            self.gap_until = gx.mono + rng.randint(3, 45)
        elif name == "driver_restart" and gx.battery_up:
            gx.battery_gone()
            self.driver_back_at = gx.mono + rng.randint(5, 12)
        elif name in ("crash", "unload") and supervisor is not None:
            self.stop_integration(clean=name == "unload")
        elif name == "reject_writes":
            self.reject = not self.reject
        elif name == "bms_on_gx":
            gx.set_setting(BMS_INSTANCE_PATH, rng.choice([-1, REAL, VIRTUAL]))
        elif name == "near_top":
            for cell in gx.plant.pack.cells:
                cell.charge_ah = min(cell.charge_ah, cell.capacity_ah * rng.uniform(0.97, 0.999))

    def action_step(self, events: list[Any]) -> None:
        """The runner steps at once after every action (a stop goes out now)."""
        supervisor = self.supervisor
        assert supervisor is not None
        step = supervisor.step(self.gx.view())
        step.events[:0] = events
        self.deliver(step)

    def stop_integration(self, *, clean: bool) -> None:
        supervisor = self.supervisor
        assert supervisor is not None
        if clean:
            self.deliver(supervisor.shutdown(self.gx.view(), "unload"))
        if supervisor.need_virtual or supervisor.running:
            self.ended_at = None  # a crash leaves control as it was: not our guarantee
        self.saved = supervisor.to_dict()
        self.supervisor = None
        self.down_until = self.gx.mono + self.rng.choice([1, 10, 60, 200, 400])

    def start_again(self) -> None:
        assert self.saved is not None
        self.supervisor, _ = ChargeSupervisor.from_dict(
            VIRTUAL, self.saved, self.gx.now, self.gx.mono
        )
        self.back_at = self.gx.mono

    def cool_down(self) -> None:
        """The user stops everything, the faults clear, the GX answers: all given back."""
        gx = self.gx
        self.gap_until = 0.0
        self.reject = False
        gx.faults.blocks_charge = gx.faults.blocks_discharge = False
        gx.faults.alarm = gx.faults.temperature = None
        if self.driver_back_at is not None:
            self.driver_back_at = gx.mono
        if self.supervisor is None:
            self.down_until = gx.mono
        self.tick()
        supervisor = self.supervisor
        assert supervisor is not None
        self.action_step(supervisor.stop_virtual_control(gx.view()))
        quiet = supervisor.control is None and gx.setting(BMS_INSTANCE_PATH) != VIRTUAL
        for _ in range(5 if quiet else COOL_DOWN_S):  # never in control: nothing to give back
            self.tick()
        result = self.result
        if gx.setting(BMS_INSTANCE_PATH) == VIRTUAL:
            result.violation("I5", "BmsInstance still points at the virtual BMS")
        if gx.active_bms() == VIRTUAL:
            result.violation("I5", "DVCC still follows the virtual BMS")
        if gx.multiple_batteries():
            result.violation("I5", "MultipleBatteries after the cool-down")
        if not supervisor.switch.settled:
            result.violation("I5", f"switch not settled: {supervisor.switch}")

    # ------------------------------------------------------------------ checks
    def check(self, step: Step) -> None:
        supervisor = self.supervisor
        assert supervisor is not None
        gx, result = self.gx, self.result
        real = gx.real_items()
        document = step.document
        ended = any(event.kind in ENDS for event in step.events)
        if ended:
            self.ended_at = gx.mono
            if gx.active_bms() == VIRTUAL and document is None:
                result.violation("I2", "control ended, DVCC follows the virtual BMS, no document")
        if document is None:
            if supervisor.need_virtual and supervisor.envelope.last_complete is not None:
                result.violation("I3", "in control, no document")
        else:
            self.check_document(step, real)
        for write in step.writes:
            if write.path == MAX_CHARGE_VOLTAGE_PATH and write.value != 0.0:
                low, high = gx.cells * 2.9 - EPS, gx.cells * 3.65 + EPS
                if not low <= float(write.value) <= high:
                    result.wrong_flash_writes += 1
                    result.violation("I4", f"MaxChargeVoltage {write.value} for {gx.cells} cells")
            outside = not supervisor.need_virtual
            if write.path == BMS_INSTANCE_PATH and write.value == VIRTUAL and outside:
                result.violation("I5", "virtual BMS chosen outside a run or a hold")

    def check_document(self, step: Step, real: dict[str, Any]) -> None:
        supervisor = self.supervisor
        assert supervisor is not None
        assert step.document is not None
        gx, result = self.gx, self.result
        wire = step.document.limits.wire
        control = supervisor.control
        assert control is not None
        cap = control.cells * min(
            control.target_cell_v, control.preset.ovp_v - control.ovp_margin_v
        )
        if wire.max_charge_voltage > cap + EPS:
            result.violation("I1", f"CVL {wire.max_charge_voltage} above the cap {cap}")
        if step.document.stale:
            result.stale_documents += 1
            if wire.allow_to_charge or wire.max_charge_current > 0:
                result.violation("I3", "a blind document allows charging")
            return
        if not gx.alive:
            result.violation("I3", "readings during a gap not judged stale")
        ccl, dcl, cvl = (
            _num(real.get(path))
            for path in (
                "/Info/MaxChargeCurrent",
                "/Info/MaxDischargeCurrent",
                "/Info/MaxChargeVoltage",
            )
        )
        if ccl is not None and wire.max_charge_current > ccl + EPS:
            result.violation("I1", f"CCL {wire.max_charge_current} > real {ccl}")
        if dcl is not None and wire.max_discharge_current > dcl + EPS:
            result.violation("I1", f"DCL {wire.max_discharge_current} > real {dcl}")
        if wire.allow_to_charge:
            blocked = real.get("/Io/AllowToCharge") == 0
            alarmed = any(real.get(f"/Alarms/{name}") == 2 for name in CHARGE_BLOCKING_ALARMS)
            temp = _num(real.get("/Dc/0/Temperature"))
            cold = temp is not None and not 0.0 <= temp <= 55.0
            if blocked or alarmed or cold:
                result.violation(
                    "I1", f"charge allowed: blocked={blocked} alarm={alarmed} t={temp}"
                )
        if wire.allow_to_discharge and real.get("/Io/AllowToDischarge") == 0:
            result.violation("I1", "discharge allowed against the real BMS")
        elevated = supervisor.running and (
            supervisor.decision is not None and supervisor.decision.active
        )
        if elevated:
            result.elevated_documents += 1
        limit = cvl if cvl is not None else control.normal_cvl_v
        if not elevated and wire.max_charge_voltage > limit + EPS:
            result.violation("I1", f"CVL {wire.max_charge_voltage} > real {limit} outside a run")

    def check_dvcc(self) -> None:
        """I2 on the GX itself: no elevated CVL followed outside a run."""
        supervisor, gx = self.supervisor, self.gx
        if supervisor is None or supervisor.running:
            return
        if gx.mono - self.back_at < DRIVER_LAG_S:
            return  # just restarted after a crash: the driver still holds the old JSON
        if self.ended_at is not None and gx.mono - self.ended_at < DRIVER_LAG_S:
            return
        followed = gx.virtual_cvl()
        real = _num(gx.real_items().get("/Info/MaxChargeVoltage"))
        normal = supervisor.control.normal_cvl_v if supervisor.control is not None else None
        now_limit = real if real is not None else normal
        # The driver applies a document on its next update: judge against what held then.
        self.limits.append(now_limit)
        known = [limit for limit in self.limits if limit is not None]
        limit = max(known) if known else None
        if followed is not None and limit is not None and followed > limit + EPS:
            if not gx.alive and self.ended_at is None:
                return  # not ours: a gap hid the end from the integration
            self.result.violation("I2", f"DVCC follows CVL {followed} > {limit} outside a run")


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _batch(args: tuple[int, int]) -> dict[str, Any]:
    first, count = args
    total = Result()
    for seed in range(first, first + count):
        result = Episode(seed).run()
        total.violations.update(result.violations)
        if len(total.details) < 5:
            total.details += [f"seed {seed}: {d}" for d in result.details]
        total.ovp_events += result.ovp_events
        total.ovp_real_bms += result.ovp_real_bms
        total.ovp_crashed += result.ovp_crashed
        total.wrong_flash_writes += result.wrong_flash_writes
        total.steps += result.steps
        total.runs += result.runs
        total.holds += result.holds
        total.elevated_documents += result.elevated_documents
        total.stale_documents += result.stale_documents
    return {
        "violations": dict(total.violations),
        "details": total.details,
        "ovp_events": total.ovp_events,
        "ovp_real_bms": total.ovp_real_bms,
        "ovp_crashed": total.ovp_crashed,
        "wrong_flash_writes": total.wrong_flash_writes,
        "steps": total.steps,
        "runs": total.runs,
        "holds": total.holds,
        "elevated_documents": total.elevated_documents,
        "stale_documents": total.stale_documents,
    }


def balancer_violations(episodes: int, seed: int) -> dict[str, Any]:
    """The balancer's part (I6): its own randomized campaign."""
    return run_episodes(episodes, seed)


def campaign(episodes: int, seed: int = 0, workers: int = 2) -> dict[str, Any]:
    """Run the campaign in `workers` processes; the JSON the benchmark prints."""
    started = time.monotonic()
    chunk = 250
    jobs = [(seed + first, min(chunk, episodes - first)) for first in range(0, episodes, chunk)]
    parts: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for done, part in enumerate(pool.map(_batch, jobs), start=1):
            parts.append(part)
            print(f"  {min(done * chunk, episodes)}/{episodes} episodes", file=sys.stderr)
    violations: Counter[str] = Counter()
    for part in parts:
        violations.update(part["violations"])
    balancer = balancer_violations(episodes, seed)
    counts: dict[str, int | None] = {
        name: violations.get(name, 0) for name in ("I1", "I2", "I3", "I4", "I5")
    }
    counts["I6"] = balancer["violations"].get("I6", 0)
    details = [d for part in parts for d in part["details"]][:10]
    return {
        "episodes": episodes,
        "violations": counts,
        "ovp_events": sum(part["ovp_events"] for part in parts),
        "ovp_events_real_bms_in_control": sum(part["ovp_real_bms"] for part in parts),
        "ovp_events_home_assistant_down": sum(part["ovp_crashed"] for part in parts),
        "wrong_flash_writes": sum(part["wrong_flash_writes"] for part in parts),
        "seconds": round(time.monotonic() - started, 1),
        "simulated_seconds": sum(part["steps"] for part in parts),
        "runs_started": sum(part["runs"] for part in parts),
        "holds_started": sum(part["holds"] for part in parts),
        "elevated_documents": sum(part["elevated_documents"] for part in parts),
        "stale_documents": sum(part["stale_documents"] for part in parts),
        "balancer": None
        if balancer is None
        else {k: v for k, v in balancer.items() if k != "details"},
        "details": details + ([] if balancer is None else balancer.get("details", [])[:5]),
    }


def main() -> None:
    """`scripts/bench safety [episodes] [seed]`: the JSON on stdout."""
    episodes = int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_EPISODES
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    print(json.dumps(campaign(episodes, seed), indent=2))


if __name__ == "__main__":
    main()
