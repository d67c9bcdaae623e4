"""Manual balancing advice: bench supply (seed 003 option 1) and drain (option 2)."""

from __future__ import annotations

import json

import pytest

from custom_components.victron_balance.logic.balancer.advisory import AdvisorySettings, advise
from custom_components.victron_balance.logic.top_balance.chemistry import PRESETS, estimated_soc

CALB = AdvisorySettings(hvc_v=3.60)  # seed 003: 3.6 V modules -> supply at 3.55 V


def test_seed_supply_setting() -> None:
    assert CALB.target_v == 3.55
    assert AdvisorySettings(hvc_v=3.80).target_v == 3.75  # Thundersky


def test_voltages_only_names_cells_but_no_times() -> None:
    advice = advise([3.45, 3.38, 3.52, 3.41], CALB)
    assert not advice.balanced
    assert [c.cell for c in advice.charge] == [2, 4, 1]  # lowest first
    assert all(c.supply_v == 3.55 and c.current_a == 5.0 for c in advice.charge)
    assert all(c.ah is None and c.minutes is None for c in advice.charge)
    assert advice.drain is not None
    assert advice.drain.cell == 3
    assert advice.drain.excess_ah is None
    assert advice.drain.step_ah == 0.1
    # 5 W at 3.52 V is 1.42 A: 0.1 Ah takes about 4.2 minutes.
    assert advice.drain.load_a == pytest.approx(5.0 / 3.52)
    assert advice.drain.step_minutes == pytest.approx(0.1 / (5.0 / 3.52) * 60.0)
    assert any("no amp-hour estimate" in note for note in advice.notes)
    assert advice.spread_v == pytest.approx(0.14)


def test_with_amp_hour_contents() -> None:
    advice = advise(
        [3.40, 3.35, 3.45, 3.38],
        CALB,
        capacities_ah=[100.0, 100.0, 100.0, 100.0],
        contents_ah=[96.0, 90.0, 99.0, 95.9],
    )
    charge = {c.cell: c for c in advice.charge}
    assert list(charge) == [2, 4, 1]  # largest deficit first
    assert charge[2].ah == pytest.approx(10.0)
    assert charge[2].minutes == pytest.approx(10.0 / 5.0 * 60.0)
    assert advice.drain is not None
    assert advice.drain.cell == 3
    assert advice.drain.excess_ah == pytest.approx(3.0)  # down to cell 1's 96 Ah
    assert advice.drain.steps == 30
    assert advice.notes == []


def test_small_excess_is_one_short_step() -> None:
    advice = advise(
        [3.40, 3.45],
        CALB,
        capacities_ah=[100.0, 100.0],
        contents_ah=[99.0, 99.25],
    )
    assert advice.drain is not None
    assert advice.drain.step_ah == pytest.approx(0.1)
    assert advice.drain.steps == 3
    tiny = advise([3.40, 3.45], CALB, capacities_ah=[100, 100], contents_ah=[99.0, 99.1])
    assert tiny.balanced


def test_with_a_voltage_to_soc_curve() -> None:
    preset = PRESETS["calb_360"]
    advice = advise(
        [3.40, 3.30, 3.50],
        CALB,
        capacities_ah=[50.0, 50.0, 50.0],
        soc_from_voltage=lambda v: estimated_soc(v, preset),
    )
    assert [c.cell for c in advice.charge] == [2, 1]
    assert all(c.minutes is not None and c.minutes > 0 for c in advice.charge)
    assert advice.drain is not None
    assert advice.drain.cell == 3


def test_balanced_pack() -> None:
    advice = advise([3.50, 3.51, 3.505], CALB)
    assert advice.balanced
    assert advice.charge == []
    assert advice.drain is None


def test_cells_at_the_supply_setting_are_not_charged() -> None:
    advice = advise([3.55, 3.58], CALB)
    assert advice.charge == []


def test_warnings_above_hvc_and_below_the_knee() -> None:
    advice = advise([3.62, 3.50], CALB)
    assert any("cell 1 is above HVC" in note for note in advice.notes)
    knee = advise([3.30, 3.28], AdvisorySettings(hvc_v=3.65, knee_v=3.40))
    assert any("below the knee" in note for note in knee.notes)


def test_to_dict_is_plain_json() -> None:
    advice = advise(
        [3.40, 3.35, 3.45],
        CALB,
        capacities_ah=[100.0, 100.0, 100.0],
        contents_ah=[96.0, 90.0, 99.0],
    )
    data = advice.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["target_v"] == 3.55
    assert data["charge"][0] == {
        "cell": 2,
        "voltage_v": 3.35,
        "supply_v": 3.55,
        "current_a": 5.0,
        "ah": 10.0,
        "minutes": 120.0,
    }
    assert data["drain"]["cell"] == 3
    assert set(data) == {"balanced", "spread_v", "target_v", "charge", "drain", "notes"}


def test_single_cell_has_nothing_to_compare() -> None:
    assert advise([3.3], CALB).balanced


@pytest.mark.parametrize(
    ("voltages", "kwargs", "message"),
    [
        ([], {}, "voltages"),
        ([3.3, float("nan")], {}, "voltages"),
        ([3.3, 3.4], {"capacities_ah": [100.0]}, "one capacity"),
        ([3.3, 3.4], {"capacities_ah": [100.0, 0.0]}, "capacity"),
        ([3.3, 3.4], {"capacities_ah": [100.0, 100.0], "contents_ah": [1.0]}, "one content"),
        (
            [3.3, 3.4],
            {"capacities_ah": [1.0, 1.0], "contents_ah": [float("nan"), 1.0]},
            "contents",
        ),
    ],
)
def test_bad_input_is_refused(
    voltages: list[float], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        advise(voltages, CALB, **kwargs)  # type: ignore[arg-type]


def test_settings_validation() -> None:
    with pytest.raises(ValueError, match="hvc_v"):
        AdvisorySettings(hvc_v=0.0)
    with pytest.raises(ValueError, match="margin_v"):
        AdvisorySettings(hvc_v=3.6, margin_v=4.0)
    with pytest.raises(ValueError, match="knee_v"):
        AdvisorySettings(hvc_v=3.6, knee_v=-1.0)
