"""The balancer safety benchmark: its JSON, and no I6 violation on a short campaign."""

from __future__ import annotations

import json

import pytest

from benchmarks.safety_balancer import main, run_episodes


def test_a_short_campaign_finds_no_violation() -> None:
    result = run_episodes(200, seed=7)
    assert result["episodes"] == 200
    assert result["violations"] == {"I6": 0}, result["details"]
    assert result["details"] == []
    assert result["seconds"] >= 0


def test_main_prints_the_json(capsys: pytest.CaptureFixture[str]) -> None:
    main(["3", "2"])
    printed = json.loads(capsys.readouterr().out)
    assert printed["episodes"] == 3
    assert set(printed) == {"episodes", "violations", "details", "seconds"}
