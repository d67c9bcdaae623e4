"""State transitions, abort paths, resume and the DC-coupled CVL clip."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from custom_components.victron_balance.logic.top_balance.chemistry import PRESETS
from custom_components.victron_balance.logic.top_balance.controller import (
    AbortReason,
    Decision,
    Measurements,
    TopBalanceController,
    TopBalanceSettings,
    TopBalanceState,
)

PRESET = PRESETS["lifepo4_355"]  # target 3.55, shunt 3.45, set point 3.52, limit 3.60


def settings(**overrides: Any) -> TopBalanceSettings:
    values: dict[str, Any] = {
        "cells": 4,
        "preset": PRESET,
        "target_cell_v": 3.55,
        "hold_s": 60.0,
        "max_current_a": 50.0,
        "bleed_current_a": 1.0,
        "max_duration_s": 10 * 3600.0,
    }
    values.update(overrides)
    return TopBalanceSettings(**values)


def meas(now: float, volts: list[float | None], **overrides: Any) -> Measurements:
    values: dict[str, Any] = {
        "now_s": now,
        "cell_voltages": volts,
        "pack_voltage": None,
        "pack_current": 10.0,
        "temperature_c": 25.0,
        "bms_alarm": False,
        "venus_alive": True,
        "bms_allows_charge": True,
    }
    values.update(overrides)
    return Measurements(**values)


def started(**overrides: Any) -> TopBalanceController:
    controller = TopBalanceController()
    cfg = settings(**overrides)
    first = controller.start(1000.0, cfg)
    assert first.state is TopBalanceState.BULK
    assert first.ccl_a == 0.0  # nothing before the first valid measurement
    assert first.cvl_v == pytest.approx(cfg.normal_cvl_v)
    return controller


def check_sane(decision: Decision, cfg: TopBalanceSettings) -> None:
    assert math.isfinite(decision.cvl_v) and math.isfinite(decision.ccl_a)
    assert decision.cvl_v <= cfg.cells * cfg.target_cell_v + 1e-9
    assert 0.0 <= decision.ccl_a <= cfg.max_current_a


def test_idle_controller_is_safe() -> None:
    controller = TopBalanceController()
    decision = controller.step(meas(0, [3.3] * 4))
    assert decision.state is TopBalanceState.IDLE
    assert (decision.cvl_v, decision.ccl_a) == (0.0, 0.0)
    assert controller.abort("stopped", 0).state is TopBalanceState.IDLE


def test_bulk_regulate_hold_done() -> None:
    controller = started()
    cfg = controller.settings
    assert cfg is not None
    bulk = controller.step(meas(1001, [3.30, 3.32, 3.31, 3.30]))
    assert bulk.state is TopBalanceState.BULK
    assert bulk.ccl_a == 50.0
    assert bulk.cvl_v == pytest.approx(4 * 3.55)  # CVL = cells x target
    assert bulk.allow_to_charge and bulk.active
    # The fullest cell nears the shunt level: regulate, current tapers toward the bleed.
    regulate = controller.step(meas(1002, [3.30, 3.45, 3.31, 3.30]))
    assert regulate.state is TopBalanceState.REGULATE
    assert regulate.ccl_a == pytest.approx(1.0 + 500 * (3.52 - 3.45))
    at_set_point = controller.step(meas(1003, [3.36, 3.52, 3.40, 3.46]))
    assert at_set_point.ccl_a == pytest.approx(1.0)  # the bleed current: full cells stand still
    assert at_set_point.first_cells_at_hvc == (2,)  # it reached 3.45 V one sample earlier
    assert at_set_point.cells_at_shunt == [2, 4]
    assert at_set_point.state is TopBalanceState.REGULATE
    above = controller.step(meas(1004, [3.36, 3.53, 3.40, 3.46]))
    assert above.ccl_a == 0.0  # 1 A - 500 A/V x 10 mV < 0
    # Everyone at the shunt level within 10 mV: hold, then done with normal limits.
    hold = controller.step(meas(1005, [3.505, 3.512, 3.508, 3.51]))
    assert hold.state is TopBalanceState.HOLD
    assert hold.eta_s == 60
    back = controller.step(meas(1010, [3.49, 3.512, 3.508, 3.51]))  # delta grew again
    assert back.state is TopBalanceState.REGULATE
    controller.step(meas(1020, [3.505, 3.512, 3.508, 3.51]))
    assert controller.step(meas(1079, [3.505, 3.512, 3.508, 3.51])).state is TopBalanceState.HOLD
    done = controller.step(meas(1080, [3.505, 3.512, 3.508, 3.51]))
    assert done.state is TopBalanceState.DONE
    assert done.progress_pct == 100.0
    assert done.cvl_v == pytest.approx(4 * 3.45)  # normal limits return
    assert done.ccl_a == 50.0
    assert not done.active
    assert done.cells_at_shunt == [1, 2, 3, 4]
    # 10 A; a gap between steps counts at most 10 s: 1+1+1+1+1+5+10+10+1 = 31 s.
    assert done.ah_delivered == pytest.approx(10 * 31 / 3600, abs=1e-3)
    check_sane(done, cfg)
    # After the run the decision stays normal and follows the real BMS.
    after = controller.step(meas(1090, [3.5] * 4, bms_allows_charge=False))
    assert after.state is TopBalanceState.DONE
    assert not after.allow_to_charge


def test_progress_and_eta_with_capacity() -> None:
    controller = started(capacity_ah=100.0)
    first = controller.step(meas(1001, [3.30, 3.40, 3.35, 3.30]))
    assert first.eta_s is not None and first.eta_s > 3600
    assert 0.0 <= first.progress_pct < 1.0
    later = controller.step(meas(5000, [3.45, 3.50, 3.48, 3.47]))
    assert later.eta_s is not None and later.eta_s < first.eta_s
    assert later.progress_pct > first.progress_pct


def test_cells_crossing_in_the_same_sample_are_all_first() -> None:
    controller = started()
    controller.step(meas(1001, [3.30, 3.40, 3.31, 3.30]))
    decision = controller.step(meas(1002, [3.30, 3.46, 3.31, 3.47]))
    assert decision.first_cells_at_hvc == (2, 4)  # not "the lowest-numbered of them"
    later = controller.step(meas(1003, [3.46, 3.47, 3.31, 3.47]))
    assert later.first_cells_at_hvc == (2, 4)
    assert later.cells_at_shunt == [1, 2, 4]


def test_progress_without_capacity_counts_cells_at_shunt() -> None:
    controller = started()
    decision = controller.step(meas(1001, [3.30, 3.46, 3.35, 3.46]))
    assert decision.eta_s is None
    assert decision.progress_pct == 50.0


@pytest.mark.parametrize(
    ("overrides", "reason", "allow"),
    [
        ({"venus_alive": False}, AbortReason.VENUS_LOST, False),
        # A hazard: the abort itself carries no charge (the envelope keeps it so for as
        # long as the real BMS says so).
        ({"bms_alarm": True}, AbortReason.BMS_ALARM, False),
        ({"bms_allows_charge": False}, AbortReason.BMS_BLOCKS_CHARGE, False),
        ({"temperature_c": 50.0}, AbortReason.TEMPERATURE, False),
        ({"temperature_c": 0.0}, AbortReason.TEMPERATURE, False),
    ],
)
def test_immediate_aborts(overrides: dict[str, Any], reason: AbortReason, allow: bool) -> None:
    controller = started()
    controller.step(meas(1001, [3.4, 3.5, 3.45, 3.4]))
    decision = controller.step(meas(1002, [3.4, 3.5, 3.45, 3.4], **overrides))
    assert decision.state is TopBalanceState.ABORTED
    assert decision.abort_reason == reason
    assert decision.allow_to_charge is allow
    assert decision.ccl_a == (50.0 if allow else 0.0)
    assert decision.cvl_v == pytest.approx(4 * 3.45)  # never left elevated
    assert decision.eta_s is None


@pytest.mark.parametrize("high", [3.65, 4.2, 9.9])
def test_cell_at_or_above_ovp_aborts_at_once(high: float) -> None:
    # However far above OVP (a real over-voltage or a sensor error): stop now, no charge.
    controller = started()
    decision = controller.step(meas(1001, [3.4, high, 3.45, 3.4]))
    assert decision.abort_reason == AbortReason.CELL_OVER_VOLTAGE
    assert decision.allow_to_charge is False
    assert decision.ccl_a == 0.0


def test_cell_above_limit_must_come_back_in_time() -> None:
    controller = started(ovp_recover_s=30.0)
    high = [3.4, 3.61, 3.45, 3.4]
    first = controller.step(meas(1001, high))
    assert first.state is TopBalanceState.REGULATE and first.ccl_a == 0.0
    # It comes back: the timer resets.
    assert controller.step(meas(1020, [3.4, 3.55, 3.45, 3.4])).state is TopBalanceState.REGULATE
    assert controller.step(meas(1021, high)).ccl_a == 0.0
    assert controller.step(meas(1050, high)).state is TopBalanceState.REGULATE
    late = controller.step(meas(1051, high))
    assert late.abort_reason == AbortReason.CELL_OVER_VOLTAGE


def test_max_duration_aborts() -> None:
    controller = started(max_duration_s=3600.0)
    assert controller.step(meas(4600, [3.3] * 4)).state is TopBalanceState.BULK
    assert controller.step(meas(4601, [3.3] * 4)).abort_reason == AbortReason.MAX_DURATION


@pytest.mark.parametrize(
    ("volts", "extra", "reason"),
    [
        ([3.3, None, 3.3, 3.3], {}, AbortReason.STALE_DATA),
        ([3.3, 3.3, 3.3, 3.3], {"temperature_c": None}, AbortReason.STALE_DATA),
        ([3.3, math.nan, 3.3, 3.3], {}, AbortReason.IMPLAUSIBLE_DATA),
        ([3.3, 0.0, 3.3, 3.3], {}, AbortReason.IMPLAUSIBLE_DATA),
        ([3.3, 3.3, 3.3], {}, AbortReason.IMPLAUSIBLE_DATA),
    ],
)
def test_bad_data_cuts_current_then_aborts(
    volts: list[float | None], extra: dict[str, Any], reason: AbortReason
) -> None:
    controller = started(stale_after_s=30.0)
    controller.step(meas(1001, [3.4, 3.5, 3.45, 3.4]))
    first = controller.step(meas(1002, volts, **extra))
    assert first.state is TopBalanceState.REGULATE
    assert first.ccl_a == 0.0
    assert first.allow_to_charge is False  # blind: no charge at all (I3)
    assert first.cvl_v == pytest.approx(4 * 3.45)  # not elevated while blind
    assert controller.step(meas(1031, volts, **extra)).state is TopBalanceState.REGULATE
    assert controller.step(meas(1032, volts, **extra)).abort_reason == reason


def test_good_data_resets_the_stale_timer() -> None:
    controller = started(stale_after_s=30.0)
    controller.step(meas(1001, [3.3, None, 3.3, 3.3]))
    controller.step(meas(1020, [3.3] * 4))
    controller.step(meas(1040, [3.3, None, 3.3, 3.3]))
    assert controller.step(meas(1060, [3.3, None, 3.3, 3.3])).state is TopBalanceState.BULK


def test_non_finite_time_never_elevates() -> None:
    controller = started()
    decision = controller.step(meas(math.nan, [3.3] * 4))
    assert decision.ccl_a == 0.0 and decision.cvl_v == pytest.approx(4 * 3.45)


def test_user_abort_and_safe_decision() -> None:
    controller = started(normal_cell_v=3.40, normal_current_a=20.0)
    controller.step(meas(1001, [3.3] * 4))
    decision = controller.abort(AbortReason.STOPPED, 1002)
    assert decision.state is TopBalanceState.ABORTED
    assert decision.abort_reason == "stopped"
    assert (decision.cvl_v, decision.ccl_a) == (pytest.approx(13.6), 20.0)
    assert controller.safe_decision(allow_to_charge=False).allow_to_charge is False
    # Aborting twice keeps the first reason.
    assert controller.abort("other", 1003).abort_reason == "stopped"


def test_dc_coupled_clips_cvl_to_the_pack_sum() -> None:
    controller = started(dc_coupled_feed_in=True)
    volts = [3.30, 3.56, 3.35, 3.40]
    decision = controller.step(meas(1001, volts))
    expected = 3.30 + 3.52 + 3.35 + 3.40 + 0.010  # sum of min(cell, set point) + margin
    assert decision.cvl_v == pytest.approx(expected)
    low = controller.step(meas(1002, [3.30, 3.31, 3.35, 3.30]))
    assert low.cvl_v == pytest.approx(3.30 + 3.31 + 3.35 + 3.30 + 0.010)
    high = controller.step(meas(1003, [3.54] * 4))
    assert high.cvl_v == pytest.approx(4 * 3.52 + 0.010)
    assert high.cvl_v <= 4 * 3.55


def test_outputs_never_exceed_bounds_even_with_extreme_gain() -> None:
    cfg = settings(gain_a_per_v=100000.0, dc_coupled_feed_in=True)
    controller = TopBalanceController()
    controller.start(0, cfg)
    for now, volts in enumerate([[1.0] * 4, [3.59] * 4, [3.2, 3.3, 3.4, 3.5], [4.0] * 4], 1):
        check_sane(controller.step(meas(now, list(volts))), cfg)


@pytest.mark.parametrize(
    "overrides",
    [
        {"target_cell_v": 3.70},
        {"target_cell_v": math.nan},
        {"hold_s": -1},
        {"max_current_a": 0},
        {"temperature_max_c": -50},
        {"normal_current_a": 500},
        {"normal_cell_v": 3.6},
        {"capacity_ah": 0},
        {"ovp_margin_v": 0.2},  # no room to regulate below OVP - margin
    ],
)
def test_settings_validation(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"must|not a|no room|finite"):
        settings(**overrides)


def test_settings_round_trip() -> None:
    cfg = settings(dc_coupled_feed_in=True, capacity_ah=280.0)
    assert TopBalanceSettings.from_dict(cfg.to_dict()) == cfg
    by_key = {**cfg.to_dict(), "preset": "lifepo4_355"}
    assert TopBalanceSettings.from_dict(by_key) == cfg
    custom = dataclasses.replace(PRESETS["custom"], cell_target_v=3.5)
    cfg = settings(preset=custom, target_cell_v=3.5)
    assert TopBalanceSettings.from_dict(cfg.to_dict()).preset == custom


def test_resume_recent_run() -> None:
    controller = started()
    controller.step(meas(1001, [3.30, 3.41, 3.31, 3.30]))
    controller.step(meas(1002, [3.505, 3.512, 3.508, 3.51]))  # hold started
    data = controller.to_dict()
    restored = TopBalanceController.from_dict(data, now_s=1100)
    assert restored.state is TopBalanceState.REGULATE  # the hold restarts
    assert restored.first_cells_at_hvc == controller.first_cells_at_hvc
    assert restored.cells_at_shunt == controller.cells_at_shunt
    decision = restored.step(meas(1101, [3.30, 3.41, 3.31, 3.30]))
    assert decision.state is TopBalanceState.REGULATE
    assert decision.ah_delivered == pytest.approx(controller.ah_delivered + 10 / 3600, abs=1e-3)


@pytest.mark.parametrize(
    ("now", "reason"),
    [(1001 + 301, AbortReason.RESTART_EXPIRED), (1000 + 10 * 3600 + 1, AbortReason.MAX_DURATION)],
)
def test_resume_old_run_reverts(now: float, reason: AbortReason) -> None:
    controller = started()
    controller.step(meas(1001, [3.30, 3.41, 3.31, 3.30]))
    restored = TopBalanceController.from_dict(controller.to_dict(), now_s=now)
    assert restored.state is TopBalanceState.ABORTED
    assert restored.abort_reason == reason
    decision = restored.step(meas(now + 1, [3.3] * 4))
    assert decision.cvl_v == pytest.approx(4 * 3.45)
    assert not decision.active


def test_resume_without_timestamps_or_in_the_past_reverts() -> None:
    controller = started()
    data = controller.to_dict() | {"last_seen_s": None}
    restored = TopBalanceController.from_dict(data, now_s=1001)
    assert restored.abort_reason == AbortReason.RESTART_EXPIRED
    restored = TopBalanceController.from_dict(controller.to_dict(), now_s=10.0)  # clock went back
    assert restored.abort_reason == AbortReason.RESTART_EXPIRED


def test_terminal_and_idle_states_round_trip() -> None:
    idle = TopBalanceController.from_dict(TopBalanceController().to_dict(), now_s=5)
    assert idle.state is TopBalanceState.IDLE
    controller = started()
    controller.abort("stopped", 1001)
    restored = TopBalanceController.from_dict(controller.to_dict(), now_s=99999)
    assert restored.state is TopBalanceState.ABORTED
    assert restored.abort_reason == "stopped"


@pytest.mark.parametrize("data", [{}, {"settings": None}, {"settings": None, "state": "odd"}])
def test_malformed_saved_run(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"must|not a|no room|finite"):
        TopBalanceController.from_dict(data, now_s=0)
