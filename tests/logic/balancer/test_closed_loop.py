"""The sequencer driving the simulator's balancer physics (pure, no MQTT, no clock)."""

from __future__ import annotations

import pytest

from custom_components.victron_balance.logic.balancer.lee_hart import LEAD_ACID_12V, plan
from custom_components.victron_balance.logic.balancer.sequencer import (
    ChargeStep,
    CommandSet,
    FaultReason,
    Reading,
    Sequencer,
    SequencerConfig,
    SequencerState,
    Tick,
    steps_from_minutes,
)
from custom_components.victron_balance.logic.balancer.wear import WearTracker
from simulator.balancer_hw import (
    FAULT_SWITCHED_UNDER_LOAD,
    BalancerConfig,
    BalancerHardware,
    MemoryCells,
)

DT = 0.05  # s per tick: the loop runs faster than the 0.2 s output time constant
S = SequencerState


class Rig:
    """Hardware + sequencer + wear, one tick at a time (read, decide, command, step)."""

    def __init__(
        self,
        voltages: list[float],
        hw_config: BalancerConfig | None = None,
        config: SequencerConfig | None = None,
    ) -> None:
        self.cells = MemoryCells(voltages)
        self.hw = BalancerHardware(self.cells, hw_config or BalancerConfig.lifepo4(len(voltages)))
        self.seq = Sequencer(len(voltages), config)
        self.wear = WearTracker(len(voltages))  # from the device's counters
        self.command_wear = WearTracker(len(voltages))  # from our own commands
        self.now = 0.0
        self.under_load_commands = 0

    def reading(self) -> Reading:
        n = self.hw.relay_count
        return Reading(
            self.hw.output_voltage,
            self.hw.output_current,
            [self.cells.cell_voltage(i) for i in range(n)],
        )

    def tick(self) -> Tick:
        self.hw.grant_lease()  # a controller renewing its lease (protocol 2)
        tick = self.seq.tick(self.now, self.reading())
        for command in tick.commands:
            if command.relay is None:
                self.hw.set_dcdc(command.on)
            else:
                assert self.hw.set_relay(command.relay, command.on), "device refused"
                self.under_load_commands += command.under_load
                self.command_wear.record(command.relay, command.under_load)
        # The hardware's own invariants: at most one coil, never a coil with DC/DC on
        # unless the sequencer said it knowingly opens under load.
        assert sum(self.hw.relay_on(n) for n in range(1, self.hw.relay_count + 1)) <= 1
        self.hw.step(DT)
        self.now = round(self.now + DT, 6)
        return tick

    def run_until(self, done: object, limit_s: float) -> Tick:
        """Tick until `done(tick)` is true."""
        assert callable(done)
        for _ in range(int(limit_s / DT)):
            tick = self.tick()
            if done(tick):
                return tick
        raise AssertionError(f"not done after {limit_s} s: {self.seq.state}")

    def idle(self, limit_s: float = 600.0) -> Tick:
        return self.run_until(lambda t: t.state is S.IDLE and not self.seq.queue, limit_s)

    def faulted(self, limit_s: float = 600.0) -> Tick:
        return self.run_until(lambda t: t.state is S.FAULT and t.wait, limit_s)

    def observe_wear(self) -> None:
        for n in range(1, self.hw.relay_count + 1):
            self.wear.observe(n, self.hw.cycles(n), self.hw.load_cycles(n))

    def assert_all_off(self) -> None:
        assert self.seq.commanded == CommandSet()
        assert not self.hw.dcdc_on
        assert not any(self.hw.relay_on(n) for n in range(1, self.hw.relay_count + 1))


def test_several_cells_charge_the_right_cells_and_switch_only_dry() -> None:
    rig = Rig([3.30, 3.20, 3.35, 3.25])
    rig.seq.start([ChargeStep(2, 60.0), ChargeStep(4, 30.0), ChargeStep(1, 45.0)])
    rig.idle()
    assert rig.hw.faults == []
    assert [rig.hw.load_cycles(n) for n in range(1, 5)] == [0, 0, 0, 0]
    assert [rig.hw.cycles(n) for n in range(1, 5)] == [2, 2, 0, 2]
    # 2 A for the planned time (within a tick of the verification at each end).
    charge = rig.cells.charge
    assert charge[1] == pytest.approx(120.0, abs=2 * DT * 2.0)
    assert charge[3] == pytest.approx(60.0, abs=2 * DT * 2.0)
    assert charge[0] == pytest.approx(90.0, abs=2 * DT * 2.0)
    assert charge[2] == 0.0
    rig.assert_all_off()
    assert rig.hw.output_voltage < 0.5
    rig.observe_wear()
    assert rig.wear.relays[1].dry == 2
    assert rig.wear.relays[1].load == 0
    assert rig.wear.remaining(2) == pytest.approx(1 - 2e-6)
    assert rig.wear.worn() == []
    # Counting our own commands gives the same wear as the device's counters.
    assert [(r.load, r.dry) for r in rig.command_wear.relays] == [
        (r.load, r.dry) for r in rig.wear.relays
    ]


def test_lee_hart_plan_on_lead_acid_modules() -> None:
    """Seed 004's own case: 12 V modules, 1 A, 15 V open circuit, 0.1 ohm."""
    volts = [12.6, 12.4, 12.7, 12.5]
    scan = plan(volts, LEAD_ACID_12V)
    steps = steps_from_minutes(scan.minutes)
    # Accelerate: a second per planned minute keeps the test fast.
    steps = [ChargeStep(step.relay, step.seconds / 60.0) for step in steps]
    assert [step.relay for step in steps] == [2, 4]
    config = SequencerConfig(
        match_tolerance_v=0.1, min_rise_v=0.05, max_rise_v=1.0, current_measured=True
    )
    rig = Rig(volts, BalancerConfig.lead_acid_modules(relays=4), config)
    rig.seq.start(steps)
    rig.idle()
    assert rig.hw.faults == []
    assert rig.cells.charge[1] > rig.cells.charge[3] > 0
    assert rig.cells.charge[0] == rig.cells.charge[2] == 0.0


def test_stop_while_charging_returns_to_all_off_dry() -> None:
    rig = Rig([3.30, 3.20, 3.35, 3.25])
    rig.seq.start([ChargeStep(3, 600.0)])
    rig.run_until(lambda t: t.state is S.CHARGING, 10.0)
    rig.run_until(lambda t: rig.now >= 5.0, 10.0)
    rig.seq.stop()
    rig.idle(10.0)
    assert rig.hw.faults == []
    rig.assert_all_off()


def test_welded_relay_ends_in_fault_all_off() -> None:
    rig = Rig([3.30, 3.20, 3.35, 3.25])
    rig.seq.start([ChargeStep(1, 5.0), ChargeStep(2, 5.0)])
    rig.run_until(lambda t: t.state is S.CHARGING, 10.0)
    rig.hw.stick_relay(1)  # welded closed while charging
    tick = rig.faulted()
    assert tick.fault is FaultReason.RELAY_DID_NOT_OPEN
    rig.assert_all_off()
    assert rig.hw.relay_closed(1)  # still welded: nothing else was closed onto it
    assert not rig.hw.relay_closed(2)
    assert rig.hw.faults == []
    assert rig.cells.charge[1] == 0.0


def test_relay_that_does_not_close_ends_in_fault_all_off() -> None:
    rig = Rig([3.30, 3.20, 3.35, 3.25])
    rig.hw.stick_relay(2, closed=False)
    rig.seq.start([ChargeStep(2, 5.0)])
    tick = rig.faulted()
    assert tick.fault is FaultReason.RELAY_DID_NOT_CLOSE
    rig.assert_all_off()
    assert rig.hw.faults == []


def test_welded_relay_found_before_anything_is_closed() -> None:
    rig = Rig([3.30, 3.20, 3.35, 3.25])
    rig.hw.stick_relay(3, closed=True)  # DC/DC off: closes dry
    rig.seq.start([ChargeStep(1, 5.0)])
    tick = rig.faulted()
    assert tick.fault is FaultReason.UNEXPECTED_VOLTAGE
    rig.assert_all_off()
    assert rig.hw.cycles(1) == 0  # relay 1 never closed onto cell 3
    assert rig.hw.faults == []


def test_stuck_dcdc_ends_in_fault_all_off_with_one_counted_load_cycle() -> None:
    rig = Rig([3.30, 3.20, 3.35, 3.25])
    rig.seq.start([ChargeStep(1, 5.0), ChargeStep(2, 5.0)])
    rig.run_until(lambda t: t.state is S.CHARGING, 10.0)
    rig.hw.dcdc_stuck_on()
    tick = rig.faulted()
    assert tick.fault is FaultReason.DCDC_DID_NOT_TURN_OFF
    rig.assert_all_off()
    # The one deliberate operation under load: it stops the overcharge of cell 1.
    assert rig.under_load_commands == 1
    assert [f.reason for f in rig.hw.faults] == [FAULT_SWITCHED_UNDER_LOAD]
    assert rig.hw.output_current == 0.0
    rig.observe_wear()
    assert (rig.wear.relays[0].load, rig.wear.relays[0].dry) == (1, 1)
    assert rig.wear.remaining(1) == pytest.approx(1 - 1e-5 - 1e-6)
    assert rig.command_wear.remaining(1) == rig.wear.remaining(1)
    assert rig.cells.charge[1] == 0.0


def test_stuck_dcdc_can_leave_the_relay_closed() -> None:
    rig = Rig([3.30, 3.20, 3.35, 3.25], config=SequencerConfig(open_relay_on_stuck_dcdc=False))
    rig.seq.start([ChargeStep(1, 5.0)])
    rig.run_until(lambda t: t.state is S.CHARGING, 10.0)
    rig.hw.dcdc_stuck_on()
    rig.seq.stop()
    tick = rig.faulted()
    assert tick.fault is FaultReason.DCDC_DID_NOT_TURN_OFF
    assert rig.seq.commanded == CommandSet(dcdc=False, relay=1)
    assert not rig.hw.dcdc_on
    assert rig.hw.faults == []


def test_restart_mid_charge_from_persisted_state() -> None:
    rig = Rig([3.30, 3.20, 3.35, 3.25])
    rig.seq.start([ChargeStep(2, 20.0), ChargeStep(3, 10.0)])
    rig.run_until(lambda t: t.state is S.CHARGING, 10.0)
    rig.run_until(lambda t: rig.now >= 10.0, 20.0)
    rig.seq = Sequencer.from_dict(rig.seq.to_dict())  # network loss: the device kept going
    rig.idle()
    assert rig.hw.faults == []
    # Charge still lands in the planned cells; the device charged through the gap too.
    assert rig.cells.charge[1] == pytest.approx(40.0, abs=1.0)
    assert rig.cells.charge[2] == pytest.approx(20.0, abs=0.5)
    assert rig.hw.cycles(2) == 4  # opened and closed once more to re-verify


def test_restart_after_device_power_loss() -> None:
    rig = Rig([3.30, 3.20, 3.35, 3.25])
    rig.seq.start([ChargeStep(4, 20.0)])
    rig.run_until(lambda t: t.state is S.CHARGING, 10.0)
    data = rig.seq.to_dict()
    # The device powers up with everything open and off, fresh counters.
    delivered = rig.cells.charge[3]
    rig.hw = BalancerHardware(rig.cells, BalancerConfig.lifepo4(4))
    rig.seq = Sequencer.from_dict(data, reported=CommandSet())
    rig.idle()
    assert rig.hw.faults == []
    assert rig.cells.charge[3] - delivered == pytest.approx(40.0, abs=0.5)
