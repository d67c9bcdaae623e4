"""Randomized balancer episodes on the simulator's pure hardware: invariant I6 (issue 10).

`BalancerRig` puts the integration's pure driving logic (`BalancerDriver`: sequencer,
lease, the safety gate of `logic.safety.balancer`) in front of the simulator's pure
balancer hardware (`simulator.balancer_hw`, protocol 2: lease, will, per-charge cap,
latched faults), with a small model of the Home Assistant runner around it (the
balancing switch, a latched fault stored before anything is sent, plans). There is
no MQTT: a permitted command reaches the device at once, unless a publish fails.

`run_episodes` mixes plans, stops, faults (DC/DC stuck on, welded relay, relay stuck
open), controller crashes (renewals stop, with or without the Last Will), Home
Assistant restarts, data gaps (Venus stale, late or lost device measurements) and
publish failures, and checks I6 after every step of the device:

* never two relays closed;
* no relay moved under load, except the documented emergency: opening the relay of
  a DC/DC stuck on;
* the DC/DC never on without a lease, and the device never refuses one of our "on"
  commands (the gate sends none it would refuse);
* a latched fault stays latched until the user resets it (no DC/DC start meanwhile);
* within `lease_s` (+ the device's settle time) of the controller vanishing,
  everything is off.

The benchmark the lead's `benchmarks/safety.py` calls is `run_episodes`; on its own:
`scripts/bench safety_balancer [episodes] [seed]` prints the JSON.
"""

from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from custom_components.victron_balance.logic.balancer.contract import (
    BalancerInfo,
    DeviceFault,
    DeviceState,
    LeaseReport,
)
from custom_components.victron_balance.logic.balancer.driver import BalancerDriver
from custom_components.victron_balance.logic.balancer.planner import cap_steps
from custom_components.victron_balance.logic.balancer.sequencer import ChargeStep, SequencerState
from custom_components.victron_balance.logic.safety.balancer import Permit
from simulator.balancer_hw import (
    FAULT_SWITCHED_UNDER_LOAD,
    LEASE_RELEASED,
    LEASE_WILL,
    BalancerConfig,
    BalancerHardware,
    MemoryCells,
)

TICK_S = 1.0  # the integration's loop
DT = 0.25  # device physics steps per tick: 4
WILL_TOPIC = "victron_balance/rig/status"
MAX_DETAILS = 5


@dataclass
class Violations:
    """I6 violations found so far (count and the first few, with when and what)."""

    count: int = 0
    details: list[dict[str, Any]] = field(default_factory=list)

    def add(self, rule: str, at: float, **what: Any) -> None:
        self.count += 1
        if len(self.details) < MAX_DETAILS:
            self.details.append({"rule": rule, "t": round(at, 2), **what})


def device_info(hw: BalancerHardware, balancer_id: str = "bal1") -> BalancerInfo:
    """The `info` the device would publish, parsed as the integration parses it."""
    cfg = hw.config
    info: dict[str, Any] = {
        "id": balancer_id,
        "protocol": cfg.protocol,
        "relays": cfg.relays,
        "kind": cfg.kind,
        "dcdc": {
            "open_circuit_voltage": cfg.open_circuit_voltage,
            "max_current": cfg.max_current,
            "output_resistance": cfg.output_resistance,
            "measures_current": cfg.measures_current,
        },
        "relay_life": {"load": cfg.load_life, "dry": cfg.dry_life},
        "settle_time": cfg.settle_time,
        "measure_interval": TICK_S,
    }
    if cfg.protocol >= 2:
        info["lease"] = {"default_s": cfg.lease_s, "max_s": cfg.max_lease_s}
        info["max_charge_s"] = cfg.max_charge_s
    return BalancerInfo.parse(balancer_id, json.dumps(info).encode())


def observe(hw: BalancerHardware) -> DeviceState:
    """What the device's retained topics say now (as `DeviceState` would hold it)."""
    state = DeviceState(hw.relay_count, online=True, dcdc=hw.dcdc_on)
    state.dcdc_current = hw.current_setpoint
    state.output_voltage = hw.output_voltage
    state.output_current = hw.output_current if hw.config.measures_current else None
    state.relay_on = {n: hw.relay_on(n) for n in range(1, hw.relay_count + 1)}
    fault = hw.fault
    if fault is not None:
        raw = f"{fault.reason}:{len(hw.faults)}".encode()
        state.fault = DeviceFault(fault.reason, fault.relay, fault.detail, raw)
    if hw.config.protocol >= 2:
        ends = hw.lease_ends
        state.lease = LeaseReport(
            hw.lease_active, hw.lease_holder, hw.last_lease_end, sum(ends.values()), hw.refused
        )
    return state


def deliver(hw: BalancerHardware, permit: Permit) -> None:
    """A permitted command reaching the device (the MQTT adapter's job, without MQTT)."""
    topic, payload = permit.topic, permit.payload
    if topic == "dcdc/set":
        hw.set_dcdc(payload == "on")
    elif topic == "fault/clear":
        hw.clear_fault()
    elif topic == "lease/set":
        if payload == "release":
            hw.end_lease(LEASE_RELEASED)
        else:
            request = json.loads(payload)
            hw.grant_lease(float(request["lease_s"]), request.get("will"))
    else:  # relay/<n>/set
        hw.set_relay(int(topic.split("/")[1]), payload == "on")


class BalancerRig:
    """The device, the integration's pure driver and a model of the HA runner."""

    def __init__(self, rng: random.Random, config: BalancerConfig, voltages: list[float]):
        self.rng = rng
        self.cells = MemoryCells(voltages, volts_per_ah=0.05)
        self.hw = BalancerHardware(self.cells, config)
        self.info = device_info(self.hw)
        self.violations = Violations()
        self.now = 0.0
        # The runner: its switch, its latched fault (stored), and whether it runs.
        self.enabled = True
        self.fault: str | None = None
        self.alive = True
        self.driver = self._new_driver()
        self._acknowledged: bytes | None = None
        self._snapshot = observe(self.hw)
        self._measured_at: float | None = self.now
        self._next_plan = 0.0
        # Data gaps and failures, set by the episode.
        self.venus_stale = False
        self.measurement_loss = 0.0  # probability a tick sees no new measurement
        self.publish_loss = 0.0  # probability a publish fails
        # What the checks need.
        self._vanished_at: float | None = None
        self._starts_at_latch: int | None = None
        self._seen_faults = 0
        self._refused = 0
        self.ticks = 0

    def _new_driver(self) -> BalancerDriver:
        return BalancerDriver(self.info, holder=WILL_TOPIC, tick_s=TICK_S)

    # --- what happens to the world ----------------------------------------------------

    def crash(self, *, will: bool) -> None:
        """Home Assistant dies: no tick, no renewal; the broker may publish the will."""
        if not self.alive:
            return
        self.alive = False
        self._vanished_at = self.now
        if will and self.hw.lease_holder == WILL_TOPIC:
            self.hw.end_lease(LEASE_WILL)
            self.check()

    def restart(self) -> None:
        """Home Assistant starts again: a fresh driver, the switch and fault from storage."""
        self.alive = True
        self._vanished_at = None
        self.driver = self._new_driver()
        self._acknowledged = None
        self._snapshot = observe(self.hw)
        self._measured_at = self.now

    def clean_restart(self) -> None:
        """Unload (explicit offs, lease given back) and load again."""
        if self.alive:
            for permit in self.driver.shutdown(self._snapshot):
                self._publish(permit)
        self.restart()

    def set_enabled(self, enabled: bool) -> None:
        """The balancing switch; on acknowledges a latched fault (as the runner does)."""
        if enabled and self.alive:
            self.fault = None
            self._starts_at_latch = None
            if self.driver.sequencer is not None:
                self.driver.sequencer.reset()
            if self.hw.fault is not None:
                self._acknowledged = self._snapshot.fault.raw if self._snapshot.fault else None
                self._publish(self.driver.gate.clear_fault())
            self._next_plan = self.now
        elif not enabled and self.driver.sequencer is not None:
            self.driver.sequencer.stop()
        self.enabled = enabled

    def inject(self, kind: str, relay: int | None = None) -> None:
        """A hardware fault: `stuck_dcdc`, `welded` (relay stays as it is) or `open`."""
        hw = self.hw
        if kind == "stuck_dcdc":
            hw.dcdc_stuck_on()
        elif kind == "welded":
            hw.stick_relay(relay or self.rng.randint(1, hw.relay_count))
        else:
            hw.stick_relay(relay or self.rng.randint(1, hw.relay_count), closed=False)
        # A contact that fails open under current arcs: the fault's, not the controller's.
        self._seen_faults = len(hw.faults)

    # --- time ---------------------------------------------------------------------------

    def run(self, seconds: float) -> None:
        """Advance: device steps of DT, the controller once per TICK_S (when alive)."""
        for _ in range(round(seconds / TICK_S)):
            for _ in range(round(TICK_S / DT)):
                self.hw.step(DT)
                self.now = round(self.now + DT, 6)
                self.check()
            if self.alive:
                self.tick()
                self.check()

    def tick(self) -> None:
        """One tick of the runner (balancer.py `async_tick`, without Home Assistant)."""
        self.ticks += 1
        now = self.now
        if self.rng.random() >= self.measurement_loss:
            self._snapshot = observe(self.hw)
            self._measured_at = now
        device = self._snapshot
        self._check_device_fault(device)
        driver = self.driver
        driver.update(self.info, device.dcdc_current)
        age = None if self._measured_at is None else now - self._measured_at
        cells = None if self.venus_stale else list(self.cells.voltages)
        sequencer = driver.begin(now, device, age, online=True)
        if sequencer is not None:
            if self.enabled and self.fault is None and driver.can_charge(now, device, cells):
                idle = sequencer.state is SequencerState.IDLE and not sequencer.queue
                if idle and now >= self._next_plan:
                    sequencer.start(cap_steps(self._plan(), driver.charge_limit_s))
                    self._next_plan = now + self.rng.choice((5.0, 30.0))
            else:
                sequencer.stop()
        tick = driver.finish(
            now,
            device,
            age,
            cells,
            want_lease=self.enabled and self.fault is None and cells is not None,
            fault_latched=self.fault is not None or device.fault is not None,
        )
        if tick.fault is not None and self.fault is None:
            self._latch(str(tick.fault))  # before anything is sent
        for permit in tick.permits:
            if not self._publish(permit):
                driver.send_failed()
                break
            driver.delivered(permit, now)

    def _plan(self) -> list[ChargeStep]:
        relays = self.rng.sample(
            range(1, self.hw.relay_count + 1), self.rng.randint(1, min(3, self.hw.relay_count))
        )
        return [ChargeStep(relay, self.rng.choice((3.0, 8.0, 20.0, 200.0))) for relay in relays]

    def _check_device_fault(self, device: DeviceState) -> None:
        fault = device.fault
        if fault is None or fault.raw == self._acknowledged:
            return
        self._acknowledged = fault.raw
        if self.fault is None:
            self._latch(f"device_{fault.reason}")

    def _latch(self, reason: str) -> None:
        self.fault = reason
        self.enabled = False
        if self.driver.sequencer is not None:
            self.driver.sequencer.stop()
        self._starts_at_latch = self.hw.dcdc_starts

    def _publish(self, permit: Permit) -> bool:
        if self.rng.random() < self.publish_loss:
            return False
        deliver(self.hw, permit)
        return True

    # --- I6 -------------------------------------------------------------------------------

    def check(self) -> None:
        """Every rule of I6 on the device as it is now."""
        hw, now, add = self.hw, self.now, self.violations.add
        closed = hw.closed_relays()
        if len(closed) > 1:
            add("two_relays_closed", now, relays=closed)
        for fault in hw.faults[self._seen_faults :]:
            # The one allowed: opening the relay of a DC/DC stuck on (the emergency).
            emergency = fault.reason == FAULT_SWITCHED_UNDER_LOAD and (
                hw.dcdc_stuck and fault.relay not in closed
            )
            if fault.reason == FAULT_SWITCHED_UNDER_LOAD and not emergency:
                add("switched_under_load", now, relay=fault.relay)
            if fault.reason in ("cell_short", "two_relays_refused"):
                add(fault.reason, now, relay=fault.relay)
        self._seen_faults = len(hw.faults)
        if hw.dcdc_on and not hw.lease_active and hw.config.protocol >= 2:
            add("dcdc_on_without_lease", now)
        if hw.refused != self._refused:
            add("device_refused_our_command", now, why=hw.last_refusal)
            self._refused = hw.refused
        if self._starts_at_latch is not None and hw.dcdc_starts > self._starts_at_latch:
            add("restarted_while_latched", now, fault=self.fault)
            self._starts_at_latch = hw.dcdc_starts
        vanished = self._vanished_at
        if vanished is not None and now - vanished > self.lease_deadline_s:
            still = hw.dcdc_on or any(hw.relay_on(n) for n in range(1, hw.relay_count + 1))
            if still:
                add("not_off_after_controller_vanished", now, since=round(now - vanished, 2))
                self._vanished_at = None  # once per crash
        undrivable = self.info.protocol < 2 or self.driver.refusal is not None
        driven = hw.dcdc_starts or any(hw.cycles(n) for n in range(1, hw.relay_count + 1))
        if undrivable and driven:
            add("drove_an_undrivable_device", now)

    @property
    def lease_deadline_s(self) -> float:
        """Off by then: the lease, the device's own settle time, and one step."""
        return self.driver.lease.lease_s + self.hw.config.settle_time + DT


def random_config(rng: random.Random) -> BalancerConfig:
    """Mostly good devices; some without current measurement, short caps, protocol 1."""
    relays = rng.randint(2, 6)
    measures_current = rng.random() < 0.8
    resistance = rng.choice((0.05, 0.05, 0.1, 0.02))  # 0.02 without current: never driven
    return BalancerConfig(
        relays=relays,
        output_resistance=resistance,
        measures_current=measures_current,
        max_charge_s=rng.choice((3600.0, 60.0, 45.0)),
        protocol=2 if rng.random() < 0.95 else 1,
    )


def episode(seed: int) -> Violations:
    """One randomized episode (~2-4 simulated minutes of events)."""
    rng = random.Random(seed)
    config = random_config(rng)
    voltages = [round(rng.uniform(3.30, 3.45), 3) for _ in range(config.relays)]
    rig = BalancerRig(rng, config, voltages)
    rig.measurement_loss = rng.choice((0.0, 0.0, 0.1, 0.3))
    rig.publish_loss = rng.choice((0.0, 0.0, 0.05))
    for _ in range(rng.randint(6, 12)):
        rig.run(rng.choice((2.0, 5.0, 10.0, 20.0)))
        event = rng.random()
        if event < 0.15:
            rig.crash(will=rng.random() < 0.5)
            rig.run(rng.choice((5.0, 15.0, 30.0)))
            rig.restart()
        elif event < 0.25:
            rig.inject(rng.choice(("stuck_dcdc", "welded", "open")))
        elif event < 0.35:
            rig.set_enabled(not rig.enabled)
        elif event < 0.45:
            rig.venus_stale = not rig.venus_stale
        elif event < 0.50:
            rig.clean_restart()
        elif event < 0.55 and rig.fault is not None:
            rig.hw.repair()
            rig.set_enabled(True)  # the user acknowledges
    rig.crash(will=rng.random() < 0.5)  # every episode ends with the controller gone
    rig.run(rig.lease_deadline_s + 2 * TICK_S)
    return rig.violations


def run_episodes(episodes: int, seed: int) -> dict[str, Any]:
    """Run `episodes` randomized episodes from `seed`; the I6 violations found."""
    started = time.perf_counter()
    count = 0
    details: list[dict[str, Any]] = []
    for number in range(episodes):
        found = episode(seed * 1_000_003 + number)
        count += found.count
        for detail in found.details:
            if len(details) < MAX_DETAILS:
                details.append({"episode": number, **detail})
    return {
        "episodes": episodes,
        "violations": {"I6": count},
        "details": details,
        "seconds": round(time.perf_counter() - started, 2),
    }


def main(argv: list[str]) -> None:
    """`scripts/bench safety_balancer [episodes] [seed]`."""
    episodes = int(argv[0]) if argv else 10_000
    seed = int(argv[1]) if len(argv) > 1 else 1
    print(json.dumps(run_episodes(episodes, seed)))


if __name__ == "__main__":
    main(sys.argv[1:])
