"""Driving one relay balancer: the sequencer's life, our lease and the gate (pure).

The Home Assistant runner (`balancer.py`) and the safety benchmark both drive a
device through this class, once per tick:

1. `begin` decides whether a sequence may run at all: not with stale or incomplete
   device data, not for a device that must not be driven (protocol 1, or "current
   off" unprovable: `planner.drive_refusal`), and not while the device runs its own
   shutdown after a lease ended. A new sequence always starts from what the device
   reports, from step 1.
2. The caller plans (when `can_charge`) or stops the sequence.
3. `finish` renews the lease while we drive, steps the sequencer and passes each of
   its commands through the gate (`logic.safety.balancer`); the caller latches a
   returned fault *before* it sends the permits, then reports each send with
   `delivered` or `send_failed`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..safety.balancer import BalancerGate, GateFacts, GateLimits, Permit, Refusal
from .contract import LEASE_RELEASE, BalancerInfo, DeviceState
from .lease import LEASE_S, LeaseKeeper
from .planner import DriveRefusal, charge_limit_s, drive_refusal, match_tolerance_v
from .planner import sequencer_config as make_sequencer_config
from .sequencer import (
    Command,
    CommandSet,
    FaultReason,
    Reading,
    Sequencer,
    SequencerConfig,
    SequencerState,
)

STALE_MEASUREMENTS = 3  # measure intervals without a measurement: the device is stale
FORCED_OFF_EVERY_S = 2.0  # an undrivable device reporting its DC/DC on: resend "off"


@dataclass(frozen=True, slots=True)
class DriverTick:
    """One tick's outcome: what to send (in order) and what happened."""

    permits: tuple[Permit, ...] = ()
    state: SequencerState | None = None  # None: no sequence runs
    fault: FaultReason | None = None  # the sequence's fault: latch it before sending
    fault_detail: str = ""
    refused: Refusal | None = None  # the gate refused a command (the sequence starts over)
    remaining_s: float | None = None


class BalancerDriver:
    """One balancer's sequencer, lease and gate."""

    def __init__(
        self,
        info: BalancerInfo,
        *,
        holder: str | None,
        tick_s: float,
        lease_s: float = LEASE_S,
    ) -> None:
        self.tick_s = tick_s
        self.lease = LeaseKeeper(holder, min(lease_s, info.lease_max_s or lease_s))
        self.sequencer: Sequencer | None = None
        self.info = info
        self._current_a: float | None = None
        self.refusal: tuple[DriveRefusal, str] | None = None
        self.config: SequencerConfig | None = None
        self.gate = BalancerGate(self._configure())
        self._off_deadline: float | None = None  # waiting for the device's own shutdown
        self._forced_off_at: float | None = None

    # --- configuration ----------------------------------------------------------------

    def _configure(self) -> GateLimits:
        info, amps = self.info, self._current_a
        self.refusal = drive_refusal(info, amps, self.tick_s)
        self.config = None if self.refusal else make_sequencer_config(info, amps, self.tick_s)
        rise = (amps if amps else info.max_current) * info.output_resistance
        return GateLimits(
            relays=info.relays,
            drivable=self.refusal is None,
            match_tolerance_v=match_tolerance_v(info.kind),
            off_tolerance_v=min(match_tolerance_v(info.kind), rise / 2),
            zero_current_a=0.05,
            current_measured=info.measures_current,
            max_charge_s=charge_limit_s(info, self.tick_s),
            max_data_age_s=self.max_data_age_s,
        )

    @property
    def max_data_age_s(self) -> float:
        """Device measurements older than this are stale."""
        return STALE_MEASUREMENTS * self.info.measure_interval + 2 * self.tick_s

    def update(self, info: BalancerInfo, current_a: float | None) -> None:
        """A repeated `info`, or a new current setpoint: thresholds may change."""
        if (info, current_a) == (self.info, self._current_a):
            return
        self.info, self._current_a = info, current_a
        self.gate.update_limits(self._configure())
        self.sequencer = None  # a fresh sequence uses the new thresholds

    @property
    def drivable(self) -> bool:
        """The device can switch itself off and its "current off" can be proven."""
        return self.refusal is None

    @property
    def charge_limit_s(self) -> float | None:
        """The longest charge we plan (below the device's own cap)."""
        return charge_limit_s(self.info, self.tick_s)

    # --- the tick -----------------------------------------------------------------------

    def begin(
        self, now: float, device: DeviceState, age_s: float | None, *, online: bool
    ) -> Sequencer | None:
        """The sequencer to step this tick; None when nothing may be sequenced."""
        ended = self.lease.ended(device.lease)
        if ended and self.sequencer is not None and not self.sequencer.commanded.all_off:
            self.sequencer = None  # the device switched itself off: start over from it
        fresh = age_s is not None and 0 <= age_s <= self.max_data_age_s
        if not (online and device.complete and fresh and self.drivable):
            self.sequencer = None
            self._off_deadline = None
            return None
        if self._device_shutting_down(now, device):
            self.sequencer = None
            return None
        sequencer = self.sequencer
        if sequencer is None or (
            # Resting, yet the device drives something: someone else switched it.
            sequencer.state is SequencerState.IDLE and device.reported() != sequencer.commanded
        ):
            sequencer = self._new_sequencer(device.reported())
        return sequencer

    def _device_shutting_down(self, now: float, device: DeviceState) -> bool:
        """Our lease is gone and the device still drives something: its own safe-off."""
        report = device.lease
        if report is None or report.active or device.reported().all_off:
            self._off_deadline = None
            return False
        if self._off_deadline is None:
            # Its DC/DC off, then the relays after `settle_time` at the latest.
            self._off_deadline = now + self.info.settle_time + self.max_data_age_s
        return now < self._off_deadline

    def _new_sequencer(self, reported: CommandSet) -> Sequencer:
        assert self.config is not None  # drivable
        if reported.all_off:
            # Nothing driven: the first plan checks the output is open before closing.
            sequencer = Sequencer(self.info.relays, self.config)
        else:
            # Something is on: off from step 1, each step verified (never resume).
            data = {"relays": self.info.relays, "commanded": reported.to_dict(), "queue": []}
            sequencer = Sequencer.from_dict(data, self.config, reported=reported)
        self.gate.restart(reported)
        self.sequencer = sequencer
        return sequencer

    def can_charge(self, now: float, device: DeviceState, cells: list[float] | None) -> bool:
        """A plan may start: a sequence runs, the lease is ours, the cells are fresh."""
        return (
            self.sequencer is not None
            and cells is not None
            and self.lease.active(now, device.lease)
        )

    def finish(
        self,
        now: float,
        device: DeviceState,
        age_s: float | None,
        cells: list[float] | None,
        *,
        want_lease: bool,
        fault_latched: bool,
    ) -> DriverTick:
        """Renew the lease, step the sequencer, gate its commands."""
        permits: list[Permit] = []
        sequencer = self.sequencer
        driving = want_lease or (sequencer is not None and not sequencer.commanded.all_off)
        if not driving:
            self.lease.lost()  # the next "on" waits for a fresh renewal
        elif self.drivable and device.online and self.lease.due(now):
            renewal = self.gate.lease(self.lease.lease_s, self.lease.holder)
            if isinstance(renewal, Permit):
                permits.append(renewal)
        if sequencer is None:
            permits.extend(self._forced_off(now, device))
            return DriverTick(tuple(permits))
        measured_at = None if age_s is None else now - age_s
        reading = Reading(device.output_voltage, device.output_current, cells or [], measured_at)
        tick = sequencer.tick(now, reading)
        facts = GateFacts(
            lease_active=self.lease.active(now, device.lease),
            device_age_s=age_s,
            cells=cells,
            fault_latched=fault_latched or tick.fault is not None,
            reported_relays=device.relays_on(),
            reported_dcdc=device.dcdc,
            output_voltage=device.output_voltage,
            output_current=device.output_current,
        )
        refused: Refusal | None = None
        for command in tick.commands:
            verdict = self.gate.check(command, facts)
            if isinstance(verdict, Refusal):
                refused = verdict
                self.sequencer = None  # it counts the command as sent: start over
                break
            permits.append(verdict)
        return DriverTick(
            tuple(permits),
            tick.state,
            tick.fault,
            tick.fault_detail,
            refused,
            tick.remaining_s,
        )

    def _forced_off(self, now: float, device: DeviceState) -> list[Permit]:
        """A device we do not sequence but that reports its DC/DC on: "off" now and then."""
        if self.drivable or not device.online or device.dcdc is not True:
            return []
        last = self._forced_off_at
        if last is not None and now - last < FORCED_OFF_EVERY_S:
            return []
        self._forced_off_at = now
        return [_off(self.gate, None)]

    # --- what the caller reports ----------------------------------------------------

    def delivered(self, permit: Permit, now: float) -> None:
        """`permit` reached the broker."""
        if permit.topic == "lease/set" and permit.payload != LEASE_RELEASE:
            self.lease.renewed(now)

    def send_failed(self) -> None:
        """A publish failed: the device may have got part of it. Start over."""
        self.sequencer = None
        self.lease.lost()

    def connection_lost(self) -> None:
        """Our broker connection dropped."""
        self.sequencer = None
        self.lease.lost()

    def shutdown(self, device: DeviceState) -> list[Permit]:
        """Unload or stop: DC/DC off now, a relay only if proven dry, the lease back."""
        sequencer = self.sequencer
        permits: list[Permit] = []
        if device.online and (device.dcdc or (sequencer is not None and sequencer.commanded.dcdc)):
            permits.append(_off(self.gate, None))
        if (
            sequencer is not None
            and sequencer.state is SequencerState.RELAY_ON
            and sequencer.commanded.relay is not None
        ):
            # Closed after the DC/DC was proven off, and not started since: no current.
            permits.append(_off(self.gate, sequencer.commanded.relay))
        if device.lease is not None and self.drivable:
            # The device opens what is left itself, in the safe order.
            permits.append(self.gate.release())
        self.lease.lost()
        return permits


_NO_FACTS = GateFacts(
    lease_active=False,
    device_age_s=None,
    cells=None,
    fault_latched=True,
    reported_relays=(),
    reported_dcdc=None,
    output_voltage=None,
    output_current=None,
)


def _off(gate: BalancerGate, relay: int | None) -> Permit:
    permit = gate.check(Command(relay, on=False), _NO_FACTS)
    assert isinstance(permit, Permit)  # "off" always passes
    return permit
