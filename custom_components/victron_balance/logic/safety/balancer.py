"""The safety gate for balancer commands: nothing reaches a balancer without it.

**I6 — the balancer switches itself off: lease, will, per-charge cap; current-off
proven; fault latched before any command.**

What that means, and who does which part:

* **Lease** (device, protocol 2): every "on" needs a lease that the controller renews
  every few seconds; without a renewal for `lease_s` the device goes to all-off by
  itself in the safe order (DC/DC off, then the relays once no current flows or after
  `settle_time`). This gate lets an "on" through only while the device reports our
  lease active *and* our last renewal is recent enough that it cannot have lapsed.
* **Will**: the integration's MQTT session has a Last Will (`offline`, retained) on
  the topic it names in the lease; the device treats it as an expired lease at once.
* **Per-charge cap** (device `max_charge_s`, Lee Hart's 60 minutes by default): the
  device ends any charge longer than that by itself. We plan below it; this gate
  refuses a DC/DC "on" whose planned charge is longer.
* **Current off proven**: a relay moves only after a measured zero current, or, on a
  device without current measurement, an output voltage that has lost its I x R step;
  a device where that step is within the match tolerance is never driven (the
  planner refuses it, and this gate refuses "on" for a device not `drivable`).
* **Fault latched before any command**: the runner latches and stores a fault before
  it sends the shutdown; the device latches its own faults and refuses "on" until
  the fault is cleared.

The gate's own rules, checked on every command: a relay "on" is refused while any
other relay is commanded or reported on, or while the DC/DC is; a DC/DC "on" without
exactly one relay commanded, reported and proven closed by measurement (output at
that cell's BMS voltage, no current); any "on" without an active lease, with stale
device or cell data, with a latched fault, or for a device that must not be driven;
a charge planned beyond the cap. Safe-off commands (DC/DC off, relay off, lease
release, fault acknowledgement) always pass.

Pure: no Home Assistant imports. The runner publishes only `Permit`s from here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from ..balancer.contract import LEASE_RELEASE, lease_request
from ..balancer.sequencer import Command, CommandSet


class Refusal(StrEnum):
    """Why the gate refused a command."""

    NOT_DRIVABLE = "not_drivable"  # protocol 1, or "current off" unprovable
    NO_LEASE = "no_lease"
    STALE_DEVICE = "stale_device"
    STALE_CELLS = "stale_cells"
    FAULT_LATCHED = "fault_latched"
    OTHER_RELAY_ON = "other_relay_on"
    DCDC_ON = "dcdc_on"
    RELAY_NOT_PROVEN = "relay_not_proven"  # DC/DC on without one relay proven closed
    OVER_CAP = "over_cap"
    UNKNOWN_RELAY = "unknown_relay"


@dataclass(frozen=True, slots=True)
class Permit:
    """A command the gate let through: topic suffix under `balancer/<id>/` and payload."""

    topic: str
    payload: str
    on: bool = False  # it switches something on (for the record)


@dataclass(frozen=True, slots=True)
class GateLimits:
    """What the gate knows about one balancer, fixed while it runs."""

    relays: int
    drivable: bool  # protocol 2 with a provable "current off" (planner.drive_refusal)
    match_tolerance_v: float  # output vs cell with no current (a measured zero)
    off_tolerance_v: float  # the same without a current measurement (half of I x R)
    zero_current_a: float
    current_measured: bool
    max_charge_s: float | None  # the longest charge we may run (below the device's cap)
    max_data_age_s: float  # older device measurements are stale


@dataclass(frozen=True, slots=True)
class GateFacts:
    """What is true now, as the runner sees it."""

    lease_active: bool  # the device reports our lease and our renewal is recent
    device_age_s: float | None  # since the last measurement (None: none, or offline)
    cells: Sequence[float | None] | None  # BMS cell voltages, None when stale
    fault_latched: bool  # ours or the device's
    reported_relays: Sequence[int]  # relay coils the device reports on
    reported_dcdc: bool | None
    output_voltage: float | None
    output_current: float | None


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


class BalancerGate:
    """Checks every command for one balancer; remembers what it let through."""

    def __init__(self, limits: GateLimits) -> None:
        self.limits = limits
        self.commanded = CommandSet()
        self.permitted = 0
        self.refused = 0

    def restart(self, commanded: CommandSet) -> None:
        """A new sequence starts from what the device reports (never half-way)."""
        self.commanded = commanded

    def update_limits(self, limits: GateLimits) -> None:
        """The device's `info` or current setpoint changed."""
        self.limits = limits

    # --- the commands -----------------------------------------------------------------

    def check(self, command: Command, facts: GateFacts) -> Permit | Refusal:
        """A relay or DC/DC command from the sequencer."""
        relay = command.relay
        if relay is not None and not 1 <= relay <= self.limits.relays:
            return self._refuse(Refusal.UNKNOWN_RELAY)
        if not command.on:
            # Safe-off always passes.
            if relay is None:
                self.commanded = replace(self.commanded, dcdc=False)
            elif self.commanded.relay == relay:
                self.commanded = replace(self.commanded, relay=None)
            return self._permit(command.topic, command.payload)
        refusal = self._base(facts) or (
            self._relay_on(relay, facts) if relay is not None else self._dcdc_on(command, facts)
        )
        if refusal is not None:
            return self._refuse(refusal)
        if relay is None:
            self.commanded = replace(self.commanded, dcdc=True)
        else:
            self.commanded = replace(self.commanded, relay=relay)
        return self._permit(command.topic, command.payload, on=True)

    def lease(self, lease_s: float, will: str | None) -> Permit | Refusal:
        """Grant or renew our lease: only for a device we may drive."""
        if not self.limits.drivable:
            return self._refuse(Refusal.NOT_DRIVABLE)
        return self._permit("lease/set", lease_request(lease_s, will))

    def release(self) -> Permit:
        """Give the lease back: the device switches itself off in the safe order."""
        return self._permit("lease/set", LEASE_RELEASE)

    def clear_fault(self) -> Permit:
        """The user acknowledged the device's fault (switching balancing on)."""
        return self._permit("fault/clear", "1")

    # --- rules --------------------------------------------------------------------------

    def _base(self, facts: GateFacts) -> Refusal | None:
        """What every "on" needs."""
        limits = self.limits
        if not limits.drivable:
            return Refusal.NOT_DRIVABLE
        if facts.fault_latched:
            return Refusal.FAULT_LATCHED
        if not facts.lease_active:
            return Refusal.NO_LEASE
        age = facts.device_age_s
        if age is None or not 0 <= age <= limits.max_data_age_s:
            return Refusal.STALE_DEVICE
        if facts.cells is None or len(facts.cells) != limits.relays:
            return Refusal.STALE_CELLS
        return None

    def _relay_on(self, relay: int, facts: GateFacts) -> Refusal | None:
        others = {n for n in facts.reported_relays if n != relay}
        if self.commanded.relay not in (None, relay):
            others.add(self.commanded.relay)
        if others:
            return Refusal.OTHER_RELAY_ON
        if self.commanded.dcdc or facts.reported_dcdc is not False:
            return Refusal.DCDC_ON
        return None

    def _dcdc_on(self, command: Command, facts: GateFacts) -> Refusal | None:
        limits = self.limits
        relay = self.commanded.relay
        if relay is None or tuple(facts.reported_relays) != (relay,):
            return Refusal.RELAY_NOT_PROVEN
        if facts.reported_dcdc is not False:
            return Refusal.DCDC_ON  # reported on while we have it off: something is wrong
        if not self._proven_closed(relay, facts):
            return Refusal.RELAY_NOT_PROVEN
        planned = command.planned_s
        cap = limits.max_charge_s
        if cap is None or planned is None or not 0 < planned <= cap:
            return Refusal.OVER_CAP
        return None

    def _proven_closed(self, relay: int, facts: GateFacts) -> bool:
        """The output reads the relay's cell with no current: closed, the DC/DC off."""
        assert facts.cells is not None  # checked by _base
        cell = _finite(facts.cells[relay - 1])
        volts = _finite(facts.output_voltage)
        amps = _finite(facts.output_current)
        if cell is None or volts is None:
            return False
        if amps is None:
            if self.limits.current_measured:
                return False  # measured, but not known now: nothing is proven
            return abs(volts - cell) <= self.limits.off_tolerance_v
        return (
            abs(amps) <= self.limits.zero_current_a
            and abs(volts - cell) <= self.limits.match_tolerance_v
        )

    def _permit(self, topic: str, payload: str, *, on: bool = False) -> Permit:
        self.permitted += 1
        return Permit(topic, payload, on)

    def _refuse(self, refusal: Refusal) -> Refusal:
        self.refused += 1
        return refusal
