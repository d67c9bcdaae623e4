"""The safe sequence, step by step, on hand-made readings (docs/balancer-mqtt.md)."""

from __future__ import annotations

import json
import random

import pytest

from custom_components.victron_balance.logic.balancer.sequencer import (
    ChargeStep,
    Command,
    CommandSet,
    FaultReason,
    Reading,
    Sequencer,
    SequencerConfig,
    SequencerState,
    Tick,
    steps_from_minutes,
)

CELLS = [3.30, 3.20, 3.35, 3.25]
IR = 0.1  # 2 A x 0.05 ohm
S = SequencerState


class Bench:
    """A sequencer and a clock; each `tick` is 0.1 s after the previous one."""

    def __init__(self, config: SequencerConfig | None = None, relays: int = 4) -> None:
        self.seq = Sequencer(relays, config)
        self.now = 0.0

    def tick(
        self,
        volts: float | None,
        amps: float | None = 0.0,
        cells: list[float | None] | None = None,
        dt: float = 0.1,
    ) -> Tick:
        self.now = round(self.now + dt, 6)
        cell_list: list[float | None] = list(CELLS) if cells is None else cells
        return self.seq.tick(self.now, Reading(volts, amps, cell_list))

    def to_charging(self, relay: int) -> None:
        """From all-off through the pre-check and steps 3 and 4."""
        cell = CELLS[relay - 1]
        assert self.tick(0.0).state is S.RELAY_OFF  # the open check, nothing sent
        tick = self.tick(0.0)
        assert (tick.state, tick.commands) == (S.RELAY_ON, (Command(relay, on=True),))
        tick = self.tick(cell)
        assert (tick.state, tick.commands) == (S.DCDC_ON, (Command(None, on=True),))
        tick = self.tick(cell + IR, 2.0)
        assert (tick.state, tick.commands) == (S.CHARGING, ())
        assert tick.commanded == CommandSet(dcdc=True, relay=relay)


def test_idle_without_a_plan_sends_nothing() -> None:
    bench = Bench()
    for _ in range(5):
        tick = bench.tick(0.0)
        assert tick.wait
        assert tick.state is S.IDLE


def test_one_cell_full_cycle() -> None:
    bench = Bench()
    bench.seq.start([ChargeStep(2, 10.0)])
    bench.to_charging(2)
    remaining = []
    tick = bench.tick(3.3, 2.0)
    while tick.state is S.CHARGING:
        assert tick.wait
        remaining.append(tick.remaining_s)
        tick = bench.tick(3.3, 2.0)
    assert remaining[0] == pytest.approx(9.9)
    assert len(remaining) == 99  # 10 s at 0.1 s per tick
    # Step 1: DC/DC off, then wait for the bare cell voltage.
    assert (tick.state, tick.commands) == (S.DCDC_OFF, (Command(None, on=False),))
    assert bench.tick(3.3, 2.0).wait  # still I x R: not yet
    tick = bench.tick(3.2, 0.0)
    # Step 2: relay off (dry), then wait for the decay.
    assert (tick.state, tick.commands) == (S.RELAY_OFF, (Command(2, on=False),))
    assert bench.tick(1.0).wait
    tick = bench.tick(0.3)
    assert (tick.state, tick.commands, tick.commanded) == (S.IDLE, (), CommandSet())


def test_moves_between_cells_through_every_step() -> None:
    bench = Bench()
    bench.seq.start([ChargeStep(1, 0.3), ChargeStep(3, 0.3)])
    bench.to_charging(1)
    while (tick := bench.tick(3.4, 2.0)).state is S.CHARGING:
        pass
    assert tick.state is S.DCDC_OFF
    assert bench.tick(3.3).commands == (Command(1, on=False),)
    tick = bench.tick(0.1)
    assert (tick.state, tick.commands) == (S.RELAY_ON, (Command(3, on=True),))
    assert bench.tick(3.35).commands == (Command(None, on=True),)
    assert bench.tick(3.45, 2.0).state is S.CHARGING
    assert bench.seq.queue == (ChargeStep(3, 0.3),)


def test_same_cell_twice_keeps_charging() -> None:
    bench = Bench()
    bench.seq.start([ChargeStep(1, 0.5), ChargeStep(1, 0.5)])
    bench.to_charging(1)
    states = [bench.tick(3.4, 2.0).state for _ in range(9)]
    assert set(states) == {S.CHARGING}
    assert bench.tick(3.4, 2.0).state is S.DCDC_OFF


def test_a_reading_from_before_the_command_does_not_verify() -> None:
    bench = Bench()
    bench.seq.start([ChargeStep(1, 5.0)])
    bench.tick(0.0)
    bench.tick(0.0)  # relay 1 on sent at this time
    # Same timestamp, a reading that would fit: it predates the command.
    tick = bench.tick(3.3, dt=0.0)
    assert tick.state is S.RELAY_ON
    assert bench.tick(3.3).state is S.DCDC_ON


def test_without_current_measurement_voltage_alone_verifies() -> None:
    bench = Bench()
    bench.seq.start([ChargeStep(1, 5.0)])
    bench.tick(0.0, None)
    bench.tick(0.0, None)
    bench.tick(3.3, None)
    assert bench.tick(3.4, None).state is S.CHARGING


def test_step_4_needs_the_current_when_it_is_measured() -> None:
    bench = Bench()
    bench.seq.start([ChargeStep(1, 5.0)])
    bench.tick(0.0)
    bench.tick(0.0)
    bench.tick(3.3)
    assert bench.tick(3.4, 0.0).state is S.DCDC_ON  # voltage rose, but no current


# --- faults -----------------------------------------------------------------------


def run_until_fault(bench: Bench, volts: float | None, amps: float | None = 0.0) -> Tick:
    for _ in range(100):
        tick = bench.tick(volts, amps)
        if tick.state is S.FAULT:
            return tick
    raise AssertionError("no fault")


def test_dcdc_did_not_turn_off_opens_the_relay_under_load_by_default() -> None:
    bench = Bench()
    bench.seq.start([ChargeStep(1, 60.0)])
    bench.to_charging(1)
    bench.seq.stop()
    assert bench.tick(3.4, 2.0).commands == (Command(None, on=False),)
    start = bench.now
    tick = run_until_fault(bench, 3.4, 2.0)
    assert bench.now - start == pytest.approx(2.0)
    assert tick.fault is FaultReason.DCDC_DID_NOT_TURN_OFF
    assert tick.commands == (Command(1, on=False, under_load=True),)
    assert tick.commanded == CommandSet()
    assert bench.tick(4.2).wait


def test_dcdc_did_not_turn_off_can_leave_the_relay_closed() -> None:
    bench = Bench(SequencerConfig(open_relay_on_stuck_dcdc=False))
    bench.seq.start([ChargeStep(1, 60.0)])
    bench.to_charging(1)
    bench.seq.stop()
    bench.tick(3.4, 2.0)
    tick = run_until_fault(bench, 3.4, 2.0)
    assert tick.fault is FaultReason.DCDC_DID_NOT_TURN_OFF
    assert tick.wait
    assert tick.commanded == CommandSet(dcdc=False, relay=1)
    assert "left closed" in tick.fault_detail
    # Once the DC/DC finally stops, the relay opens dry.
    assert bench.tick(3.3, 0.0).commands == (Command(1, on=False),)


def test_dcdc_off_step_with_an_open_output_is_unexpected_and_opens_dry() -> None:
    bench = Bench()
    bench.seq.start([ChargeStep(1, 60.0)])
    bench.to_charging(1)
    bench.seq.stop()
    bench.tick(3.4, 2.0)
    tick = run_until_fault(bench, 0.0, 0.0)
    assert tick.fault is FaultReason.UNEXPECTED_VOLTAGE
    assert tick.commands == (Command(1, on=False),)


def test_relay_did_not_open() -> None:
    bench = Bench()
    bench.seq.start([ChargeStep(1, 60.0)])
    bench.to_charging(1)
    bench.seq.stop()
    bench.tick(3.4, 2.0)
    assert bench.tick(3.3).commands == (Command(1, on=False),)
    tick = run_until_fault(bench, 3.3)
    assert tick.fault is FaultReason.RELAY_DID_NOT_OPEN
    assert tick.wait
    assert tick.commanded == CommandSet()


def test_output_not_open_before_the_first_relay() -> None:
    bench = Bench()
    bench.seq.start([ChargeStep(1, 60.0)])
    tick = run_until_fault(bench, 3.25)  # a welded relay 4 shows cell 4's voltage
    assert tick.fault is FaultReason.UNEXPECTED_VOLTAGE
    assert tick.commanded == CommandSet()
    assert tick.wait


def test_relay_did_not_close() -> None:
    bench = Bench()
    bench.seq.start([ChargeStep(2, 60.0)])
    bench.tick(0.0)
    bench.tick(0.0)
    tick = run_until_fault(bench, 0.0)
    assert tick.fault is FaultReason.RELAY_DID_NOT_CLOSE
    assert tick.commands == (Command(2, on=False),)
    assert tick.commanded == CommandSet()


def test_wrong_cell_on_the_output_is_unexpected() -> None:
    bench = Bench()
    bench.seq.start([ChargeStep(2, 60.0)])
    bench.tick(0.0)
    bench.tick(0.0)
    tick = run_until_fault(bench, 3.35)  # cell 3's voltage: miswired or welded relay
    assert tick.fault is FaultReason.UNEXPECTED_VOLTAGE
    assert "cell at 3.200" in tick.fault_detail
    assert tick.commands == (Command(2, on=False),)


def test_no_bms_voltage_for_the_cell() -> None:
    bench = Bench()
    bench.seq.start([ChargeStep(2, 60.0)])
    bench.tick(0.0)
    bench.tick(0.0)
    for _ in range(100):
        tick = bench.tick(3.2, 0.0, cells=[3.3, None, 3.35, 3.25])
        if tick.state is S.FAULT:
            break
    assert tick.fault is FaultReason.NO_MEASUREMENT
    assert tick.commands == (Command(2, on=False),)


def test_dcdc_did_not_turn_on_shuts_down_dcdc_first() -> None:
    bench = Bench()
    bench.seq.start([ChargeStep(1, 60.0)])
    bench.tick(0.0)
    bench.tick(0.0)
    bench.tick(3.3)
    tick = run_until_fault(bench, 3.3, 0.0)
    assert tick.fault is FaultReason.DCDC_DID_NOT_TURN_ON
    assert tick.commands == (Command(None, on=False),)  # not the relay yet
    assert tick.commanded == CommandSet(dcdc=False, relay=1)
    assert bench.tick(3.3, 0.0).commands == (Command(1, on=False),)


def test_dcdc_on_into_an_open_relay_is_unexpected() -> None:
    bench = Bench()
    bench.seq.start([ChargeStep(1, 60.0)])
    bench.tick(0.0)
    bench.tick(0.0)
    bench.tick(3.3)
    tick = run_until_fault(bench, 4.2, 0.0)  # open-circuit voltage: the relay opened
    assert tick.fault is FaultReason.UNEXPECTED_VOLTAGE
    assert tick.commands == (Command(None, on=False),)


def test_stale_output_is_no_measurement() -> None:
    bench = Bench()
    bench.seq.start([ChargeStep(1, 60.0)])
    tick = run_until_fault(bench, None)
    assert tick.fault is FaultReason.NO_MEASUREMENT


def test_charging_tolerates_a_glitch_but_not_a_lasting_deviation() -> None:
    bench = Bench()
    bench.seq.start([ChargeStep(1, 600.0)])
    bench.to_charging(1)
    for _ in range(10):  # 1 s of a bad reading, under the 2 s timeout
        assert bench.tick(3.3, 0.0).state is S.CHARGING
    assert bench.tick(3.4, 2.0).state is S.CHARGING
    tick = run_until_fault(bench, 3.3, 0.0)  # the DC/DC stopped delivering
    assert tick.fault is FaultReason.UNEXPECTED_VOLTAGE
    assert tick.commands == (Command(None, on=False),)
    assert bench.seq.queue == ()


def test_charging_without_output_reading_faults() -> None:
    bench = Bench()
    bench.seq.start([ChargeStep(1, 600.0)])
    bench.to_charging(1)
    tick = run_until_fault(bench, None)
    assert tick.fault is FaultReason.NO_MEASUREMENT


def test_per_step_timeout_override() -> None:
    bench = Bench(SequencerConfig(step_timeouts={S.RELAY_ON: 0.5}))
    bench.seq.start([ChargeStep(2, 60.0)])
    bench.tick(0.0)
    bench.tick(0.0)
    start = bench.now
    run_until_fault(bench, 0.0)
    assert bench.now - start == pytest.approx(0.5)


def test_fault_is_latched_until_reset() -> None:
    bench = Bench()
    bench.seq.start([ChargeStep(2, 60.0)])
    bench.tick(0.0)
    bench.tick(0.0)
    run_until_fault(bench, 0.0)
    with pytest.raises(RuntimeError):
        bench.seq.start([ChargeStep(1, 60.0)])
    assert bench.tick(0.0).state is S.FAULT
    bench.seq.reset()
    bench.seq.reset()  # harmless when not in fault
    assert bench.tick(0.0).state is S.IDLE
    bench.seq.start([ChargeStep(1, 60.0)])
    bench.to_charging(1)


def test_reset_with_a_relay_held_restarts_from_step_1() -> None:
    bench = Bench(SequencerConfig(open_relay_on_stuck_dcdc=False))
    bench.seq.start([ChargeStep(1, 60.0)])
    bench.to_charging(1)
    bench.seq.stop()
    bench.tick(3.4, 2.0)
    run_until_fault(bench, 3.4, 2.0)
    bench.seq.reset()
    tick = bench.tick(3.4, 2.0)
    assert (tick.state, tick.commands) == (S.DCDC_OFF, (Command(None, on=False),))
    assert bench.tick(3.3).commands == (Command(1, on=False),)
    assert bench.tick(0.0).state is S.IDLE


# --- stop, new plans --------------------------------------------------------------


@pytest.mark.parametrize("ticks_in", [0, 1, 2, 3, 4])
def test_stop_anywhere_ends_all_off(ticks_in: int) -> None:
    """Stop before/at the check, in step 3, in step 4 or while charging."""
    bench = Bench()
    bench.seq.start([ChargeStep(1, 60.0)])
    script = [(0.0, 0.0), (0.0, 0.0), (3.3, 0.0), (3.4, 2.0)]
    for volts, amps in script[:ticks_in]:
        bench.tick(volts, amps)
    bench.seq.stop()
    # A plant that follows the commands exactly.
    dcdc, relay = bench.seq.commanded.dcdc, bench.seq.commanded.relay
    for _ in range(20):
        volts = 0.0 if relay is None else CELLS[relay - 1] + (IR if dcdc else 0.0)
        tick = bench.tick(volts, 2.0 if dcdc and relay else 0.0)
        dcdc, relay = tick.commanded.dcdc, tick.commanded.relay
    assert tick.state is S.IDLE
    assert tick.commanded == CommandSet()


def test_new_plan_while_charging_moves_on() -> None:
    bench = Bench()
    bench.seq.start([ChargeStep(1, 60.0)])
    bench.to_charging(1)
    bench.seq.start([ChargeStep(1, 30.0)])  # same cell: keeps going, time counted
    assert bench.tick(3.4, 2.0).state is S.CHARGING
    bench.seq.start([ChargeStep(4, 30.0)])
    assert bench.tick(3.4, 2.0).commands == (Command(None, on=False),)


def test_start_rejects_unknown_relays() -> None:
    with pytest.raises(ValueError, match="out of range"):
        Sequencer(4).start([ChargeStep(5, 1.0)])


def test_never_unsafe_on_random_readings() -> None:
    """Whatever the plant shows: no relay command with the DC/DC on, never two relays."""
    rng = random.Random(7)
    for _ in range(30):
        bench = Bench()
        bench.seq.start([ChargeStep(rng.randint(1, 4), rng.uniform(0.1, 1.0)) for _ in range(4)])
        dcdc, relay = False, None
        for _ in range(300):
            volts = rng.choice([None, 0.0, 0.2, 3.2, 3.25, 3.3, 3.35, 3.4, 3.45, 4.2])
            amps = rng.choice([None, 0.0, 2.0])
            tick = bench.tick(volts, amps)
            for command in tick.commands:
                if command.relay is None:
                    dcdc = command.on
                else:
                    assert not dcdc or command.under_load
                    assert not command.on or relay is None
                    relay = command.relay if command.on else None
            assert tick.commanded == CommandSet(dcdc, relay)
            if tick.state is S.FAULT and rng.random() < 0.05:
                bench.seq.reset()
            if rng.random() < 0.01:
                bench.seq.stop()


# --- persistence ------------------------------------------------------------------


def test_round_trip_is_json_and_restarts_from_step_1() -> None:
    bench = Bench()
    bench.seq.start([ChargeStep(3, 10.0), ChargeStep(4, 5.0)])
    bench.to_charging(3)
    for _ in range(30):
        bench.tick(3.45, 2.0)
    data = json.loads(json.dumps(bench.seq.to_dict()))
    assert data["state"] == "charging"
    assert data["charged_s"] == pytest.approx(3.0)
    seq = Sequencer.from_dict(data)
    assert seq.queue == (ChargeStep(3, 10.0), ChargeStep(4, 5.0))
    bench.seq = seq
    tick = bench.tick(3.45, 2.0)  # the device kept running while we restarted
    assert (tick.state, tick.commands) == (S.DCDC_OFF, (Command(None, on=False),))
    assert bench.tick(3.35).commands == (Command(3, on=False),)
    assert bench.tick(0.0).commands == (Command(3, on=True),)
    assert bench.tick(3.35).commands == (Command(None, on=True),)
    tick = bench.tick(3.45, 2.0)
    assert tick.state is S.CHARGING
    assert tick.remaining_s == pytest.approx(7.0)


def test_restore_after_power_loss_uses_the_reported_state() -> None:
    bench = Bench()
    bench.seq.start([ChargeStep(3, 10.0)])
    bench.to_charging(3)
    bench.seq = Sequencer.from_dict(bench.seq.to_dict(), reported=CommandSet())
    assert bench.tick(0.0).state is S.RELAY_OFF  # the open check, nothing sent
    assert bench.tick(0.0).commands == (Command(3, on=True),)


def test_restore_with_relay_commanded_but_dcdc_off_still_does_step_1() -> None:
    seq = Sequencer.from_dict(
        {"relays": 4, "commanded": {"dcdc": False, "relay": 2}, "queue": [], "fault": None}
    )
    tick = seq.tick(1.0, Reading(3.2, 0.0, CELLS))
    assert (tick.state, tick.commands) == (S.DCDC_OFF, (Command(None, on=False),))
    assert seq.tick(1.1, Reading(3.2, 0.0, CELLS)).commands == (Command(2, on=False),)
    assert seq.tick(1.2, Reading(0.0, 0.0, CELLS)).state is S.IDLE


def test_restore_with_only_dcdc_commanded() -> None:
    seq = Sequencer.from_dict(
        {"relays": 4, "commanded": {"dcdc": True, "relay": None}, "queue": [[1, 5.0]]}
    )
    assert seq.tick(1.0, Reading(4.2, 0.0, CELLS)).commands == (Command(None, on=False),)
    assert seq.tick(1.1, Reading(0.1, 0.0, CELLS)).commands == (Command(1, on=True),)


def test_restore_in_fault_finishes_the_shutdown() -> None:
    data = {
        "relays": 4,
        "state": "fault",
        "commanded": {"dcdc": False, "relay": 2},
        "queue": [],
        "fault": "dcdc_did_not_turn_on",
        "fault_detail": "x",
    }
    seq = Sequencer.from_dict(data)
    assert seq.state is S.FAULT
    assert seq.fault is FaultReason.DCDC_DID_NOT_TURN_ON
    # Nothing proven after a restart: DC/DC off again, then the relay once it is dry.
    assert seq.tick(1.0, Reading(3.2, 0.0, CELLS)).commands == (Command(None, on=False),)
    assert seq.tick(1.1, Reading(3.2, 0.0, CELLS)).commands == (Command(2, on=False),)


def test_restore_rejects_bad_data() -> None:
    with pytest.raises(ValueError, match="out of range"):
        Sequencer.from_dict({"relays": 4, "commanded": {"relay": 9}, "queue": []})
    with pytest.raises(ValueError, match="integer"):
        Sequencer.from_dict({"relays": 4, "commanded": {"relay": "2"}, "queue": []})
    with pytest.raises(ValueError, match="nope"):
        Sequencer.from_dict({"relays": 4, "commanded": {}, "queue": [], "fault": "nope"})


# --- small parts ------------------------------------------------------------------


def test_command_topics_and_payloads() -> None:
    assert (Command(None, on=True).topic, Command(None, on=True).payload) == ("dcdc/set", "on")
    assert (Command(3, on=False).topic, Command(3, on=False).payload) == ("relay/3/set", "off")


def test_steps_from_minutes_skips_short_and_bad_values() -> None:
    assert steps_from_minutes([0.0, 10.0, 0.2, float("nan"), 1.0]) == [
        ChargeStep(2, 600.0),
        ChargeStep(5, 60.0),
    ]


def test_reading_ignores_nan_and_missing_cells() -> None:
    reading = Reading(float("nan"), float("inf"), [3.3, float("nan")])
    assert reading.voltage() is None
    assert reading.current() is None
    assert reading.cell(1) == 3.3
    assert reading.cell(2) is None
    assert reading.cell(3) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"step_timeout_s": 0.0}, "step_timeout_s"),
        ({"open_voltage_v": float("nan")}, "open_voltage_v"),
        ({"min_rise_v": 0.6, "max_rise_v": 0.5}, "min_rise_v"),
        ({"step_timeouts": {S.DCDC_ON: -1.0}}, "step_timeouts"),
    ],
)
def test_config_validation(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SequencerConfig(**kwargs)  # type: ignore[arg-type]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="relays"):
        Sequencer(0)
    with pytest.raises(ValueError, match="relay"):
        ChargeStep(0, 1.0)
    with pytest.raises(ValueError, match="seconds"):
        ChargeStep(1, 0.0)
    with pytest.raises(ValueError, match="now_s"):
        Sequencer(4).tick(float("nan"), Reading(0.0))


def test_missing_bms_voltage() -> None:
    """Step 1 trusts a measured zero current; charging rides out a missing value."""
    bench = Bench()
    bench.seq.start([ChargeStep(1, 5.0)])
    bench.to_charging(1)
    no_cell: list[float | None] = [None, 3.2, 3.35, 3.25]
    for _ in range(30):
        assert bench.tick(3.4, 2.0, cells=no_cell).state is S.CHARGING
    tick = bench.tick(3.4, 2.0, cells=no_cell)
    while tick.state is S.CHARGING:
        tick = bench.tick(3.4, 2.0, cells=no_cell)
    assert tick.state is S.DCDC_OFF
    assert bench.tick(3.3, 0.0, cells=no_cell).commands == (Command(1, on=False),)


def test_dcdc_on_without_bms_voltage_is_no_measurement() -> None:
    bench = Bench()
    bench.seq.start([ChargeStep(1, 60.0)])
    bench.tick(0.0)
    bench.tick(0.0)
    bench.tick(3.3)
    for _ in range(100):
        tick = bench.tick(3.4, 2.0, cells=[None, None, None, None])
        if tick.state is S.FAULT:
            break
    assert tick.fault is FaultReason.NO_MEASUREMENT


def test_restored_dcdc_that_stays_on_with_nothing_connected() -> None:
    seq = Sequencer.from_dict(
        {"relays": 4, "commanded": {"dcdc": True, "relay": None}, "queue": [[1, 5.0]]}
    )
    now = 0.0
    tick = seq.tick(now, Reading(4.2, 0.0, CELLS))
    while tick.state is not S.FAULT:
        now += 0.1
        tick = seq.tick(now, Reading(4.2, 0.0, CELLS))
    assert tick.fault is FaultReason.UNEXPECTED_VOLTAGE
    assert tick.commanded == CommandSet()


def test_the_command_guards_hold() -> None:
    """Unreachable through the public API (see the random test); the guards still bite."""
    seq = Sequencer(4)
    with pytest.raises(RuntimeError, match="no relay"):
        seq._dcdc_on()
    assert seq._relay_off() == ()
    seq._relay_on(1)
    with pytest.raises(RuntimeError, match="second relay"):
        seq._relay_on(2)
    seq._dcdc_on()
    with pytest.raises(RuntimeError, match="DC/DC is commanded on"):
        seq._relay_on(2)
    with pytest.raises(RuntimeError, match="DC/DC is commanded on"):
        seq._relay_off()


# --- issue 10 item 7: "current off" must be proven --------------------------------


def test_measured_current_missing_proves_nothing() -> None:
    """A device that measures current but sent none: step 1 waits, never guesses."""
    bench = Bench(SequencerConfig(current_measured=True))
    bench.seq.start([ChargeStep(1, 60.0)])
    bench.to_charging(1)
    bench.seq.stop()
    assert bench.tick(3.4, 2.0).commands == (Command(None, on=False),)
    tick = bench.tick(3.3, None)  # the bare cell, but the current is unknown
    assert (tick.state, tick.commands) == (S.DCDC_OFF, ())
    tick = bench.tick(3.3, 0.0)
    assert tick.commands == (Command(1, on=False),)


def test_without_current_measurement_the_ir_step_must_be_gone() -> None:
    """No current measured: "off" needs the output within half of I x R of the cell."""
    config = SequencerConfig(current_measured=False, rise_v=0.06)  # 2 A x 0.03 ohm
    bench = Bench(config)
    bench.seq.start([ChargeStep(1, 60.0)])
    bench.to_charging(1)
    bench.seq.stop()
    bench.tick(3.36, None)
    # 40 mV above the cell is within the 50 mV match tolerance, but not within 30 mV:
    # a stuck DC/DC would read 60 mV above, so 40 mV is not proof.
    assert bench.tick(3.34, None).wait
    assert bench.tick(3.32, None).commands == (Command(1, on=False),)


def test_stuck_dcdc_with_unknown_current_is_not_proven_off() -> None:
    """The 2 A x 0.05 ohm stuck DC/DC reads 100 mV above: a fault, relay opened last."""
    bench = Bench(SequencerConfig(current_measured=False, rise_v=IR))
    bench.seq.start([ChargeStep(1, 60.0)])
    bench.to_charging(1)
    bench.seq.stop()
    bench.tick(3.4, None)
    tick = run_until_fault(bench, 3.4, None)
    assert tick.fault is FaultReason.DCDC_DID_NOT_TURN_OFF
    assert tick.commands == (Command(1, on=False, under_load=True),)  # the emergency


def test_a_config_that_cannot_prove_off_is_refused() -> None:
    """Issue 10's probe: 2 A x 0.02 ohm = 40 mV <= 50 mV without a current measurement."""
    with pytest.raises(ValueError, match="must exceed the match tolerance"):
        SequencerConfig(current_measured=False, rise_v=0.04)
    assert SequencerConfig(current_measured=True, rise_v=0.04).off_tolerance_v == 0.02


# --- the per-charge cap -------------------------------------------------------------


def test_a_charge_longer_than_the_cap_pauses_without_a_relay_operation() -> None:
    bench = Bench(SequencerConfig(max_charge_s=1.0))
    bench.seq.start([ChargeStep(1, 1.5)])
    bench.tick(0.0)
    bench.tick(0.0)
    tick = bench.tick(3.3)
    assert tick.commands == (Command(None, on=True),)
    assert tick.commands[0].planned_s == 1.0  # what the gate checks against the cap
    states = [bench.tick(3.4, 2.0) for _ in range(10)]
    # 1 s after the DC/DC went on: a break (DC/DC off), with the relay kept closed.
    assert states[-1].state is S.DCDC_OFF
    assert states[-1].commands == (Command(None, on=False),)
    tick = bench.tick(3.3, 0.0)
    assert tick.commands == (Command(None, on=True),)  # step 4 again, same relay
    assert tick.commands[0].planned_s == pytest.approx(0.6)
    assert bench.tick(3.4, 2.0).state is S.CHARGING
    while (tick := bench.tick(3.4, 2.0)).state is S.CHARGING:
        pass
    assert tick.commands == (Command(None, on=False),)  # the plan's end


def test_a_measurement_from_before_the_step_proves_nothing() -> None:
    """Found by the safety benchmark: a late "open" reading let a relay close onto a
    DC/DC that had just stuck on. Only a measurement taken after the step counts."""
    bench = Bench()
    bench.seq.start([ChargeStep(1, 5.0)])
    tick = bench.tick(0.0)
    assert tick.state is S.RELAY_OFF  # the open check starts now
    started = bench.now
    late = Reading(0.0, 0.0, CELLS, measured_at=started - 0.5)
    bench.now += 0.1
    assert bench.seq.tick(bench.now, late).state is S.RELAY_OFF  # still waiting
    fresh = Reading(0.0, 0.0, CELLS, measured_at=started + 0.05)
    bench.now += 0.1
    assert bench.seq.tick(bench.now, fresh).commands == (Command(1, on=True),)
