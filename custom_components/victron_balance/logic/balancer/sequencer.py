"""The safe relay sequence of a Lee Hart balancer, as a pure state machine (seed 004).

Relays switch only with no current flowing (a relay lasts ~100k operations switching
load, ~1M switching a dry circuit), so moving the DC/DC charger from cell a to cell b is:

1. DC/DC off      -> wait until the output drops to V_cell(a) (no I x R, no current)
2. relay a off    -> wait until the output decays below ~0.5 V (contacts open)
3. relay b on     -> wait until the output reads V_cell(b) (closed, and the right cell)
4. DC/DC on       -> wait until the output rises above V_cell(b) (charging)

then CHARGING for the planned time, then the next cell. Every step is verified on the
measured output voltage (and current when known) with a per-step timeout; a failed
step is a latched FAULT that shuts everything down, DC/DC first. The wire contract is
docs/balancer-mqtt.md.

The sequencer is goal seeking: it knows what it has commanded and which relay it
wants to charge, and after every verified step picks the next step towards that goal.
`stop()`, a new plan and a restart from persisted state all go through the same steps.

Each step's "before" reading fails that step's own check (step 1 still shows I x R,
step 2 the cell, step 3 ~0 V, step 4 only the cell), so a late reading taken before
the command cannot verify a step by accident.

"Current off" (step 1) is proven by a measured zero current, or, on a device that
does not measure current, by the output losing its I x R step: that needs an I x R
clearly above the match tolerance, so such a config is refused (`SequencerConfig`),
and the voltage alone then has to come within half of I x R of the cell. A device
that does measure current but sent no value proves nothing.

One charge (the DC/DC on without a break) lasts at most `max_charge_s`: a longer
plan on the same cell pauses (DC/DC off, proven, and on again) so the device's own
per-charge cap never has to act.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class SequencerState(StrEnum):
    """Where the sequence is; the four middle states are the steps of the docstring."""

    IDLE = "idle"  # everything off, nothing to charge
    DCDC_OFF = "dcdc_off"  # step 1: DC/DC commanded off, waiting for the drop
    RELAY_OFF = "relay_off"  # step 2: relay commanded off (or a check), waiting for ~0 V
    RELAY_ON = "relay_on"  # step 3: relay commanded on, waiting for the cell voltage
    DCDC_ON = "dcdc_on"  # step 4: DC/DC commanded on, waiting for the rise
    CHARGING = "charging"  # the planned time on one cell
    FAULT = "fault"  # latched until reset(); shuts everything down


class FaultReason(StrEnum):
    """Why the sequence stopped."""

    DCDC_DID_NOT_TURN_OFF = "dcdc_did_not_turn_off"
    RELAY_DID_NOT_OPEN = "relay_did_not_open"
    RELAY_DID_NOT_CLOSE = "relay_did_not_close"
    DCDC_DID_NOT_TURN_ON = "dcdc_did_not_turn_on"
    UNEXPECTED_VOLTAGE = "unexpected_voltage"
    NO_MEASUREMENT = "no_measurement"  # no output or BMS cell voltage to verify with


_TIME_EPSILON_S = 1e-6  # summed tick intervals are inexact; 1 us early is on time

_WAIT_STEPS = frozenset(
    {
        SequencerState.DCDC_OFF,
        SequencerState.RELAY_OFF,
        SequencerState.RELAY_ON,
        SequencerState.DCDC_ON,
    }
)


@dataclass(frozen=True, slots=True)
class SequencerConfig:
    """Thresholds and timeouts; the defaults suit a per-cell LiFePO4 balancer."""

    step_timeout_s: float = 2.0  # give up on a step after this (info.settle_time or more)
    step_timeouts: Mapping[SequencerState, float] = field(default_factory=dict)  # overrides
    open_voltage_v: float = 0.5  # below this the output is "open" (capacitor discharged)
    match_tolerance_v: float = 0.05  # output vs BMS cell voltage with no current flowing
    min_rise_v: float = 0.03  # the I x R step that proves the DC/DC delivers
    max_rise_v: float = 0.5  # more than this above the cell: no cell is on the output
    zero_current_a: float = 0.05  # at or below: no current flows
    min_charge_current_a: float = 0.05  # at or above: the DC/DC charges
    # A DC/DC that ignores "off" keeps charging the connected cell: opening that relay
    # under load costs one load cycle (1e-5 of its life) but stops the overcharge.
    open_relay_on_stuck_dcdc: bool = True
    current_measured: bool = False  # the device measures its output current
    rise_v: float = 0.1  # the I x R step with the DC/DC on (setpoint x output resistance)
    max_charge_s: float | None = None  # longest charge without a break (the device's cap)

    def __post_init__(self) -> None:
        numbers = {
            "step_timeout_s": self.step_timeout_s,
            "open_voltage_v": self.open_voltage_v,
            "match_tolerance_v": self.match_tolerance_v,
            "min_rise_v": self.min_rise_v,
            "max_rise_v": self.max_rise_v,
            "zero_current_a": self.zero_current_a,
            "min_charge_current_a": self.min_charge_current_a,
            "rise_v": self.rise_v,
            **({} if self.max_charge_s is None else {"max_charge_s": self.max_charge_s}),
            **{f"step_timeouts[{k}]": v for k, v in self.step_timeouts.items()},
        }
        for name, value in numbers.items():
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number")
        if self.min_rise_v >= self.max_rise_v:
            raise ValueError("min_rise_v must be below max_rise_v")
        if not self.current_measured and self.rise_v <= self.match_tolerance_v:
            # A stuck DC/DC would read within the tolerance of the cell: "off" unprovable.
            raise ValueError(
                f"without a current measurement the I x R step ({self.rise_v:.3f} V) must "
                f"exceed the match tolerance ({self.match_tolerance_v:.3f} V)"
            )

    @property
    def off_tolerance_v(self) -> float:
        """How close to the cell the output must read to prove "off" by voltage alone."""
        return min(self.match_tolerance_v, self.rise_v / 2)

    def timeout(self, state: SequencerState) -> float:
        """The timeout of one step (CHARGING: how long a bad reading is tolerated)."""
        return self.step_timeouts.get(state, self.step_timeout_s)


@dataclass(frozen=True, slots=True)
class Command:
    """One command to send; `relay` None is the DC/DC enable."""

    relay: int | None
    on: bool
    # True only when the sequencer knowingly opens a relay with current flowing (a
    # stuck DC/DC): wear tracking counts it as a load cycle.
    under_load: bool = False
    # DC/DC on: the longest this charge will run before the DC/DC goes off again.
    planned_s: float | None = field(default=None, compare=False)

    @property
    def topic(self) -> str:
        """Topic suffix under `balancer/<id>/` (docs/balancer-mqtt.md)."""
        return "dcdc/set" if self.relay is None else f"relay/{self.relay}/set"

    @property
    def payload(self) -> str:
        """`on` or `off`."""
        return "on" if self.on else "off"


@dataclass(frozen=True, slots=True)
class CommandSet:
    """What is commanded: the DC/DC enable and at most one relay."""

    dcdc: bool = False
    relay: int | None = None

    @property
    def all_off(self) -> bool:
        """Nothing is commanded on."""
        return not self.dcdc and self.relay is None

    def to_dict(self) -> dict[str, Any]:
        """Plain values for persistence."""
        return {"dcdc": self.dcdc, "relay": self.relay}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CommandSet:
        """Inverse of `to_dict`."""
        relay = data.get("relay")
        if relay is not None and (isinstance(relay, bool) or not isinstance(relay, int)):
            raise ValueError(f"relay must be an integer or None, got {relay!r}")
        return cls(dcdc=bool(data.get("dcdc", False)), relay=relay)


@dataclass(frozen=True, slots=True)
class ChargeStep:
    """Charge through `relay` (1-based, = BMS cell number) for `seconds`."""

    relay: int
    seconds: float

    def __post_init__(self) -> None:
        if isinstance(self.relay, bool) or not isinstance(self.relay, int) or self.relay < 1:
            raise ValueError(f"relay must be an integer >= 1, got {self.relay!r}")
        if not (math.isfinite(self.seconds) and self.seconds > 0):
            raise ValueError("seconds must be a positive number")


def steps_from_minutes(minutes: Sequence[float], min_minutes: float = 0.5) -> list[ChargeStep]:
    """A Lee Hart `ChargePlan.minutes` (cell order) as steps; skips the short ones.

    Skipping charges under `min_minutes` saves relay cycles that would buy nothing.
    """
    return [
        ChargeStep(index + 1, value * 60.0)
        for index, value in enumerate(minutes)
        if math.isfinite(value) and value >= min_minutes and value > 0
    ]


def _finite_or_none(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


@dataclass(frozen=True, slots=True)
class Reading:
    """One tick's measurements; None (or NaN) means unknown / stale."""

    output_voltage: float | None
    output_current: float | None = None
    cell_voltages: Sequence[float | None] = ()  # BMS Cell1..CellN: relay n = index n-1
    # When the device measured the output (None: at the tick). A measurement taken
    # before a step's command proves nothing about that step, however it reads.
    measured_at: float | None = None

    def taken(self, now_s: float) -> float:
        """When the output was measured."""
        return now_s if self.measured_at is None else self.measured_at

    def voltage(self) -> float | None:
        """The measured output voltage, if usable."""
        return _finite_or_none(self.output_voltage)

    def current(self) -> float | None:
        """The measured output current, if usable."""
        return _finite_or_none(self.output_current)

    def cell(self, relay: int) -> float | None:
        """The BMS voltage of the cell behind `relay`, if known."""
        if 1 <= relay <= len(self.cell_voltages):
            return _finite_or_none(self.cell_voltages[relay - 1])
        return None


@dataclass(frozen=True, slots=True)
class Tick:
    """The sequencer's answer to one tick: commands to send now (empty = wait)."""

    commands: tuple[Command, ...]
    state: SequencerState
    commanded: CommandSet
    fault: FaultReason | None = None
    fault_detail: str = ""
    remaining_s: float | None = None  # CHARGING: time left on this cell

    @property
    def wait(self) -> bool:
        """Nothing to send this tick."""
        return not self.commands


class Sequencer:
    """Moves one DC/DC charger between cells, verifying every step by measurement."""

    def __init__(self, relays: int, config: SequencerConfig | None = None) -> None:
        if isinstance(relays, bool) or not isinstance(relays, int) or relays < 1:
            raise ValueError(f"relays must be an integer >= 1, got {relays!r}")
        self.relays = relays
        self.config = config or SequencerConfig()
        self._state = SequencerState.IDLE
        self._commanded = CommandSet()
        self._queue: list[ChargeStep] = []
        self._charged_s = 0.0  # time charged on the head of the queue
        self._fault: FaultReason | None = None
        self._fault_detail = ""
        self._step_relay: int | None = None  # the relay the current step is about
        self._step_started = 0.0
        self._last_now: float | None = None
        self._bad_since: float | None = None  # CHARGING: first out-of-range reading
        # Proven by measurement (not just commanded): the DC/DC is off / the output open.
        self._dcdc_off_verified = True
        self._dcdc_off_at: float | None = None  # when the DC/DC was last commanded off
        self._dcdc_on_at: float | None = None  # when the running charge began
        self._open_verified = False
        self._needs_reset = False  # restart from step 1 before charging anything

    # --- inspection ---------------------------------------------------------------

    @property
    def state(self) -> SequencerState:
        """The current state."""
        return self._state

    @property
    def commanded(self) -> CommandSet:
        """What this sequencer has commanded so far."""
        return self._commanded

    @property
    def fault(self) -> FaultReason | None:
        """The latched fault, if any."""
        return self._fault

    @property
    def fault_detail(self) -> str:
        """A human-readable explanation of the fault."""
        return self._fault_detail

    @property
    def queue(self) -> tuple[ChargeStep, ...]:
        """The remaining plan; the head is the cell being (or about to be) charged."""
        return tuple(self._queue)

    @property
    def target(self) -> int | None:
        """The relay the sequencer wants to charge through next."""
        return self._queue[0].relay if self._queue else None

    # --- control ------------------------------------------------------------------

    def start(self, steps: Sequence[ChargeStep]) -> None:
        """Replace the plan; the sequence moves there safely from wherever it is."""
        if self._state is SequencerState.FAULT:
            raise RuntimeError("the balancer is in fault: reset() first")
        for step in steps:
            if step.relay > self.relays:
                raise ValueError(f"relay {step.relay} out of range 1..{self.relays}")
        keep = bool(self._queue and steps and self._queue[0].relay == steps[0].relay)
        self._queue = list(steps)
        if not keep:
            self._charged_s = 0.0

    def stop(self) -> None:
        """Drop the plan: back to all-off through the same safe steps.

        A step under way finishes (verified) first; then the goal is "nothing on".
        """
        self._queue = []
        self._charged_s = 0.0

    def reset(self) -> None:
        """Acknowledge a fault; anything still commanded is shut down from step 1."""
        if self._state is not SequencerState.FAULT:
            return
        self._fault = None
        self._fault_detail = ""
        self._state = SequencerState.IDLE
        self._needs_reset = not self._commanded.all_off
        self._open_verified = False

    # --- the tick -----------------------------------------------------------------

    def tick(self, now_s: float, reading: Reading) -> Tick:
        """Advance with this tick's measurements; returns the commands to send now."""
        if not math.isfinite(now_s):
            raise ValueError("now_s must be a number")
        elapsed = 0.0 if self._last_now is None else max(now_s - self._last_now, 0.0)
        self._last_now = now_s
        state = self._state
        if state is SequencerState.FAULT:
            return self._shutdown(now_s, reading)
        if state in _WAIT_STEPS:
            # The reading of the tick that sent the command predates it: check later.
            if reading.taken(now_s) > self._step_started and self._verified(reading):
                self._mark_verified()
                return self._enter_next(now_s)
            if self._expired(now_s, self._step_started, state):
                reason, detail = self._classify(reading)
                return self._fail(now_s, reading, reason, detail)
            return self._out(())
        if state is SequencerState.CHARGING:
            return self._charging(now_s, elapsed, reading)
        # IDLE: anything to do (a plan, or leftovers from a restore)?
        if self.target is not None or self._needs_reset or not self._commanded.all_off:
            return self._enter_next(now_s)
        return self._out(())

    def _charge_too_long(self, now_s: float) -> bool:
        cap = self.config.max_charge_s
        started = self._dcdc_on_at
        return cap is not None and (started is None or now_s - started >= cap - _TIME_EPSILON_S)

    def _planned_charge_s(self) -> float:
        """How long the charge about to start runs: its cell's steps, at most the cap."""
        planned = -self._charged_s
        for step in self._queue:
            if step.relay != self._queue[0].relay:
                break
            planned += step.seconds
        cap = self.config.max_charge_s
        return planned if cap is None else min(planned, cap)

    def _expired(self, now_s: float, since: float, state: SequencerState) -> bool:
        return now_s - since >= self.config.timeout(state) - _TIME_EPSILON_S

    def _charging(self, now_s: float, elapsed: float, reading: Reading) -> Tick:
        self._charged_s += elapsed
        relay = self._commanded.relay
        if relay is None:  # pragma: no cover - CHARGING always has a relay
            raise RuntimeError("charging without a relay")
        if self._charging_ok(relay, reading):
            self._bad_since = None
        elif self._bad_since is None:
            self._bad_since = now_s
        elif self._expired(now_s, self._bad_since, SequencerState.CHARGING):
            voltage = reading.voltage()
            if voltage is None:
                return self._fail(now_s, reading, FaultReason.NO_MEASUREMENT, "no output reading")
            return self._fail(
                now_s,
                reading,
                FaultReason.UNEXPECTED_VOLTAGE,
                f"output {voltage:.3f} V while charging cell {relay}",
            )
        while self._queue and self._queue[0].relay == relay:
            if self._charged_s < self._queue[0].seconds - _TIME_EPSILON_S:
                if self._charge_too_long(now_s):
                    # The cap: a break (DC/DC off, proven) before the device's own acts.
                    return self._step(now_s, SequencerState.DCDC_OFF, relay, self._dcdc_off())
                return self._out((), remaining_s=self._queue[0].seconds - self._charged_s)
            # Done with this cell; a next step on the same cell continues seamlessly.
            self._charged_s -= self._queue.pop(0).seconds
        self._charged_s = 0.0
        return self._enter_next(now_s)

    # --- goal seeking -------------------------------------------------------------

    def _enter_next(self, now_s: float) -> Tick:
        """Pick the next step from what is commanded and what should be charged."""
        cmd = self._commanded
        target = None if self._needs_reset else self.target
        if cmd.dcdc and cmd.relay is not None and cmd.relay == target:
            self._state = SequencerState.CHARGING
            self._bad_since = None
            return self._out((), remaining_s=self._queue[0].seconds - self._charged_s)
        if cmd.dcdc or (cmd.relay is not None and not self._dcdc_off_verified):
            # Step 1; after a restore also with the DC/DC commanded off, since nothing
            # about the device is proven then.
            return self._step(now_s, SequencerState.DCDC_OFF, cmd.relay, self._dcdc_off())
        if cmd.relay is not None and cmd.relay != target:
            # Step 2: the DC/DC is proven off, the relay opens dry.
            return self._step(now_s, SequencerState.RELAY_OFF, cmd.relay, self._relay_off())
        if cmd.relay is None:
            if not self._open_verified and (target is not None or self._needs_reset):
                # Nothing commanded, but is the output really open? (welded relay,
                # DC/DC stuck on, or the state after a restart)
                return self._step(now_s, SequencerState.RELAY_OFF, None, ())
            self._needs_reset = False
            target = self.target
            if target is None:
                self._state = SequencerState.IDLE
                self._step_relay = None
                self._open_verified = False  # time passes in IDLE: check again first
                return self._out(())
            # Step 3: the output is open and the DC/DC off, so this closes dry.
            return self._step(now_s, SequencerState.RELAY_ON, target, self._relay_on(target))
        # Step 4: the relay of the target is proven closed.
        return self._step(now_s, SequencerState.DCDC_ON, cmd.relay, self._dcdc_on())

    def _step(
        self,
        now_s: float,
        state: SequencerState,
        relay: int | None,
        commands: tuple[Command, ...],
    ) -> Tick:
        self._state = state
        self._step_relay = relay
        self._step_started = now_s
        if state is SequencerState.DCDC_OFF:
            self._dcdc_off_at = now_s
        if state is SequencerState.DCDC_ON:
            self._dcdc_on_at = now_s
        return self._out(commands)

    def _mark_verified(self) -> None:
        """Remember what the verified step proved."""
        state = self._state
        if state is SequencerState.DCDC_OFF:
            self._dcdc_off_verified = True
            self._dcdc_off_at = None
            if self._commanded.relay is None:
                self._open_verified = True  # no relay: step 1 checked for ~0 V
        elif state is SequencerState.RELAY_OFF:
            # Every relay is commanded off and the output reads open: a clean start.
            self._open_verified = True
            self._needs_reset = False
        elif state is SequencerState.RELAY_ON:
            self._open_verified = False

    # --- commands (the only places that change `_commanded`) -------------------------

    def _dcdc_off(self) -> tuple[Command, ...]:
        self._commanded = replace(self._commanded, dcdc=False)
        self._dcdc_off_verified = False
        return (Command(None, on=False),)

    def _dcdc_on(self) -> tuple[Command, ...]:
        if self._commanded.relay is None:
            raise RuntimeError("refusing to start the DC/DC with no relay closed")
        self._commanded = replace(self._commanded, dcdc=True)
        self._dcdc_off_verified = False
        return (Command(None, on=True, planned_s=self._planned_charge_s()),)

    def _relay_on(self, relay: int) -> tuple[Command, ...]:
        # The two rules of the hardware, enforced where the command is made.
        if self._commanded.dcdc:
            raise RuntimeError("refusing to close a relay while the DC/DC is commanded on")
        if self._commanded.relay is not None:
            raise RuntimeError("refusing to close a second relay")
        self._commanded = CommandSet(dcdc=False, relay=relay)
        self._open_verified = False
        return (Command(relay, on=True),)

    def _relay_off(self, under_load: bool = False) -> tuple[Command, ...]:
        relay = self._commanded.relay
        if relay is None:
            return ()
        if self._commanded.dcdc:
            raise RuntimeError("refusing to open a relay while the DC/DC is commanded on")
        self._commanded = replace(self._commanded, relay=None)
        return (Command(relay, on=False, under_load=under_load),)

    # --- verification -------------------------------------------------------------

    def _no_current(self, reading: Reading) -> bool:
        """No current flows, as far as the device can tell.

        A device that measures current must show it; one that does not leaves the
        proof to the voltage (`_dcdc_off_ok`).
        """
        current = reading.current()
        if current is None:
            return not self.config.current_measured
        return abs(current) <= self.config.zero_current_a

    def _dcdc_off_ok(self, relay: int | None, reading: Reading) -> bool:
        """Step 1's proof: no current, and the output reads the bare cell (or ~0 V)."""
        voltage = reading.voltage()
        if voltage is None or not self._no_current(reading):
            return False
        if relay is None:
            return voltage < self.config.open_voltage_v
        cell = reading.cell(relay)
        current = reading.current()
        if cell is None:
            # Without the BMS voltage only a measured zero current proves it.
            return current is not None and voltage >= self.config.open_voltage_v
        # A measured zero current proves "off"; without one the I x R step must be gone.
        cfg = self.config
        tolerance = cfg.match_tolerance_v if current is not None else cfg.off_tolerance_v
        return abs(voltage - cell) <= tolerance

    def _no_flow(self, relay: int, reading: Reading) -> bool:
        """No current through `relay`: step 1's proof, or an output that reads open."""
        voltage = reading.voltage()
        if voltage is not None and voltage < self.config.open_voltage_v:
            return self._no_current(reading)
        return self._dcdc_off_ok(relay, reading)

    def _verified(self, reading: Reading) -> bool:
        state, relay, cfg = self._state, self._step_relay, self.config
        voltage = reading.voltage()
        if voltage is None:
            return False
        if state is SequencerState.DCDC_OFF:
            return self._dcdc_off_ok(relay, reading)
        if state is SequencerState.RELAY_OFF:
            return voltage < cfg.open_voltage_v and self._no_current(reading)
        cell = None if relay is None else reading.cell(relay)
        if cell is None:
            return False
        if state is SequencerState.RELAY_ON:
            return abs(voltage - cell) <= cfg.match_tolerance_v and self._no_current(reading)
        # DCDC_ON: the I x R rise above the cell, but not the open-circuit voltage.
        current = reading.current()
        delivering = current is None or current >= cfg.min_charge_current_a
        return cell + cfg.min_rise_v <= voltage <= cell + cfg.max_rise_v and delivering

    def _charging_ok(self, relay: int, reading: Reading) -> bool:
        cell = reading.cell(relay)
        voltage = reading.voltage()
        if voltage is None:
            return False
        if cell is None:
            return True  # the BMS value is missing for a moment: no reason to stop
        current = reading.current()
        delivering = current is None or current >= self.config.min_charge_current_a
        # Half the rise: the cell voltage creeps up while charging, the BMS lags.
        low = cell + self.config.min_rise_v / 2
        return low <= voltage <= cell + self.config.max_rise_v and delivering

    def _classify(self, reading: Reading) -> tuple[FaultReason, str]:
        """Why the current step timed out, from what the output shows."""
        state, relay, cfg = self._state, self._step_relay, self.config
        voltage = reading.voltage()
        if voltage is None:
            return FaultReason.NO_MEASUREMENT, f"no output reading in {state}"
        cell = None if relay is None else reading.cell(relay)
        shown = f"output {voltage:.3f} V"
        if state is SequencerState.DCDC_OFF:
            if relay is None:
                return FaultReason.UNEXPECTED_VOLTAGE, f"{shown} with nothing connected"
            still_on = not self._no_current(reading) or (
                cell is not None and voltage > cell + cfg.match_tolerance_v
            )
            if still_on:
                return FaultReason.DCDC_DID_NOT_TURN_OFF, f"{shown}, cell {relay} at {cell} V"
            return FaultReason.UNEXPECTED_VOLTAGE, f"{shown}, cell {relay} at {cell} V"
        if state is SequencerState.RELAY_OFF:
            if relay is None:
                return FaultReason.UNEXPECTED_VOLTAGE, f"{shown} with every relay off"
            return FaultReason.RELAY_DID_NOT_OPEN, f"relay {relay}: {shown}"
        if state is SequencerState.RELAY_ON:
            if voltage < cfg.open_voltage_v:
                return FaultReason.RELAY_DID_NOT_CLOSE, f"relay {relay}: {shown}"
            if cell is None:
                return FaultReason.NO_MEASUREMENT, f"no BMS voltage for cell {relay}"
            return (
                FaultReason.UNEXPECTED_VOLTAGE,
                f"relay {relay}: {shown}, cell at {cell:.3f} V (welded or miswired relay)",
            )
        # DCDC_ON
        if cell is None:
            return FaultReason.NO_MEASUREMENT, f"no BMS voltage for cell {relay}"
        if voltage > cell + cfg.max_rise_v:
            return (
                FaultReason.UNEXPECTED_VOLTAGE,
                f"{shown} far above cell {relay} at {cell:.3f} V (relay open?)",
            )
        return FaultReason.DCDC_DID_NOT_TURN_ON, f"{shown}, cell {relay} at {cell:.3f} V"

    # --- fault --------------------------------------------------------------------

    def _fail(self, now_s: float, reading: Reading, reason: FaultReason, detail: str) -> Tick:
        self._state = SequencerState.FAULT
        self._fault = reason
        self._fault_detail = detail
        self._queue = []  # never resume charging by itself after a fault
        self._charged_s = 0.0
        return self._shutdown(now_s, reading)

    def _shutdown(self, now_s: float, reading: Reading) -> Tick:
        """All off, DC/DC first; a relay opens once the DC/DC is proven off."""
        cmd = self._commanded
        if cmd.dcdc or (
            cmd.relay is not None and not self._dcdc_off_verified and self._dcdc_off_at is None
        ):
            # (Re-)send off; also after a restore, where the last send time is unknown.
            self._dcdc_off_at = now_s
            return self._out(self._dcdc_off())
        if cmd.relay is None:
            return self._out(())
        off_at = self._dcdc_off_at if self._dcdc_off_at is not None else now_s
        taken = reading.taken(now_s)
        if self._dcdc_off_verified or (taken > off_at and self._no_flow(cmd.relay, reading)):
            self._dcdc_off_verified = True
            return self._out(self._relay_off())
        if not self._expired(now_s, off_at, SequencerState.DCDC_OFF):
            return self._out(())
        # The DC/DC keeps running with the relay closed: it is overcharging that cell.
        if self.config.open_relay_on_stuck_dcdc:
            return self._out(self._relay_off(under_load=True))
        if "left closed" not in self._fault_detail:
            self._fault_detail += f"; relay {cmd.relay} left closed (DC/DC still running)"
        return self._out(())

    def _out(self, commands: tuple[Command, ...], remaining_s: float | None = None) -> Tick:
        return Tick(
            commands=commands,
            state=self._state,
            commanded=self._commanded,
            fault=self._fault,
            fault_detail=self._fault_detail,
            remaining_s=remaining_s,
        )

    # --- persistence --------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state; timing is not kept (a restart re-verifies from step 1)."""
        return {
            "relays": self.relays,
            "state": str(self._state),
            "commanded": self._commanded.to_dict(),
            "queue": [[step.relay, step.seconds] for step in self._queue],
            "charged_s": self._charged_s,
            "fault": None if self._fault is None else str(self._fault),
            "fault_detail": self._fault_detail,
        }

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        config: SequencerConfig | None = None,
        reported: CommandSet | None = None,
    ) -> Sequencer:
        """Restore; `reported` (the device's retained relay/dcdc state) wins if given.

        The sequence never resumes half-way: anything commanded goes through step 1
        again, and charging continues (for the remaining time) only after every step
        is re-verified. A latched fault stays latched.
        """
        sequencer = cls(int(data["relays"]), config)
        commanded = reported if reported is not None else CommandSet.from_dict(data["commanded"])
        if commanded.relay is not None and not 1 <= commanded.relay <= sequencer.relays:
            raise ValueError(f"relay {commanded.relay} out of range")
        sequencer._commanded = commanded
        fault = data.get("fault")
        if fault is not None:
            sequencer._state = SequencerState.FAULT
            sequencer._fault = FaultReason(fault)
            sequencer._fault_detail = str(data.get("fault_detail", ""))
        else:
            steps = [ChargeStep(int(relay), float(seconds)) for relay, seconds in data["queue"]]
            sequencer.start(steps)
            sequencer._charged_s = max(float(data.get("charged_s", 0.0)), 0.0)
        sequencer._needs_reset = not commanded.all_off
        sequencer._dcdc_off_verified = False  # nothing is proven after a restart
        sequencer._dcdc_off_at = None
        return sequencer
