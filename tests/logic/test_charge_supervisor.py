"""The charge supervisor on the model GX: modes, borrowing, tails, restarts."""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.victron_balance.logic.charge_supervisor import (
    DRIVER_GRACE_S,
    TAIL_MAX_S,
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
from tests.logic.safety.model_gx import REAL, VIRTUAL, ModelGx


class Rig:
    """A supervisor wired to a model GX the way the Home Assistant side wires it."""

    def __init__(self, cells: int = 4) -> None:
        self.gx = ModelGx(cells=cells)
        self.gx.settled()
        self.supervisor = ChargeSupervisor(VIRTUAL)
        self.events: list[EventKind] = []
        self.echo = True

    def run(self, step: Step) -> Step:
        self.events += [event.kind for event in step.events]
        self.gx.receive_document(step.document)
        for write in step.writes:
            if self.gx.receive_write(write, echo=self.echo):
                self.supervisor.confirmed(write)
        return step

    def tick(self, seconds: int = 1) -> Step:
        step = Step()
        for _ in range(seconds):
            self.gx.tick(1.0)
            step = self.run(self.supervisor.step(self.gx.view()))
        return step

    def mode(self, mode: ChargeMode) -> Step:
        events = self.supervisor.select_mode(mode, self.gx.view())
        self.events += [event.kind for event in events]
        return self.run(self.supervisor.step(self.gx.view()))

    def setting(self, path: str) -> Any:
        return self.gx.settings[path]


def test_follow_the_bms_writes_nothing_until_chosen() -> None:
    rig = Rig()
    rig.gx.settings[MAX_CHARGE_CURRENT_PATH] = 10
    rig.gx.send("settings", 0, MAX_CHARGE_CURRENT_PATH, 10)
    rig.tick(3)
    assert rig.gx.writes == []  # installing the integration writes no flash
    rig.mode(ChargeMode.FOLLOW_BMS)
    assert rig.setting(MAX_CHARGE_CURRENT_PATH) == -1  # chosen: the BMS decides
    rig.tick(40)
    assert len(rig.gx.writes) == 1


def test_limited_writes_the_voltage_only_from_a_confirmed_pack() -> None:
    rig = Rig()
    rig.gx.battery_gone()
    rig.tick()
    rig.supervisor.set_limits(rig.gx.view(), current_a=20)
    with pytest.raises(Refused) as refused:
        rig.supervisor.set_limits(rig.gx.view(), voltage_v=13.0)
    assert refused.value.key == "pack_unknown"
    rig.mode(ChargeMode.LIMITED)
    assert rig.setting(MAX_CHARGE_CURRENT_PATH) == 20
    assert rig.setting(MAX_CHARGE_VOLTAGE_PATH) == 0.0  # no pack: no window, no write
    rig.gx.publish_battery()
    rig.gx.full_publish()
    rig.tick(40)
    assert rig.setting(MAX_CHARGE_VOLTAGE_PATH) == pytest.approx(4 * 3.65)  # the top


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"current_a": 300.0}, "invalid_charge_current"),
        ({"current_a": float("nan")}, "invalid_charge_current"),
        ({"voltage_v": 20.0}, "invalid_charge_voltage"),
    ],
)
def test_limits_are_checked(kwargs: dict[str, float], key: str) -> None:
    rig = Rig()
    with pytest.raises(Refused) as refused:
        rig.supervisor.set_limits(rig.gx.view(), **kwargs)
    assert refused.value.key == key


def test_starting_needs_dvcc_a_pack_and_a_free_instance() -> None:
    rig = Rig()
    rig.gx.settings["/Settings/Services/Bol"] = 0
    rig.gx.send("settings", 0, "/Settings/Services/Bol", 0)
    with pytest.raises(Refused) as refused:
        rig.supervisor.select_mode(ChargeMode.TOP_BALANCE, rig.gx.view())
    assert refused.value.key == "dvcc_required"
    with pytest.raises(Refused):
        rig.supervisor.select_mode(ChargeMode.HOLD_AT_SOC, rig.gx.view())
    assert rig.supervisor.settings.mode is ChargeMode.FOLLOW_BMS
    clash = ChargeSupervisor(REAL)  # our virtual BMS configured onto the real one
    with pytest.raises(Refused) as refused:
        clash.select_mode(ChargeMode.TOP_BALANCE, rig.gx.view())
    assert refused.value.key == "virtual_bms_instance_in_use"


def test_a_run_lends_the_user_limits_and_gives_them_back() -> None:
    rig = Rig()
    rig.supervisor.set_limits(rig.gx.view(), current_a=25)
    rig.mode(ChargeMode.LIMITED)
    rig.tick(31)
    assert rig.setting(MAX_CHARGE_CURRENT_PATH) == 25
    rig.mode(ChargeMode.TOP_BALANCE)
    rig.tick(2)
    assert rig.setting(MAX_CHARGE_CURRENT_PATH) == -1
    assert rig.setting(MAX_CHARGE_VOLTAGE_PATH) == 0.0
    assert rig.setting(BMS_INSTANCE_PATH) == VIRTUAL
    rig.tick(31)
    rig.supervisor.stop_virtual_control(rig.gx.view())
    rig.tick(40)
    assert rig.supervisor.settings.mode is ChargeMode.LIMITED  # the mode before the run
    assert rig.setting(MAX_CHARGE_CURRENT_PATH) == 25
    assert rig.setting(BMS_INSTANCE_PATH) == REAL  # automatic comes after the driver
    rig.tick(70)
    assert rig.setting(BMS_INSTANCE_PATH) == -1


def test_without_the_driver_the_run_stops_after_the_grace() -> None:
    rig = Rig()
    rig.gx.receive_document = lambda _document: None  # type: ignore[method-assign]
    rig.mode(ChargeMode.TOP_BALANCE)
    rig.tick(int(DRIVER_GRACE_S) + 1)
    assert EventKind.VIRTUAL_BMS_MISSING in rig.events
    assert rig.supervisor.controller.abort_reason == "virtual_bms_missing"
    assert BMS_INSTANCE_PATH not in {write.path for write in rig.gx.writes}


def test_a_hold_without_the_driver_ends_too() -> None:
    rig = Rig()
    rig.gx.receive_document = lambda _document: None  # type: ignore[method-assign]
    rig.mode(ChargeMode.HOLD_AT_SOC)
    rig.tick(int(DRIVER_GRACE_S) + 1)
    assert EventKind.HOLD_ENDED in rig.events
    assert rig.supervisor.settings.mode is ChargeMode.FOLLOW_BMS


def test_a_change_on_the_gx_ends_a_hold() -> None:
    rig = Rig()
    rig.mode(ChargeMode.HOLD_AT_SOC)
    rig.tick(3)
    assert rig.supervisor.switch.borrowed
    rig.gx.settings[BMS_INSTANCE_PATH] = REAL
    rig.gx.send("settings", 0, BMS_INSTANCE_PATH, REAL)
    rig.tick(2)
    assert EventKind.BMS_CHANGED_ON_GX in rig.events
    assert not rig.supervisor.holding


def test_a_blind_run_aborts_after_the_stale_limit() -> None:
    rig = Rig()
    rig.mode(ChargeMode.TOP_BALANCE)
    rig.tick(3)
    rig.gx.real.soc = None  # the controller does not need it; a document does
    rig.gx.update_real()
    step = rig.tick()
    assert step.document is not None
    assert step.document.stale
    rig.tick(31)
    assert rig.supervisor.controller.abort_reason == "stale_data"


def test_the_tail_gives_up_after_its_maximum() -> None:
    rig = Rig()
    rig.echo = False  # the GX never confirms the give-back
    rig.mode(ChargeMode.HOLD_AT_SOC)
    rig.tick(3)
    rig.echo = True
    rig.gx.settings[BMS_INSTANCE_PATH] = VIRTUAL  # applied, not echoed before
    rig.gx.send("settings", 0, BMS_INSTANCE_PATH, VIRTUAL)
    rig.tick()
    rig.echo = False
    rig.mode(ChargeMode.FOLLOW_BMS)
    rig.tick(int(TAIL_MAX_S) + 2)
    assert EventKind.TAIL_TIMEOUT in rig.events
    assert rig.tick().document is None


def test_shutdown_aborts_a_run_and_gives_back() -> None:
    rig = Rig()
    rig.gx.settings[BMS_INSTANCE_PATH] = REAL
    rig.gx.send("settings", 0, BMS_INSTANCE_PATH, REAL)
    rig.mode(ChargeMode.TOP_BALANCE)
    rig.tick(31)
    step = rig.run(rig.supervisor.shutdown(rig.gx.view(), "unload"))
    assert step.document is not None
    assert step.document.limits.wire.max_charge_voltage <= 13.8
    assert rig.setting(BMS_INSTANCE_PATH) == REAL
    assert rig.supervisor.reports[-1].outcome == "aborted:unload"


def test_a_hold_survives_a_restart_and_a_crashed_run_resumes() -> None:
    rig = Rig()
    rig.mode(ChargeMode.HOLD_AT_SOC)
    rig.tick(3)
    restored, problems = ChargeSupervisor.from_dict(
        VIRTUAL, rig.supervisor.to_dict(), rig.gx.now, rig.gx.mono
    )
    assert problems == []
    assert restored.holding and restored.need_virtual
    rig.supervisor = restored
    rig.mode(ChargeMode.TOP_BALANCE)
    rig.tick(3)
    data = rig.supervisor.to_dict()
    rig.gx.tick(200.0)
    restored, problems = ChargeSupervisor.from_dict(VIRTUAL, data, rig.gx.now, rig.gx.mono)
    assert problems == []
    assert restored.running
    assert restored.return_mode is ChargeMode.HOLD_AT_SOC
    rig.gx.tick(400.0)  # too old now: judged, back to the hold
    late, _ = ChargeSupervisor.from_dict(VIRTUAL, data, rig.gx.now, rig.gx.mono)
    assert not late.running
    assert late.settings.mode is ChargeMode.HOLD_AT_SOC
    assert late.reports[-1].outcome == "aborted:restart_expired"


def test_unreadable_storage_is_reported_not_trusted() -> None:
    supervisor, problems = ChargeSupervisor.from_dict(
        VIRTUAL,
        {
            "settings": {"mode": "warp"},
            "params": {"max_current_a": "lots"},
            "return_mode": "nowhere",
            "reports": [{"bad": 1}],
            "controller": {"state": "bulk"},
            "control": {"cells": "x"},
            "lent": {"a": "b"},
            "last_reading": {"x": 1},
        },
        0.0,
        0.0,
    )
    assert len(problems) == 7
    assert supervisor.settings.mode is ChargeMode.FOLLOW_BMS
    assert supervisor.lent is None
    assert not supervisor.running


def test_a_hold_stored_without_its_settings_is_not_resumed() -> None:
    supervisor, _ = ChargeSupervisor.from_dict(
        VIRTUAL, {"settings": {"mode": "hold_at_soc", "current_a": 50.0}}, 0.0, 0.0
    )
    assert supervisor.settings.mode is ChargeMode.FOLLOW_BMS


def test_parameters_reach_a_hold_in_force() -> None:
    rig = Rig()
    rig.mode(ChargeMode.HOLD_AT_SOC)
    rig.supervisor.set_parameters(
        target_cell_v=3.5, max_current_a=40.0, bleed_current_a=2.0, hold_target_pct=60.0
    )
    assert rig.supervisor.hold is not None
    assert rig.supervisor.hold.target_pct == 60.0
    assert rig.supervisor.params.cell_target(rig.gx.preset) == 3.5
    rig.supervisor.set_parameters(target_cell_v=9.0)
    assert rig.supervisor.params.cell_target(rig.gx.preset) == rig.gx.preset.cell_target_v
