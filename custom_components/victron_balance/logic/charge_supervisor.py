"""The charge modes as one pure state machine: what goes to the GX, tick by tick.

`ChargeSupervisor` owns the user's charge mode (follow the BMS, limited, top balance,
hold at SoC), the top-balance controller, the SoC hold, which BMS DVCC follows and the
DVCC user limits. Once a second `step(view)` takes what the GX shows (`GxView`) and
returns what to send (`Step`): the virtual BMS's document and the settings writes,
each made by `logic.safety`, plus events for the log. Every user action (the select,
the numbers, the services, the buttons) goes through `select_mode`, `set_limits`,
`set_parameters` or `stop_virtual_control`, so every path ends what the previous mode
started (I7).

The rules, mode by mode:

* Follow the BMS: hands off (installing the integration writes nothing); choosing it
  removes the DVCC user limits from the GX.
* Limited: the DVCC user limits hold the user's numbers; written when they or the
  mode change, or when the GX comes back, only from a confirmed pack (I4), never in a
  tug of war with someone editing them on the GX.
* Top balance: the virtual BMS steers; DVCC follows it (`BmsSwitch` borrows
  `BmsInstance`) and the DVCC user limits are lent out (cleared) so they do not cap
  the run. When the run ends (done, aborted, stopped) the next document is safe (I2),
  both are given back, and the mode returns to the one before the run.
* Hold at SoC: the virtual BMS mirrors the real one and blocks charging from the
  target SoC until it has fallen by the hysteresis.
* After virtual control the safe document keeps going out until DVCC follows the real
  BMS again (the "tail"), then stops: the driver vanishes 60 s later by itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .dvcc_limits import ChargeMode, LimitBounds, checked_current, checked_voltage
from .gx_view import GxView
from .safety.bms_switch import BmsSwitch
from .safety.envelope import Document, EnvelopeConfig, VirtualBmsEnvelope, Wish
from .safety.gx_settings import (
    BMS_INSTANCE_PATH,
    MAX_CHARGE_CURRENT_PATH,
    MAX_CHARGE_VOLTAGE_PATH,
    NO_CURRENT_LIMIT,
    SettingWrite,
    WriteBudget,
    WriteRefused,
    checked_write,
)
from .safety.pack import ConfirmedPack
from .safety.real_bms import BmsReading
from .soc_hold import SocHold
from .top_balance.chemistry import ChemistryPreset
from .top_balance.controller import (
    AbortReason,
    Decision,
    Measurements,
    TopBalanceController,
    TopBalanceSettings,
    TopBalanceState,
)
from .top_balance.report import RunReport, report_from

DEFAULT_CURRENT_MAX_A = 200  # the DVCC user current limit's upper bound
SAFE_DCL_A = 100.0  # discharge limit where the real BMS publishes none
DRIVER_GRACE_S = 60.0  # the virtual BMS must be DVCC's BMS this long after a start
TAIL_MAX_S = 180.0  # stop the safe tail after this even if DVCC never switched back
TAIL_MIN_S = 5.0  # safe documents at least this long after control ends
DRIVER_TIMEOUT_S = 60.0  # dbus-mqtt-battery exits this long after the last document
MAX_REPORTS = 20
VIRTUAL_MODES = frozenset({ChargeMode.TOP_BALANCE, ChargeMode.HOLD_AT_SOC})
# Run aborts for what our own readings showed: the safe tail allows no charge.
HAZARDS = frozenset(
    {
        AbortReason.CELL_OVER_VOLTAGE,
        AbortReason.TEMPERATURE,
        AbortReason.VENUS_LOST,
        AbortReason.STALE_DATA,
        AbortReason.IMPLAUSIBLE_DATA,
    }
)


class Refused(Exception):
    """A user action that cannot be done now; `key` is the translation key."""

    def __init__(self, key: str, placeholders: Mapping[str, str] | None = None) -> None:
        super().__init__(key)
        self.key = key
        self.placeholders = dict(placeholders or {})


class EventKind(StrEnum):
    """What happened in a step (logged by the Home Assistant side)."""

    TOP_BALANCE_STARTED = "top_balance_started"
    TOP_BALANCE_DONE = "top_balance_done"
    TOP_BALANCE_ABORTED = "top_balance_aborted"
    TOP_BALANCE_STOPPED = "top_balance_stopped"
    HOLD_STARTED = "hold_started"
    HOLD_STOPPED = "hold_stopped"
    HOLD_ENDED = "hold_ended"  # ended by a safety condition, not the user
    VIRTUAL_BMS_MISSING = "virtual_bms_missing"
    BMS_CHANGED_ON_GX = "bms_changed_on_gx"
    WRITE_REFUSED = "write_refused"
    TAIL_TIMEOUT = "tail_timeout"


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened."""

    kind: EventKind
    detail: str = ""


@dataclass
class Step:
    """What to send now."""

    document: Document | None = None
    writes: list[SettingWrite] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


@dataclass
class ChargeSettings:
    """What the user asked for (the mode and the DVCC user limits)."""

    mode: ChargeMode = ChargeMode.FOLLOW_BMS
    current_a: float = 50.0
    voltage_v: float | None = None  # None: the top of the pack's window until set

    def to_dict(self) -> dict[str, Any]:
        """Stored form."""
        return {"mode": self.mode.value, "current_a": self.current_a, "voltage_v": self.voltage_v}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChargeSettings:
        """From the store; ValueError when unreadable."""
        try:
            voltage = data.get("voltage_v")
            return cls(
                ChargeMode(data["mode"]),
                float(data["current_a"]),
                None if voltage is None else float(voltage),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"unreadable charge settings: {err}") from err


@dataclass
class TopBalanceParams:
    """The next run's parameters and the hold target."""

    target_cell_v: float | None = None  # None: the chemistry's own target
    max_current_a: float = 70.0
    bleed_current_a: float = 1.0
    hold_target_pct: float = 80.0

    def to_dict(self) -> dict[str, Any]:
        """Stored form."""
        return {
            "target_cell_v": self.target_cell_v,
            "max_current_a": self.max_current_a,
            "bleed_current_a": self.bleed_current_a,
            "hold_target_pct": self.hold_target_pct,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TopBalanceParams:
        """From the store; ValueError when unreadable."""
        try:
            target = data.get("target_cell_v")
            return cls(
                target_cell_v=None if target is None else float(target),
                max_current_a=float(data.get("max_current_a", 70.0)),
                bleed_current_a=float(data.get("bleed_current_a", 1.0)),
                hold_target_pct=float(data.get("hold_target_pct", 80.0)),
            )
        except (TypeError, ValueError) as err:
            raise ValueError(f"unreadable top-balance parameters: {err}") from err

    def cell_target(self, preset: ChemistryPreset) -> float:
        """The cell target in force: the user's if it fits the chemistry, else its own."""
        target = self.target_cell_v
        if target is None or not preset.target_min_v <= target <= preset.max_cell_v:
            return preset.cell_target_v
        return target


def limit_bounds(pack: ConfirmedPack | None, preset: ChemistryPreset) -> LimitBounds | None:
    """What the DVCC user limits accept for a confirmed pack (None: no pack yet)."""
    if pack is None:
        return None
    return LimitBounds.for_pack(
        pack.cells, preset.min_cell_v, preset.max_cell_v, DEFAULT_CURRENT_MAX_A
    )


def envelope_config(settings: TopBalanceSettings) -> EnvelopeConfig:
    """The envelope of a run (and of a hold, built with the same settings)."""
    preset = settings.preset
    return EnvelopeConfig(
        cells=settings.cells,
        cap_cell_v=min(settings.target_cell_v, preset.ovp_v - settings.ovp_margin_v),
        safe_cvl_cell_v=settings.normal_cvl_v / settings.cells,
        safe_ccl_a=settings.normal_ccl_a,
        safe_dcl_a=SAFE_DCL_A,
    )


class ChargeSupervisor:
    """One Venus OS system's charge control; see the module docstring."""

    def __init__(self, virtual_instance: int) -> None:
        self.settings = ChargeSettings()
        self.params = TopBalanceParams()
        self.controller = TopBalanceController()
        self.decision: Decision | None = None
        self.hold: SocHold | None = None
        self.return_mode = ChargeMode.FOLLOW_BMS
        self.switch = BmsSwitch(virtual_instance)
        self.envelope = VirtualBmsEnvelope()
        self.budget = WriteBudget()
        self.reports: list[RunReport] = []
        # The settings of the virtual control going on (or just ended, for the tail).
        self.control: TopBalanceSettings | None = None
        self.control_since: float | None = None  # mono time of the start or the resume
        self.tail_since: float | None = None  # a safe tail started (its timeout)
        self.tail_gave_up = False
        # DVCC user limits a top balance cleared, to give back afterwards.
        self.lent: dict[str, float] | None = None
        self.release_limits = False  # leaving Limited: remove our limits
        self.apply_due = True  # write the DVCC user limits that differ
        self.shutting_down = False
        self.last_document: Document | None = None
        self.last_document_mono: float | None = None
        self.stale_since: float | None = None  # a run's documents are blind since
        self.refused: str | None = None  # the last refused write (diagnostics)
        self._was_ready = False

    # ------------------------------------------------------------------ inspection
    @property
    def running(self) -> bool:
        """A top-balance run is going on."""
        return self.controller.state in (
            TopBalanceState.BULK,
            TopBalanceState.REGULATE,
            TopBalanceState.HOLD,
        )

    @property
    def holding(self) -> bool:
        """Hold at SoC is in force."""
        return self.hold is not None and self.settings.mode is ChargeMode.HOLD_AT_SOC

    @property
    def need_virtual(self) -> bool:
        """The virtual BMS should be DVCC's BMS now."""
        return not self.shutting_down and (self.running or self.holding)

    @property
    def in_tail(self) -> bool:
        """Safe documents still go out after virtual control ended."""
        return self.tail_since is not None

    def wanted_limits(self, view: GxView) -> dict[str, float]:
        """The DVCC user limits the current mode wants on the GX (empty: hands off)."""
        if self.running:
            return {MAX_CHARGE_CURRENT_PATH: NO_CURRENT_LIMIT, MAX_CHARGE_VOLTAGE_PATH: 0.0}
        if self.settings.mode is ChargeMode.LIMITED:
            bounds = limit_bounds(view.pack, view.preset)
            wanted: dict[str, float] = {}
            with suppress(ValueError):  # out of range: nothing to write (set_limits checks)
                wanted[MAX_CHARGE_CURRENT_PATH] = checked_current(
                    self.settings.current_a,
                    bounds or LimitBounds(DEFAULT_CURRENT_MAX_A, 0.0, 0.0),
                )
            if bounds is not None:
                voltage = self.settings.voltage_v
                wanted[MAX_CHARGE_VOLTAGE_PATH] = (
                    bounds.voltage_max_v if voltage is None else voltage
                )
            return wanted
        if self.lent is not None:
            return dict(self.lent)
        if self.release_limits:
            return {MAX_CHARGE_CURRENT_PATH: NO_CURRENT_LIMIT, MAX_CHARGE_VOLTAGE_PATH: 0.0}
        return {}

    # ------------------------------------------------------------------ actions
    def select_mode(self, mode: ChargeMode, view: GxView) -> list[Event]:
        """Switch the mode; Refused when it cannot start now. Ends what the old one began."""
        if mode is ChargeMode.TOP_BALANCE:
            return self._start_top_balance(view)
        if mode is ChargeMode.HOLD_AT_SOC:
            return self._start_hold(view)
        self.return_mode = mode  # a run ended below goes back here, not into a hold
        events = self._end_virtual_control(view, EventKind.TOP_BALANCE_STOPPED, "stopped")
        # Choosing "follow the BMS" means: no user limits on the GX (ours or left there).
        self.release_limits = mode is ChargeMode.FOLLOW_BMS
        self.settings.mode = mode
        self.apply_due = True
        return events

    def stop_virtual_control(self, view: GxView) -> list[Event]:
        """Stop a top balance or a hold: back to the mode before it (never into a hold)."""
        if self.settings.mode not in VIRTUAL_MODES:
            return []
        target = self.return_mode
        if target in VIRTUAL_MODES:
            target = ChargeMode.FOLLOW_BMS
        return self.select_mode(target, view)

    def set_limits(
        self, view: GxView, *, current_a: float | None = None, voltage_v: float | None = None
    ) -> None:
        """New DVCC user limits (applied in Limited mode); Refused when out of bounds."""
        bounds = limit_bounds(view.pack, view.preset)
        if current_a is not None:
            try:
                current_a = checked_current(
                    current_a, bounds or LimitBounds(DEFAULT_CURRENT_MAX_A, 0.0, 0.0)
                )
            except ValueError as err:
                raise Refused(
                    "invalid_charge_current",
                    {"value": str(current_a), "min": "0", "max": str(DEFAULT_CURRENT_MAX_A)},
                ) from err
        if voltage_v is not None:
            if bounds is None:
                raise Refused("pack_unknown")
            try:
                voltage_v = checked_voltage(voltage_v, bounds)
            except ValueError as err:
                raise Refused(
                    "invalid_charge_voltage",
                    {
                        "value": str(voltage_v),
                        "min": str(bounds.voltage_min_v),
                        "max": str(bounds.voltage_max_v),
                    },
                ) from err
        if current_a is not None:
            self.settings.current_a = current_a
        if voltage_v is not None:
            self.settings.voltage_v = voltage_v
        self.apply_due = True

    def set_parameters(
        self,
        *,
        target_cell_v: float | None = None,
        max_current_a: float | None = None,
        bleed_current_a: float | None = None,
        hold_target_pct: float | None = None,
    ) -> None:
        """Store parameters (checked by the caller); a run in progress keeps its own."""
        if target_cell_v is not None:
            self.params.target_cell_v = target_cell_v
        if max_current_a is not None:
            self.params.max_current_a = max_current_a
        if bleed_current_a is not None:
            self.params.bleed_current_a = bleed_current_a
        if hold_target_pct is not None:
            self.params.hold_target_pct = hold_target_pct
            if self.hold is not None:
                self.hold.target_pct = hold_target_pct

    def run_settings(self, view: GxView) -> TopBalanceSettings:
        """Settings for a run on the pack as it is; Refused when that is not known."""
        pack = view.pack
        if pack is None or not view.battery_items:
            raise Refused("pack_unknown")
        capacity = view.battery_items.get("/InstalledCapacity")
        return TopBalanceSettings(
            cells=pack.cells,
            preset=view.preset,
            target_cell_v=self.params.cell_target(view.preset),
            dc_coupled_feed_in=view.feed_in,
            max_current_a=self.params.max_current_a,
            bleed_current_a=self.params.bleed_current_a,
            capacity_ah=capacity if isinstance(capacity, float) and capacity > 0 else None,
        )

    def _checked_start(self, view: GxView) -> TopBalanceSettings:
        if view.pack is not None and view.pack.instance == self.switch.virtual_instance:
            # The battery we follow sits where our virtual BMS would: they would mix.
            raise Refused(
                "virtual_bms_instance_in_use", {"instance": str(self.switch.virtual_instance)}
            )
        settings = self.run_settings(view)
        if view.dvcc_on is not True:
            raise Refused("dvcc_required")
        reading = view.reading(settings.cells)
        if reading is None or not reading.complete:
            raise Refused("pack_unknown")
        return settings

    def _start_top_balance(self, view: GxView) -> list[Event]:
        if self.running:
            return []
        settings = self._checked_start(view)
        if self.settings.mode is not ChargeMode.TOP_BALANCE:
            self.return_mode = self.settings.mode
        self.decision = self.controller.start(view.now_s, settings)
        self._take_control(settings, view)
        self.settings.mode = ChargeMode.TOP_BALANCE
        current = view.setting(MAX_CHARGE_CURRENT_PATH)
        voltage = view.setting(MAX_CHARGE_VOLTAGE_PATH)
        if self.lent is None and (current not in (None, -1.0) or voltage not in (None, 0.0)):
            # DVCC takes the lower limit: a user limit would cap the run. Given back after.
            self.lent = {
                MAX_CHARGE_CURRENT_PATH: -1.0 if current is None else current,
                MAX_CHARGE_VOLTAGE_PATH: 0.0 if voltage is None else voltage,
            }
        self.apply_due = True
        return [Event(EventKind.TOP_BALANCE_STARTED, f"{settings.cells} cells")]

    def _start_hold(self, view: GxView) -> list[Event]:
        settings = self._checked_start(view)
        events: list[Event] = []
        if self.running:
            events += self._end_run(view, "stopped", EventKind.TOP_BALANCE_STOPPED)
        if self.hold is None or self.settings.mode is not ChargeMode.HOLD_AT_SOC:
            self.hold = SocHold(self.params.hold_target_pct)
            events.append(Event(EventKind.HOLD_STARTED, f"{self.params.hold_target_pct:.0f} %"))
        self._take_control(settings, view)
        self.settings.mode = ChargeMode.HOLD_AT_SOC
        self.release_limits = False
        return events

    def _take_control(self, settings: TopBalanceSettings, view: GxView) -> None:
        self.control = settings
        self.control_since = view.mono_s
        self.tail_since = None
        self.release_limits = False

    def _end_virtual_control(self, view: GxView, kind: EventKind, reason: str) -> list[Event]:
        events: list[Event] = []
        if self.running:
            events += self._end_run(view, reason, kind)
        if self.hold is not None:
            self.hold = None
            events.append(
                Event(
                    EventKind.HOLD_STOPPED if reason == "stopped" else EventKind.HOLD_ENDED, reason
                )
            )
            self._start_tail(view)
        return events

    def _end_run(self, view: GxView, reason: str, kind: EventKind) -> list[Event]:
        self.decision = self.controller.abort(reason, view.now_s)
        return self._finished(view, kind, reason)

    def _finished(self, view: GxView, kind: EventKind, detail: str) -> list[Event]:
        """A run ended (done or aborted): report, back to the mode before it."""
        report = report_from(self.controller)
        if report is not None and (not self.reports or self.reports[-1] != report):
            self.reports = [*self.reports, report][-MAX_REPORTS:]
        mode = self.return_mode
        if mode is ChargeMode.HOLD_AT_SOC:
            self.hold = SocHold(self.params.hold_target_pct)
        self.settings.mode = mode
        self.apply_due = True
        if not self.holding:
            self._start_tail(view)
        return [Event(kind, detail)]

    def _start_tail(self, view: GxView) -> None:
        if self.control is not None and self.tail_since is None:
            self.tail_since = view.mono_s
            self.tail_gave_up = False

    # ------------------------------------------------------------------ the step
    def step(self, view: GxView) -> Step:
        """One second: decide, then build what to send (through `logic.safety`)."""
        step = Step()
        ready = view.alive and view.pack is not None
        if ready and not self._was_ready:
            self.apply_due = True  # the GX is back, or the pack became known
        self._was_ready = ready
        if self.running:
            step.events += self._run_tick(view)
        elif self.holding:
            step.events += self._hold_tick(view)
        step.document = self._document(view, step)
        step.writes = self._writes(view, step)
        return step

    def _run_tick(self, view: GxView) -> list[Event]:
        settings = self.controller.settings
        assert settings is not None
        self.decision = self.controller.step(self._measurements(view, settings))
        if self.running:
            problem = self._control_problem(view)
            if problem is not None:
                self.decision = self.controller.abort(problem, view.now_s)
                kind = (
                    EventKind.VIRTUAL_BMS_MISSING
                    if problem == EventKind.VIRTUAL_BMS_MISSING.value
                    else EventKind.BMS_CHANGED_ON_GX
                )
                return [
                    Event(kind, problem),
                    *self._finished(view, EventKind.TOP_BALANCE_ABORTED, problem),
                ]
            return []
        if self.controller.state is TopBalanceState.DONE:
            return self._finished(view, EventKind.TOP_BALANCE_DONE, "done")
        return self._finished(
            view, EventKind.TOP_BALANCE_ABORTED, self.controller.abort_reason or ""
        )

    def _hold_tick(self, view: GxView) -> list[Event]:
        problem = self._control_problem(view)
        if problem is None:
            return []
        self.hold = None
        self.settings.mode = ChargeMode.FOLLOW_BMS
        self.return_mode = ChargeMode.FOLLOW_BMS
        self._start_tail(view)
        kind = (
            EventKind.VIRTUAL_BMS_MISSING
            if problem == EventKind.VIRTUAL_BMS_MISSING.value
            else EventKind.BMS_CHANGED_ON_GX
        )
        return [Event(kind, problem), Event(EventKind.HOLD_ENDED, problem)]

    def _control_problem(self, view: GxView) -> str | None:
        """Why virtual control cannot go on: the GX follows someone else."""
        if self.switch.overridden:
            self.switch.overridden = False
            return EventKind.BMS_CHANGED_ON_GX.value
        since = self.control_since if self.control_since is not None else view.mono_s
        if not view.virtual_active and view.mono_s - since >= DRIVER_GRACE_S:
            return EventKind.VIRTUAL_BMS_MISSING.value
        return None

    def _measurements(self, view: GxView, settings: TopBalanceSettings) -> Measurements:
        reading = view.reading(settings.cells)
        if reading is None:
            return Measurements(view.now_s, [], None, None, None, venus_alive=view.alive)
        return Measurements(
            now_s=view.now_s,
            cell_voltages=list(reading.cells),
            pack_voltage=reading.voltage_v,
            pack_current=reading.current_a,
            temperature_c=reading.temperature_c,
            bms_alarm=bool(reading.alarmed()),
            venus_alive=view.alive,
            bms_allows_charge=reading.allow_charge,
        )

    # ------------------------------------------------------------------ document
    def _wish(self, view: GxView, control: TopBalanceSettings) -> Wish:
        if self.running and self.decision is not None:
            decision = self.decision
            return Wish(
                cvl_v=decision.cvl_v,
                ccl_a=decision.ccl_a,
                allow_charge=decision.allow_to_charge,
                elevate_cvl=decision.active,
            )
        hold = self.hold
        if self.holding and hold is not None:
            reading = view.reading(control.cells)
            soc = None if reading is None else reading.soc_pct
            allowed = hold.charge_allowed(soc)
            return Wish(ccl_a=None if allowed else 0.0, allow_charge=True)
        # After control: a non-elevated CVL and the normal current (I2); none at all
        # after a run we stopped for a hazard we saw ourselves (the real BMS's own
        # blocks and alarms hold anyway, for as long as it says so).
        if self.controller.abort_reason in HAZARDS:
            return Wish(cvl_v=control.normal_cvl_v, ccl_a=0.0, allow_charge=False)
        return Wish(cvl_v=control.normal_cvl_v, ccl_a=control.normal_ccl_a)

    def _document(self, view: GxView, step: Step) -> Document | None:
        control = self.control
        if control is None:
            return None
        if not self.need_virtual and not self._tail_wanted(view, step):
            return None
        # A silent GX is stale input too (I3): the last complete reading, no charge.
        reading = view.reading(control.cells) if view.alive else None
        document = self.envelope.document(
            self._wish(view, control), reading, envelope_config(control)
        )
        if document is not None:
            self.last_document_mono = view.mono_s
            self._stale_run(view, document, step)
        self.last_document = document
        return document

    def _stale_run(self, view: GxView, document: Document, step: Step) -> None:
        """I3: blind documents are safe, but a run does not go on blind for long."""
        if not document.stale or not self.running:
            self.stale_since = None
            return
        settings = self.controller.settings
        assert settings is not None
        since = self.stale_since = self.stale_since or view.mono_s
        if view.mono_s - since >= settings.stale_after_s:
            self.decision = self.controller.abort(AbortReason.STALE_DATA, view.now_s)
            step.events += self._finished(view, EventKind.TOP_BALANCE_ABORTED, "stale_data")

    def _tail_wanted(self, view: GxView, step: Step) -> bool:
        """Outside control: a safe document while DVCC may still follow the virtual BMS.

        Always for the first `TAIL_MIN_S` after control ended (what we see of systemcalc
        may lag what it does), then while we still borrow `BmsInstance` or DVCC follows
        the virtual BMS. Never one that would re-create a driver that has gone; the
        driver exits 60 s after the last document by itself.
        """
        last = self.last_document_mono
        recent = last is not None and view.mono_s - last < DRIVER_TIMEOUT_S
        if not (view.switch.virtual_present or recent):
            self.tail_since = None
            self.tail_gave_up = False
            return False
        since = self.tail_since
        young = since is not None and view.mono_s - since < TAIL_MIN_S
        if not (young or self.switch.borrowed or view.virtual_active):
            self.tail_since = None
            self.tail_gave_up = False
            return False
        if self.tail_gave_up:
            return False
        if since is None:
            self.tail_since = view.mono_s
        elif view.mono_s - since >= TAIL_MAX_S:
            # The last document was safe; the driver keeps it until it exits.
            self.tail_gave_up = True
            step.events.append(Event(EventKind.TAIL_TIMEOUT, "DVCC still follows the virtual BMS"))
            return False
        return True

    # ------------------------------------------------------------------ writes
    def _writes(self, view: GxView, step: Step) -> list[SettingWrite]:
        if not view.alive:
            return []  # unconfirmable (venus-observed 16): wait until the GX is back
        wanted: dict[str, float] = {}
        bms = self.switch.wanted(self.need_virtual, view.switch)
        if bms is not None:
            wanted[BMS_INSTANCE_PATH] = bms
        limits = self.wanted_limits(view)
        if self.apply_due:
            pending = {
                path: value
                for path, value in limits.items()
                if not _same(view.settings.get(path), value)
            }
            if not pending:
                self._limits_confirmed()
            wanted |= pending
        writes: list[SettingWrite] = []
        bounds = limit_bounds(view.pack, view.preset)
        for path, value in wanted.items():
            # Giving everything back at unload does not wait for the flash spacing.
            if not self.shutting_down and self.budget.wait_s(path, view.mono_s) > 0:
                continue
            try:
                write = checked_write(path, value, pack=view.pack, bounds=bounds, why=self._why())
            except WriteRefused as err:
                if self.refused != str(err):
                    step.events.append(Event(EventKind.WRITE_REFUSED, str(err)))
                self.refused = str(err)
                continue
            self.budget.record(path, view.mono_s)
            writes.append(write)
        return writes

    def _limits_confirmed(self) -> None:
        """The GX holds what the mode wants: nothing more to write until a change."""
        self.apply_due = False
        if not self.running:
            self.lent = None
        if self.settings.mode is ChargeMode.FOLLOW_BMS:
            self.release_limits = False

    def _why(self) -> str:
        if self.running:
            return "top balance"
        if self.holding:
            return "hold at SoC"
        return self.settings.mode.value

    def confirmed(self, write: SettingWrite) -> None:
        """The GX echoed a write."""
        if write.path == BMS_INSTANCE_PATH:
            self.switch.confirmed(int(write.value))

    # ------------------------------------------------------------------ shutdown
    def shutdown(self, view: GxView, reason: str) -> Step:
        """Unload or stop: a run is aborted; everything borrowed is given back now.

        A hold stays the chosen mode and starts again with the integration.
        """
        events: list[Event] = []
        if self.running:
            events += self._end_run(view, reason, EventKind.TOP_BALANCE_ABORTED)
        self.shutting_down = True
        self._start_tail(view)
        step = self.step(view)
        step.events[:0] = events
        return step

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """Everything that must survive a restart."""
        return {
            "settings": self.settings.to_dict(),
            "params": self.params.to_dict(),
            "return_mode": self.return_mode.value,
            "controller": self.controller.to_dict(),
            "reports": [report.to_dict() for report in self.reports],
            "switch": self.switch.to_dict(),
            "lent": self.lent,
            "control": None if self.control is None else self.control.to_dict(),
            "last_reading": None
            if self.envelope.last_complete is None
            else self.envelope.last_complete.to_dict(),
        }

    @classmethod
    def from_dict(
        cls, virtual_instance: int, data: Mapping[str, Any], now_s: float, mono_s: float
    ) -> tuple[ChargeSupervisor, list[str]]:
        """Restore; a run resumes only if recent (else it is judged aborted).

        Returns the supervisor and what could not be read (for the log).
        """
        supervisor = cls(virtual_instance)
        problems: list[str] = []
        if (settings := data.get("settings")) is not None:
            try:
                supervisor.settings = ChargeSettings.from_dict(settings)
            except ValueError as err:
                problems.append(str(err))
        if (params := data.get("params")) is not None:
            try:
                supervisor.params = TopBalanceParams.from_dict(params)
            except ValueError as err:
                problems.append(str(err))
        try:
            supervisor.return_mode = ChargeMode(data.get("return_mode", "follow_bms"))
        except ValueError:
            problems.append("unreadable return mode")
        for item in data.get("reports", []):
            try:
                supervisor.reports.append(RunReport.from_dict(item))
            except ValueError as err:
                problems.append(str(err))
        supervisor.switch = BmsSwitch.from_dict(virtual_instance, data.get("switch"))
        lent = data.get("lent")
        if isinstance(lent, dict) and all(isinstance(v, int | float) for v in lent.values()):
            supervisor.lent = {str(k): float(v) for k, v in lent.items()}
        if (controller := data.get("controller")) is not None:
            try:
                supervisor.controller = TopBalanceController.from_dict(controller, now_s)
            except ValueError as err:
                problems.append(str(err))
        control = data.get("control")
        if control is not None:
            try:
                supervisor.control = TopBalanceSettings.from_dict(control)
            except (KeyError, TypeError, ValueError) as err:
                problems.append(f"unreadable control settings: {err}")
        if (reading := data.get("last_reading")) is not None:
            try:
                supervisor.envelope.last_complete = BmsReading.from_dict(reading)
            except ValueError as err:
                problems.append(str(err))
        supervisor._resume(mono_s)
        return supervisor, problems

    def _resume(self, mono_s: float) -> None:
        self.control_since = mono_s  # the driver's grace counts from now
        if self.running:
            self.control = self.controller.settings
            return
        if self.settings.mode is ChargeMode.TOP_BALANCE:
            # Not resumed (too old, or it ended while we were away): judge it, go back.
            report = report_from(self.controller)
            if report is not None and (not self.reports or self.reports[-1] != report):
                self.reports = [*self.reports, report][-MAX_REPORTS:]
            mode = self.return_mode
            self.settings.mode = (
                mode if mode is not ChargeMode.TOP_BALANCE else (ChargeMode.FOLLOW_BMS)
            )
        if self.settings.mode is ChargeMode.HOLD_AT_SOC:
            if self.control is None:
                self.settings.mode = ChargeMode.FOLLOW_BMS  # nothing to hold with
            else:
                self.hold = SocHold(self.params.hold_target_pct)
                return


def _same(current: Any, wanted: float) -> bool:
    if isinstance(current, bool) or not isinstance(current, int | float):
        return False
    return math.isclose(float(current), float(wanted), abs_tol=1e-6)


__all__ = [
    "AbortReason",
    "ChargeSettings",
    "ChargeSupervisor",
    "Event",
    "EventKind",
    "GxView",
    "Refused",
    "Step",
    "TopBalanceParams",
]
