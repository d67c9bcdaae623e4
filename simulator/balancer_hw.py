"""A Lee Hart style cell balancer as hardware: one relay per cell and one DC/DC charger.

An isolated DC/DC charger can be connected to any one cell (or 12 V module)
through that cell's relay. Relays must only switch with no current flowing:
a relay lasts ~100k operations switching load but ~1M switching a dry circuit.
The controller therefore runs the safe sequence (DC/DC off, relay off, next
relay on, DC/DC on) and checks every step on the measured output voltage.

This module is pure physics (``step(dt)``, no MQTT, no clock). Wire contract and
adapter: docs/balancer-mqtt.md and `simulator.balancer_sim`.

Relays are numbered 1..N as on the wire (like Venus' Cell1..CellN); relay n
connects cell index n-1 of the `CellSink`.

What the state reports vs what happens: the hardware only knows what it drives
(relay coils, the DC/DC enable pin). A welded relay or a DC/DC that does not
switch off shows up only in the measured output voltage and current, which is
why every step of the sequence must be verified by measurement.

Protocol 2 (the default) adds what lets the device switch itself off when its
controller vanishes: a **lease** (every "on" needs one; when it ends, by timeout,
by the controller's Last Will or by release, the device goes to all-off in the
safe order: DC/DC off, then the relays once no current flows or `settle_time`
passed), a **per-charge cap** (the DC/DC switches itself off after
`max_charge_s`), and **latched faults** (no "on" is accepted until the fault is
cleared). `BalancerConfig(protocol=1)` is the old device without any of these.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

# Fault reasons (the "reason" of the fault topic).
FAULT_SWITCHED_UNDER_LOAD = "switched_under_load"
FAULT_TWO_RELAYS = "two_relays_refused"
FAULT_CELL_SHORT = "cell_short"
FAULT_CHARGE_CAP = "charge_time_cap"  # the DC/DC ran max_charge_s: switched off by itself

# How a lease ended (protocol 2).
LEASE_EXPIRED = "expired"  # no renewal within lease_s
LEASE_WILL = "will"  # the controller's Last Will (it died)
LEASE_RELEASED = "released"  # the controller let go
LEASE_ENDS = (LEASE_EXPIRED, LEASE_WILL, LEASE_RELEASED)

# Why an "on" command was refused (protocol 2; a second relay is a fault instead).
REFUSED_NO_LEASE = "no_lease"
REFUSED_FAULT = "fault_latched"
REFUSED_SWITCHING_OFF = "switching_off"

# At or below this the device's own measurement says no current flows.
ZERO_CURRENT_A = 0.05


class CellSink(Protocol):
    """The cells the balancer charges (the pack model implements this)."""

    def cell_voltage(self, index: int) -> float:
        """Voltage of cell ``index`` (0-based) in V."""
        ...

    def add_cell_charge(self, index: int, amp_seconds: float) -> None:
        """Push ``amp_seconds`` of charge into cell ``index`` (0-based)."""
        ...


class MemoryCells:
    """A trivial CellSink: voltage rises linearly with the charge received."""

    def __init__(self, voltages: Sequence[float], volts_per_ah: float = 0.01) -> None:
        self.voltages = list(voltages)
        self.volts_per_ah = volts_per_ah
        self.charge = [0.0] * len(self.voltages)  # A·s received per cell

    def cell_voltage(self, index: int) -> float:
        """Voltage of cell ``index``."""
        return self.voltages[index]

    def add_cell_charge(self, index: int, amp_seconds: float) -> None:
        """Record the charge and raise that cell's voltage a little."""
        self.charge[index] += amp_seconds
        self.voltages[index] += amp_seconds / 3600.0 * self.volts_per_ah


@dataclass(frozen=True)
class BalancerConfig:
    """Ratings and time constants of one balancer."""

    relays: int = 16
    charge_current: float = 2.0  # A, the DC/DC's current setpoint at power-up
    max_current: float = 2.0  # A, the DC/DC's rating (highest setpoint accepted)
    open_circuit_voltage: float = 4.2  # V, DC/DC on with no relay closed
    output_resistance: float = 0.05  # Ω of relay + wiring: the "small drop" under current
    decay_tau: float = 0.2  # s, output capacitor discharge with DC/DC off, no relay
    rise_tau: float = 0.05  # s, DC/DC soft start to its open-circuit voltage
    relay_tau: float = 0.01  # s, a closed relay pins the capacitor to the cell
    load_life: int = 100_000  # relay operations switching current
    dry_life: int = 1_000_000  # relay operations switching nothing
    kind: str = "cell"  # "cell" or "module" (12 V blocks)
    protocol: int = 2  # 1: no lease, no cap, faults only reported (the old device)
    lease_s: float = 10.0  # s, a lease granted without a duration
    max_lease_s: float = 60.0  # s, the longest lease accepted
    max_charge_s: float = 3600.0  # s, the DC/DC switches itself off after this (Lee: 60 min)
    measures_current: bool = True  # False: output_current is not a measurement (not published)

    def __post_init__(self) -> None:
        if self.relays < 1:
            raise ValueError("a balancer needs at least one relay")
        if not 0 < self.charge_current <= self.max_current:
            raise ValueError("need 0 < charge_current <= max_current")
        if self.protocol not in (1, 2):
            raise ValueError("protocol must be 1 or 2")
        if not 0 < self.lease_s <= self.max_lease_s or self.max_charge_s <= 0:
            raise ValueError("need 0 < lease_s <= max_lease_s and max_charge_s > 0")

    @classmethod
    def lifepo4(cls, relays: int = 16) -> BalancerConfig:
        """Per-cell LiFePO4: 2 A into a 3.2-3.65 V cell, 4.2 V open circuit."""
        return cls(relays=relays)

    @classmethod
    def lead_acid_modules(cls, relays: int = 12) -> BalancerConfig:
        """Per 12 V lead-acid module (Lee Hart's case): 1 A, 15 V open circuit."""
        return cls(
            relays=relays,
            charge_current=1.0,
            max_current=1.0,
            open_circuit_voltage=15.0,
            output_resistance=0.1,
            kind="module",
        )

    @property
    def settle_time(self) -> float:
        """A safe wait for any step to settle (5 of the slowest time constants)."""
        return 5.0 * max(self.decay_tau, self.rise_tau, self.relay_tau)


@dataclass(frozen=True)
class Fault:
    """One recorded fault."""

    reason: str
    relay: int | None
    at: float  # simulated seconds since the model started
    detail: str = ""


class BalancerHardware:
    """Relays, the DC/DC and the output capacitor; pure ``step(dt)`` physics."""

    def __init__(self, cells: CellSink, config: BalancerConfig | None = None) -> None:
        self.cells = cells
        self.config = config or BalancerConfig()
        n = self.config.relays
        self._coil = [False] * n  # what we drive
        self._contact = [False] * n  # what the contacts really do
        self._stuck: list[bool] = [False] * n
        self._cycles = [0] * n
        self._load_cycles = [0] * n
        self._delivered = [0.0] * n  # A·s pushed through each relay
        self._dcdc_enabled = False  # the enable pin
        self._dcdc_stuck_on = False
        self.current_setpoint = self.config.charge_current
        self.output_voltage = 0.0
        self.time = 0.0
        self.faults: list[Fault] = []
        self.fault: Fault | None = None  # latched latest fault, until clear_fault()
        self._listeners: list[Callable[[], None]] = []
        # Protocol 2: the lease, the per-charge cap and the safe shutdown.
        self._lease_until: float | None = None
        self.lease_s: float | None = None  # the running lease's duration
        self.lease_holder: str | None = None  # the controller's will topic, if it gave one
        self.lease_grants = 0  # grants and renewals accepted
        self.lease_ends = dict.fromkeys(LEASE_ENDS, 0)
        self.last_lease_end: str | None = None
        self.refused = 0  # "on" commands refused (no lease, fault latched, switching off)
        self.last_refusal: str | None = None
        self.dcdc_starts = 0  # enable pin off -> on
        self.self_shutdowns = 0  # safe shutdowns the device ran on its own
        self._dcdc_on_since: float | None = None
        self._switching_off_since: float | None = None

    # --- observation -----------------------------------------------------------

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after every command, fault injection and step."""
        self._listeners.append(callback)

    @property
    def relay_count(self) -> int:
        """Number of relays (= cells or modules)."""
        return self.config.relays

    def relay_on(self, n: int) -> bool:
        """Relay ``n``'s coil is driven (what the state topic reports)."""
        return self._coil[self._index(n)]

    def relay_closed(self, n: int) -> bool:
        """Relay ``n``'s contacts are really closed."""
        return self._contact[self._index(n)]

    def cycles(self, n: int) -> int:
        """Contact operations of relay ``n`` (all of them)."""
        return self._cycles[self._index(n)]

    def load_cycles(self, n: int) -> int:
        """Contact operations of relay ``n`` that switched current."""
        return self._load_cycles[self._index(n)]

    def wear(self, n: int) -> float:
        """Fraction of relay ``n``'s life used (load ops at 100k, dry ops at 1M)."""
        i = self._index(n)
        dry = self._cycles[i] - self._load_cycles[i]
        return self._load_cycles[i] / self.config.load_life + dry / self.config.dry_life

    def delivered_ah(self, n: int) -> float:
        """Charge pushed through relay ``n`` in Ah."""
        return self._delivered[self._index(n)] / 3600.0

    @property
    def dcdc_on(self) -> bool:
        """The DC/DC enable pin (what the state topic reports)."""
        return self._dcdc_enabled

    @property
    def dcdc_stuck(self) -> bool:
        """A DC/DC-stuck-on fault is injected (it ignores its enable pin)."""
        return self._dcdc_stuck_on

    @property
    def dcdc_running(self) -> bool:
        """The DC/DC really delivers (enabled, or stuck on)."""
        return self._dcdc_enabled or self._dcdc_stuck_on

    def closed_relays(self) -> list[int]:
        """Relays whose contacts are closed (1-based)."""
        return [i + 1 for i, closed in enumerate(self._contact) if closed]

    @property
    def output_current(self) -> float:
        """Current the DC/DC pushes into a cell now, in A."""
        if self.dcdc_running and len(self.closed_relays()) == 1:
            return self.current_setpoint
        return 0.0

    @property
    def lease_active(self) -> bool:
        """A controller holds a lease (protocol 2)."""
        return self._lease_until is not None

    @property
    def lease_remaining(self) -> float | None:
        """Seconds until the lease expires without a renewal (None: no lease)."""
        return None if self._lease_until is None else max(self._lease_until - self.time, 0.0)

    @property
    def switching_off(self) -> bool:
        """The device runs its own safe shutdown (a lease ended)."""
        return self._switching_off_since is not None

    @property
    def all_off(self) -> bool:
        """Enable pin off and no relay coil driven."""
        return not self._dcdc_enabled and not any(self._coil)

    def lease_report(self) -> dict[str, object]:
        """The lease as the device reports it (protocol 2's ``lease`` topic)."""
        return {
            "active": self.lease_active,
            "lease_s": self.lease_s,
            "holder": self.lease_holder,
            "last_end": self.last_lease_end,
            **self.lease_ends,
            "refused": self.refused,
            "last_refusal": self.last_refusal,
        }

    # --- commands (as the MQTT adapter receives them) --------------------------

    def set_relay(self, n: int, on: bool) -> bool:
        """Drive relay ``n``; False when refused (a second relay is also a fault)."""
        i = self._index(n)
        if on and not self._coil[i] and self._refuse_on():
            return False
        if on and not self._coil[i] and any(c for j, c in enumerate(self._coil) if j != i):
            # Two cells in parallel through the relays is a dead short: refuse.
            others = [j + 1 for j, c in enumerate(self._coil) if c and j != i]
            self._record(FAULT_TWO_RELAYS, n, f"relay {others[0]} is already on")
            self._changed()
            return False
        self._coil[i] = on
        if not self._stuck[i]:
            self._move_contact(i, on)
        self._changed()
        return True

    def set_dcdc(self, on: bool) -> bool:
        """Drive the DC/DC enable pin (a stuck-on DC/DC keeps running); False if refused."""
        if on and not self._dcdc_enabled:
            if self._refuse_on():
                return False
            self._dcdc_on_since = self.time
            self.dcdc_starts += 1
        if not on:
            self._dcdc_on_since = None
        self._dcdc_enabled = on
        self._changed()
        return True

    def grant_lease(self, lease_s: float | None = None, holder: str | None = None) -> bool:
        """Grant or renew the controller's lease; False if refused (protocol 1, bad length)."""
        duration = self.config.lease_s if lease_s is None else lease_s
        if self.config.protocol < 2 or not (
            math.isfinite(duration) and 0 < duration <= self.config.max_lease_s
        ):
            return False
        self._lease_until = self.time + duration
        self.lease_s = duration
        self.lease_holder = holder
        self.lease_grants += 1
        self._changed()
        return True

    def end_lease(self, how: str) -> None:
        """The lease ends (``LEASE_EXPIRED``, ``LEASE_WILL``, ``LEASE_RELEASED``): all off."""
        if how not in LEASE_ENDS:
            raise ValueError(f"unknown lease end {how!r}")
        if self._lease_until is None:
            return
        self._lease_until = None
        self.lease_ends[how] += 1
        self.last_lease_end = how
        if not self.all_off:
            self.self_shutdowns += 1
            self._switching_off_since = self.time
            self._dcdc_enabled = False  # step one of the safe order, at once
            self._dcdc_on_since = None
        self._changed()

    def set_current(self, amps: float) -> None:
        """Set the DC/DC's constant-current setpoint (0 < amps <= rating)."""
        if not 0 < amps <= self.config.max_current:
            raise ValueError(f"current must be in (0, {self.config.max_current}] A")
        self.current_setpoint = amps
        self._changed()

    def clear_fault(self) -> None:
        """Acknowledge the latched fault (the history in ``faults`` stays)."""
        self.fault = None
        self._changed()

    def _refuse_on(self) -> bool:
        """Protocol 2: an "on" needs a lease, no latched fault, no shutdown under way."""
        if self.config.protocol < 2:
            return False
        if self._switching_off_since is not None:
            reason = REFUSED_SWITCHING_OFF
        elif self._lease_until is None:
            reason = REFUSED_NO_LEASE
        elif self.fault is not None:
            reason = REFUSED_FAULT
        else:
            return False
        self.refused += 1
        self.last_refusal = reason
        self._changed()
        return True

    # --- fault injection ------------------------------------------------------------

    def stick_relay(self, n: int, closed: bool | None = None) -> None:
        """Relay ``n`` ignores its coil from now (welded, or at ``closed``)."""
        i = self._index(n)
        if closed is not None and closed != self._contact[i]:
            self._move_contact(i, closed)
        self._stuck[i] = True
        self._changed()

    def unstick_relay(self, n: int) -> None:
        """Relay ``n`` follows its coil again (snaps to it)."""
        i = self._index(n)
        self._stuck[i] = False
        if self._contact[i] != self._coil[i]:
            self._move_contact(i, self._coil[i])
        self._changed()

    def dcdc_stuck_on(self) -> None:
        """The DC/DC runs whatever the enable pin says (ignores off)."""
        self._dcdc_stuck_on = True
        self._changed()

    def repair(self) -> None:
        """Undo every injected fault."""
        self._dcdc_stuck_on = False
        for n in range(1, self.relay_count + 1):
            if self._stuck[n - 1]:
                self.unstick_relay(n)
        self._changed()

    # --- physics ------------------------------------------------------------------

    def step(self, dt: float) -> None:
        """Advance ``dt`` seconds: deliver charge, move the output voltage."""
        if dt <= 0:
            return
        self.time += dt
        current = self.output_current
        closed = self.closed_relays()
        if current > 0:
            i = closed[0] - 1
            self.cells.add_cell_charge(i, current * dt)
            self._delivered[i] += current * dt
        target, tau = self._target()
        # Exact first-order response: any dt is fine, including huge ones.
        self.output_voltage = target + (self.output_voltage - target) * math.exp(-dt / tau)
        self._supervise()
        self._changed()

    def _supervise(self) -> None:
        """Protocol 2's own rules, checked after every step of the physics."""
        if self.config.protocol < 2:
            return
        if self._lease_until is not None and self.time >= self._lease_until:
            self.end_lease(LEASE_EXPIRED)
        on_since = self._dcdc_on_since
        if on_since is not None and self.time - on_since >= self.config.max_charge_s:
            self._dcdc_enabled = False
            self._dcdc_on_since = None
            self._record(FAULT_CHARGE_CAP, None, f"DC/DC on for {self.config.max_charge_s:g} s")
        since = self._switching_off_since
        if since is None:
            return
        # The safe order: the relays open once no current flows (measured), or after
        # settle_time (no measurement, or a DC/DC stuck on: then under load, on purpose).
        no_current = self.config.measures_current and self.output_current <= ZERO_CURRENT_A
        if self.time > since and (no_current or self.time - since >= self.config.settle_time):
            for i in range(self.config.relays):
                if self._coil[i]:
                    self._coil[i] = False
                    if not self._stuck[i]:
                        self._move_contact(i, False)
            self._switching_off_since = None

    def _target(self) -> tuple[float, float]:
        """Where the output voltage heads now, and how fast."""
        closed = self.closed_relays()
        cfg = self.config
        if not closed:
            if self.dcdc_running:
                return cfg.open_circuit_voltage, cfg.rise_tau
            return 0.0, cfg.decay_tau
        volts = [self.cells.cell_voltage(n - 1) for n in closed]
        if len(closed) == 1:
            return volts[0] + self.output_current * cfg.output_resistance, cfg.relay_tau
        return sum(volts) / len(volts), cfg.relay_tau  # shorted cells: somewhere between

    # --- internals ----------------------------------------------------------------

    def _index(self, n: int) -> int:
        if not 1 <= n <= self.config.relays:
            raise ValueError(f"relay {n} out of range 1..{self.config.relays}")
        return n - 1

    def _move_contact(self, i: int, closed: bool) -> None:
        if self._contact[i] == closed:
            return
        # Current flows through this relay if the DC/DC runs while it opens (it was
        # the path) or while it closes (it becomes the path): an arcing operation.
        under_load = self.dcdc_running
        self._contact[i] = closed
        self._cycles[i] += 1
        if under_load:
            self._load_cycles[i] += 1
            self._record(FAULT_SWITCHED_UNDER_LOAD, i + 1, "DC/DC running")
        if closed and len(self.closed_relays()) > 1:
            self._record(FAULT_CELL_SHORT, i + 1, f"closed relays {self.closed_relays()}")

    def _record(self, reason: str, relay: int | None, detail: str) -> None:
        fault = Fault(reason, relay, self.time, detail)
        self.faults.append(fault)
        self.fault = fault

    def _changed(self) -> None:
        for callback in list(self._listeners):
            callback()
