"""Property-based tests of the safety invariants on the pure layer (I1-I5, I7).

A `RuleBasedStateMachine` drives the charge supervisor against the model GX with random
real-BMS states (limits, permissions, alarms, temperature), cell readings (normal,
rejected, vanished, a driver half-way through restarting), user actions from every path
(the select, the numbers, the services), data gaps and restarts at any point (a crash
or a clean unload), and checks after every step what went to the GX.
"""

from __future__ import annotations

import math
import os
from contextlib import suppress
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from custom_components.victron_balance.logic.charge_supervisor import (
    ChargeSupervisor,
    EventKind,
    Refused,
    Step,
)
from custom_components.victron_balance.logic.dvcc_limits import ChargeMode
from custom_components.victron_balance.logic.safety.gx_settings import (
    BMS_INSTANCE_PATH,
    MAX_CHARGE_VOLTAGE_PATH,
)
from custom_components.victron_balance.logic.safety.real_bms import CHARGE_BLOCKING_ALARMS
from tests.logic.safety.model_gx import ALARMS, REAL, VIRTUAL, ModelGx

EPS = 1e-6
ENDS = frozenset(
    {
        EventKind.TOP_BALANCE_STOPPED,
        EventKind.TOP_BALANCE_ABORTED,
        EventKind.TOP_BALANCE_DONE,
        EventKind.HOLD_STOPPED,
        EventKind.HOLD_ENDED,
    }
)
cell_volts = st.floats(3.0, 3.64, allow_nan=False)
maybe_limit = st.one_of(st.none(), st.floats(0.0, 200.0, allow_nan=False))


class SafetyMachine(RuleBasedStateMachine):
    """One GX, one supervisor, random everything."""

    def __init__(self) -> None:
        super().__init__()
        self.gx = ModelGx(cells=4)
        self.gx.settled()
        self.supervisor = ChargeSupervisor(VIRTUAL)
        self.last_step: Step | None = None
        self.echo = True
        self.ever_complete = False
        self.step_now()

    # ------------------------------------------------------------------ the loop
    def step_now(self, action_events: list[Any] | None = None) -> None:
        """What the runner does after every tick and every action."""
        step = self.supervisor.step(self.gx.view())
        if action_events:
            step.events[:0] = action_events
        self.check(step)
        self.gx.receive_document(step.document)
        for write in step.writes:
            if self.gx.receive_write(write, echo=self.echo):
                self.supervisor.confirmed(write)
        self.last_step = step

    @rule(seconds=st.sampled_from([1.0, 1.0, 1.0, 2.0, 5.0, 31.0]))
    def tick(self, seconds: float) -> None:
        self.gx.tick(seconds)
        self.step_now()

    # ------------------------------------------------------------------ the real BMS
    @rule(
        ccl=maybe_limit,
        dcl=maybe_limit,
        cvl=st.one_of(st.none(), st.floats(10.0, 15.0, allow_nan=False)),
        allow_charge=st.sampled_from([None, 0, 1, 1]),
        allow_discharge=st.sampled_from([None, 0, 1, 1]),
    )
    def real_limits(
        self,
        ccl: float | None,
        dcl: float | None,
        cvl: float | None,
        allow_charge: int | None,
        allow_discharge: int | None,
    ) -> None:
        real = self.gx.real
        real.ccl, real.dcl, real.cvl = ccl, dcl, cvl
        real.allow_charge, real.allow_discharge = allow_charge, allow_discharge
        self.gx.update_real()

    @rule(name=st.sampled_from(ALARMS), level=st.sampled_from([0, 0, 1, 2]))
    def real_alarm(self, name: str, level: int) -> None:
        self.gx.real.alarms[name] = level
        self.gx.update_real()

    @rule(temperature=st.one_of(st.none(), st.floats(-20.0, 70.0, allow_nan=False)))
    def temperature(self, temperature: float | None) -> None:
        self.gx.real.temperature = temperature
        self.gx.update_real()

    @rule(volts=st.lists(cell_volts, min_size=4, max_size=4))
    def cells(self, volts: list[float]) -> None:
        self.gx.real.cells = list(volts)
        self.gx.update_real()

    @rule(volts=st.lists(st.floats(3.44, 3.56, allow_nan=False), min_size=4, max_size=4))
    def cells_near_the_top(self, volts: list[float]) -> None:
        # Where a run regulates, holds and finishes.
        self.gx.real.cells = list(volts)
        self.gx.update_real()

    @rule(cell=st.integers(0, 3), kind=st.sampled_from(["rejected", "absent", "high"]))
    def bad_cell(self, cell: int, kind: str) -> None:
        # Rejected: out of range, stored as unknown. Absent: null. High: above OVP.
        volts = {"rejected": 7.2, "absent": None, "high": 3.7}[kind]
        self.gx.real.cells[cell] = volts
        self.gx.update_real()

    @rule(soc=st.floats(0.0, 100.0, allow_nan=False))
    def soc(self, soc: float) -> None:
        self.gx.real.soc = soc
        self.gx.update_real()

    @rule(reports=st.booleans())
    def cell_count_reporting(self, reports: bool) -> None:
        # dbus-mqtt-battery without a cell count in its JSON reports 0 (unknown).
        self.gx.real.reports_cells = reports
        self.gx.update_real()

    @rule()
    def driver_stops(self) -> None:
        self.gx.battery_gone()
        self.gx.systemcalc()
        self.step_now()

    @rule(fraction=st.floats(0.05, 0.95))
    def driver_half_back(self, fraction: float) -> None:
        self.gx.battery_partly_back(fraction)
        self.gx.systemcalc()
        self.step_now()

    @rule()
    def driver_back(self) -> None:
        self.gx.publish_battery()
        self.gx.systemcalc()

    @rule()
    def full_publish(self) -> None:
        self.gx.full_publish()

    @rule(alive=st.booleans())
    def link(self, alive: bool) -> None:
        self.gx.alive = alive

    @rule(echo=st.booleans())
    def write_echoes(self, echo: bool) -> None:
        self.echo = echo

    @rule(bol=st.sampled_from([0, 1, 1]))
    def dvcc(self, bol: int) -> None:
        self.gx.settings["/Settings/Services/Bol"] = bol
        self.gx.send("settings", 0, "/Settings/Services/Bol", bol)

    @rule(value=st.sampled_from([-1, -255, REAL, VIRTUAL]))
    def bms_changed_on_gx(self, value: int) -> None:
        self.gx.settings[BMS_INSTANCE_PATH] = value
        self.gx.send("settings", 0, BMS_INSTANCE_PATH, value)
        self.gx.systemcalc()

    # ------------------------------------------------------------------ the user
    @rule(mode=st.sampled_from(list(ChargeMode)))
    def select_mode(self, mode: ChargeMode) -> None:
        try:
            events = self.supervisor.select_mode(mode, self.gx.view())
        except Refused:
            self.step_now()
            return
        # I7: the mode chosen is the mode in force, and nothing of the old one remains.
        supervisor = self.supervisor
        assert supervisor.settings.mode is mode
        if mode is ChargeMode.TOP_BALANCE:
            assert supervisor.running
        elif mode is ChargeMode.HOLD_AT_SOC:
            assert supervisor.holding
            assert not supervisor.running
        else:
            assert not supervisor.running
            assert not supervisor.holding
        self.step_now(events)

    @rule()
    def stop_virtual_control(self) -> None:
        events = self.supervisor.stop_virtual_control(self.gx.view())
        assert not self.supervisor.running
        assert not self.supervisor.holding
        self.step_now(events)

    @rule(
        current=st.one_of(st.none(), st.floats(-10, 300, allow_nan=False)),
        voltage=st.one_of(st.none(), st.floats(5, 20, allow_nan=False)),
    )
    def set_limits(self, current: float | None, voltage: float | None) -> None:
        mode = self.supervisor.settings.mode
        with suppress(Refused):
            self.supervisor.set_limits(self.gx.view(), current_a=current, voltage_v=voltage)
        assert self.supervisor.settings.mode is mode  # a number never changes the mode
        self.step_now()

    @rule(cell_target=st.floats(3.35, 3.65), hold=st.floats(10, 100))
    def set_parameters(self, cell_target: float, hold: float) -> None:
        self.supervisor.set_parameters(target_cell_v=cell_target, hold_target_pct=hold)
        self.step_now()

    @rule(clean=st.booleans(), seconds=st.sampled_from([1.0, 30.0, 200.0, 400.0]))
    def restart(self, clean: bool, seconds: float) -> None:
        if clean:
            step = self.supervisor.shutdown(self.gx.view(), "unload")
            self.check(step)
            self.gx.receive_document(step.document)
            for write in step.writes:
                if self.gx.receive_write(write, echo=self.echo):
                    self.supervisor.confirmed(write)
        data = self.supervisor.to_dict()
        self.gx.tick(seconds)
        self.supervisor, problems = ChargeSupervisor.from_dict(
            VIRTUAL, data, self.gx.now, self.gx.mono
        )
        assert problems == []
        self.step_now()

    # ------------------------------------------------------------------ invariants
    def check(self, step: Step) -> None:
        """What went out in one step against what the real BMS said at that moment."""
        gx = self.gx
        document = step.document
        items = dict(gx.state.services.get(_key(REAL), {}))
        if document is not None:
            wire = document.limits.wire
            if document.stale:
                # I3: blind, so no charge at all, and never an elevated voltage.
                assert not wire.allow_to_charge
                assert wire.max_charge_current == 0.0
            else:
                self.ever_complete = True
                # I1: never more permissive than the real BMS.
                ccl = _num(items.get("/Info/MaxChargeCurrent"))
                dcl = _num(items.get("/Info/MaxDischargeCurrent"))
                cvl = _num(items.get("/Info/MaxChargeVoltage"))
                control = self.supervisor.control
                assert control is not None
                if ccl is not None:
                    assert wire.max_charge_current <= ccl + EPS
                else:
                    assert wire.max_charge_current <= control.normal_ccl_a + EPS
                if dcl is not None:
                    assert wire.max_discharge_current <= dcl + EPS
                if items.get("/Io/AllowToCharge") is False:
                    assert not wire.allow_to_charge
                if items.get("/Io/AllowToDischarge") is False:
                    assert not wire.allow_to_discharge
                    assert wire.max_discharge_current == 0.0
                blocking = [
                    name for name in CHARGE_BLOCKING_ALARMS if items.get(f"/Alarms/{name}") == 2
                ]
                if blocking:
                    assert not wire.allow_to_charge
                temp = _num(items.get("/Dc/0/Temperature"))
                if temp is not None and not 0.0 <= temp <= 55.0:
                    assert not wire.allow_to_charge
                if not wire.allow_to_charge:
                    assert wire.max_charge_current == 0.0
                cap = control.cells * min(
                    control.target_cell_v, control.preset.ovp_v - control.ovp_margin_v
                )
                assert wire.max_charge_voltage <= cap + EPS
                elevated = self.supervisor.running and (
                    self.supervisor.decision is not None and self.supervisor.decision.active
                )
                if not elevated:
                    # Only an active run may exceed the real BMS's CVL.
                    limit = cvl if cvl is not None else control.normal_cvl_v
                    assert wire.max_charge_voltage <= limit + EPS
            # I2: a stop is safe at once (no elevated CVL once the run has ended).
            if any(event.kind in ENDS for event in step.events):
                assert not self.supervisor.running or not document.limits.wire.allow_to_charge
        elif self.supervisor.need_virtual and self.ever_complete:
            # I3: never silent while in control (a document once there was a reading).
            raise AssertionError("in control but no document")
        for write in step.writes:
            # I4: a charge voltage only from a confirmed pack, inside its window.
            if write.path == MAX_CHARGE_VOLTAGE_PATH and write.value != 0.0:
                cells = gx.tracker.confirmed(gx.mono)
                assert cells is not None
                low = cells.cells * gx.preset.min_cell_v - EPS
                high = cells.cells * gx.preset.max_cell_v + EPS
                assert low <= float(write.value) <= high, write
                pack = gx.tracker.confirmed(gx.mono)
                assert pack is not None
            # I5: the virtual BMS is only ever chosen for a run or a hold.
            if write.path == BMS_INSTANCE_PATH and write.value == VIRTUAL:
                assert self.supervisor.need_virtual

    @invariant()
    def confirmed_pack_is_true(self) -> None:
        gx = self.gx
        pack = gx.tracker.confirmed(gx.mono)
        if pack is not None and pack.cells != gx.true_cells:
            # I4: never "the cells seen so far": a different count is believed only when
            # the GX has shown exactly it for the recount window (a rebuilt pack).
            assert gx.shown_cells() == pack.cells
            assert gx.mono - gx.shape_since >= gx.tracker.recount_s

    @precondition(lambda self: not self.supervisor.need_virtual)
    @invariant()
    def given_back_eventually(self) -> None:
        # I5 (weak form, per step): nothing borrowed is left once control ended and
        # the GX confirms writes; checked strictly in the scenario tests.
        if self.echo and self.gx.alive and self.supervisor.switch.settled:
            assert not self.supervisor.switch.borrowed


def _key(instance: int) -> Any:
    from custom_components.victron_balance.logic.venus_topics import ServiceKey

    return ServiceKey("battery", instance)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def test_safety_invariants_hold_for_any_sequence() -> None:
    run_state_machine_as_test(
        SafetyMachine,
        settings=settings(
            max_examples=int(os.environ.get("SAFETY_EXAMPLES", "150")),
            stateful_step_count=60,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
