"""Run reports, drift across runs, and seed 003's advice."""

from __future__ import annotations

import math

import pytest

from custom_components.victron_balance.logic.top_balance.chemistry import PRESETS
from custom_components.victron_balance.logic.top_balance.controller import (
    Measurements,
    TopBalanceController,
    TopBalanceSettings,
)
from custom_components.victron_balance.logic.top_balance.report import (
    RunReport,
    advice,
    drift,
    report_from,
)

PRESET = PRESETS["lifepo4_355"]


def run_report(first: int, shunt: list[int], volts: list[float]) -> RunReport:
    return RunReport(0.0, 3600.0, "done", shunt, [first], 80.0, 8.0, 12.5, volts)


def test_reports_of_older_versions_name_one_first_cell() -> None:
    data = run_report(2, [1, 2], [3.5, 3.5]).to_dict()
    data.pop("first_cells_at_hvc")
    data["first_cell_at_hvc"] = 2
    assert RunReport.from_dict(data).first_cells_at_hvc == [2]
    data["first_cell_at_hvc"] = None
    assert RunReport.from_dict(data).first_cells_at_hvc == []


def test_report_round_trip() -> None:
    report = run_report(2, [1, 2, 3], [3.50, 3.52, 3.51, 3.44])
    assert RunReport.from_dict(report.to_dict()) == report
    assert report.duration_s == 3600.0
    with pytest.raises(ValueError, match=r"must|not a|no room|finite"):
        RunReport.from_dict({"outcome": "done"})


def test_report_from_controller() -> None:
    controller = TopBalanceController()
    assert report_from(controller) is None
    settings = TopBalanceSettings(cells=2, preset=PRESET, target_cell_v=3.55)
    controller.start(100.0, settings)
    controller.step(Measurements(101.0, [3.30, 3.46], 6.76, 5.0, 20.0))
    assert report_from(controller) is None  # still running
    controller.step(Measurements(102.0, [3.31, 3.47], 6.78, 5.0, 20.0))
    controller.abort("stopped", 103.0)
    report = report_from(controller)
    assert report is not None
    assert report.outcome == "aborted:stopped"
    assert (report.started_s, report.finished_s) == (100.0, 103.0)
    assert report.cells_at_shunt == [2]
    assert report.first_cells_at_hvc == [2]
    assert report.initial_delta_mv == pytest.approx(160.0)
    assert report.final_delta_mv == pytest.approx(160.0)
    assert report.final_cell_voltages == [3.31, 3.47]


def test_drift_names_the_cell_that_keeps_running_ahead() -> None:
    reports = [
        run_report(3, [1, 2, 3], [3.50, 3.50, 3.53, 3.44]),
        run_report(3, [1, 2, 3, 4], [3.50, 3.51, 3.54, 3.46]),
        run_report(1, [1, 2, 3], [3.53, 3.50, 3.51, 3.43]),
    ]
    history = drift(reports)
    assert set(history) == {1, 2, 3, 4}
    assert history[3].first_at_hvc == 2 and history[3].drifting
    assert history[4].missed_shunt == 2 and history[4].drifting
    assert not history[2].drifting
    assert history[1].runs == 3
    assert len(history[1].offsets_mv) == 3
    assert drift([]) == {}


def test_drift_flags_a_cell_moving_steadily_away() -> None:
    reports = [
        run_report(1, [1, 2], [3.500, 3.490]),
        run_report(2, [1, 2], [3.500, 3.470]),
        run_report(1, [1, 2], [3.500, 3.450]),
    ]
    assert drift(reports)[2].drifting


def test_no_advice_when_the_bleed_copes() -> None:
    result = advice([3.50, 3.49, 3.51, 3.50], PRESET, 280.0, bleed_current_a=1.0)
    assert not result.severe
    assert result.recommended is None and result.drain is None and result.charge is None


def test_drain_advice_when_only_one_cell_is_full() -> None:
    volts = [3.30, 3.55, 3.30, 3.31]
    result = advice(volts, PRESET, 280.0, bleed_current_a=1.0, load_w=35.5)
    assert result.severe
    assert result.recommended == "drain"
    assert result.drain is not None
    assert result.drain.cell == 2
    assert result.drain.ah == pytest.approx(result.gap_ah)
    assert result.drain.first_step_ah == 1.0  # fractions of an amp hour first
    assert result.drain.minutes_at_load == pytest.approx(1.0 / (35.5 / 3.55) * 60, abs=0.1)
    assert result.hours_at_bleed > 24


def test_charge_advice_when_most_cells_are_full() -> None:
    volts = [3.50, 3.51, 3.36, 3.50]
    result = advice(volts, PRESET, 280.0, bleed_current_a=0.5, max_hours=12)
    assert result.recommended == "charge"
    assert result.charge is not None
    assert result.charge.cells == [3]
    assert result.charge.voltage == pytest.approx(3.60)  # between shunt level and HVC
    assert result.charge.ah[3] > 10
    assert result.drain is not None and result.drain.minutes_at_load is None
    thundersky = advice(
        [3.75, 3.76, 3.40, 3.75], PRESETS["thundersky_380"], 160.0, bleed_current_a=0.1
    )
    assert thundersky.charge is not None and thundersky.charge.voltage == pytest.approx(3.75)


@pytest.mark.parametrize(
    ("volts", "capacity", "bleed", "load"),
    [
        ([], 280.0, 1.0, None),
        ([3.4, math.nan], 280.0, 1.0, None),
        ([3.4], 0.0, 1.0, None),
        ([3.4], 280.0, 0.0, None),
        ([3.4], 280.0, 1.0, -5.0),
    ],
)
def test_advice_rejects_bad_input(
    volts: list[float], capacity: float, bleed: float, load: float | None
) -> None:
    with pytest.raises(ValueError, match=r"must|not a|no room|finite"):
        advice(volts, PRESET, capacity, bleed_current_a=bleed, load_w=load)
