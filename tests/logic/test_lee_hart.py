"""Lee Hart's algorithm: the seed's pseudo-code numbers, its variants and the CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from custom_components.victron_balance.logic.balancer.lee_hart import (
    LEAD_ACID_12V,
    LIFEPO4_CELL,
    Averaging,
    LeeHartParameters,
    charge_minutes,
    plan,
    should_run,
)
from custom_components.victron_balance.logic.balancer.plan_cli import main

ROOT = Path(__file__).parent.parent.parent


def seed_pseudo_code(voltages: list[float], vave: float) -> list[float]:
    """The seed's loop, transcribed line by line (Tbase 20, floor 10, 0..60 min)."""
    tbase, n, out = 20, len(voltages), []
    for vi in voltages:
        vave = (vi + vave * (n - 1)) / n
        charge = tbase * (vave - vi) * (vave - 10)
        charge = max(charge, 0)
        charge = min(charge, 60)
        out.append(charge)
    return out


def test_reproduces_the_seed_by_hand() -> None:
    """Worked by hand: mean 12.55; cell 2 sees Vave 12.521875 -> 6.147 min."""
    result = plan([12.6, 12.4, 12.7, 12.5], LEAD_ACID_12V)
    assert result.minutes[0] == 0.0  # above average: no charge
    assert result.minutes[1] == pytest.approx(20 * 0.121875 * 2.521875)
    assert result.minutes[2] == 0.0
    assert result.averages[1] == pytest.approx(12.521875)


@pytest.mark.parametrize(
    ("voltages", "start"),
    [
        ([12.6, 12.4, 12.7, 12.5], 12.55),
        ([12.9, 11.2, 12.8, 12.7, 12.75, 12.6, 12.1, 12.65], 12.9),
        ([12.0, 12.0, 12.0], 12.0),
        ([11.0, 12.8], 12.8),
    ],
)
def test_matches_the_pseudo_code(voltages: list[float], start: float) -> None:
    result = plan(voltages, LEAD_ACID_12V, initial_average=start)
    assert result.minutes == pytest.approx(seed_pseudo_code(voltages, start))


def test_clamped_to_max_minutes() -> None:
    assert charge_minutes(10.5, 12.8, LEAD_ACID_12V) == 60.0
    assert charge_minutes(13.0, 12.8, LEAD_ACID_12V) == 0.0


def test_true_mean_variant() -> None:
    result = plan([3.40, 3.45, 3.50], LIFEPO4_CELL, averaging=Averaging.TRUE_MEAN)
    assert result.averages == pytest.approx([3.45] * 3)
    assert result.minutes == pytest.approx([1000 * 0.05 * 0.45, 0.0, 0.0])


def test_lifepo4_preset_gives_minutes_for_millivolt_differences() -> None:
    minutes = plan([3.45] * 15 + [3.40], LIFEPO4_CELL, initial_average=3.45).minutes
    assert minutes[-1] == pytest.approx(1000 * (3.446875 - 3.40) * 0.446875)
    assert all(minute == 0 for minute in minutes[:-1])


def test_run_condition() -> None:
    assert should_run(12.6, LEAD_ACID_12V, charging=False)
    assert not should_run(12.2, LEAD_ACID_12V, charging=False)
    assert should_run(12.2, LEAD_ACID_12V, charging=True)
    always = LeeHartParameters(tbase=20, floor_voltage=10, max_minutes=60)
    assert should_run(0.0, always, charging=False)


@pytest.mark.parametrize(
    ("voltages", "kwargs"),
    [
        ([], {}),
        ([float("nan")], {}),
        ([-1.0], {}),
        ([12.0], {"initial_average": float("inf")}),
    ],
)
def test_bad_input_is_refused(voltages: list[float], kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"voltage|average"):
        plan(voltages, LEAD_ACID_12V, **kwargs)


@pytest.mark.parametrize(
    "bad",
    [{"tbase": 0}, {"tbase": float("nan")}, {"max_minutes": -1}, {"floor_voltage": float("inf")}],
)
def test_bad_parameters_are_refused(bad: dict[str, float]) -> None:
    values = {"tbase": 20.0, "floor_voltage": 10.0, "max_minutes": 60.0, **bad}
    with pytest.raises(ValueError, match="must be"):
        LeeHartParameters(**values)


def test_cli_prints_the_plan(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--initial-average", "12.55", "12.6", "12.4", "12.7", "12.5"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["minutes"] == pytest.approx(seed_pseudo_code([12.6, 12.4, 12.7, 12.5], 12.55))
    assert printed["average"] == pytest.approx(
        plan([12.6, 12.4, 12.7, 12.5], LEAD_ACID_12V).average
    )


def test_cli_parameters_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    arguments = ["--tbase", "1000", "--floor", "3.0", "--max-minutes", "10", "3.45", "3.30"]
    assert main(arguments) == 0
    minutes = json.loads(capsys.readouterr().out)["minutes"]
    assert minutes == [0.0, 10.0]  # 20.04 min clamped to --max-minutes
    with pytest.raises(SystemExit) as exit_info:
        main(["--tbase", "-3", "12.0"])
    assert exit_info.value.code == 2
    assert "tbase must be" in capsys.readouterr().err


def test_the_script_runs() -> None:
    done = subprocess.run(
        [str(ROOT / "scripts" / "balance-plan"), "12.6", "12.4", "12.7", "12.5"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout)["minutes"][1] == pytest.approx(6.147, abs=0.001)
