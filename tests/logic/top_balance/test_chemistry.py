"""Presets and the bounds every control path clamps to."""

from __future__ import annotations

import dataclasses
import math

import pytest

from custom_components.victron_balance.logic.top_balance.chemistry import (
    PRESETS,
    ChemistryPreset,
    charge_bounds,
    estimated_soc,
)


def test_presets_have_the_issue_keys_and_sane_voltages() -> None:
    assert set(PRESETS) == {
        "lifepo4_355",
        "lifepo4_360",
        "lifepo4_365",
        "calb_360",
        "thundersky_380",
        "custom",
    }
    for key, preset in PRESETS.items():
        assert preset.key == key
        assert preset.min_cell_v < preset.cell_target_v <= preset.max_cell_v <= preset.ovp_v
        assert preset.shunt_v == pytest.approx(preset.cell_target_v - preset.shunt_offset_v)
    assert PRESETS["thundersky_380"].shunt_v == pytest.approx(3.70)
    assert PRESETS["calb_360"].shunt_v == pytest.approx(3.50)


def test_preset_round_trip_and_validation() -> None:
    preset = PRESETS["lifepo4_360"]
    assert ChemistryPreset.from_dict(preset.to_dict()) == preset
    with pytest.raises(ValueError, match="finite"):
        dataclasses.replace(preset, cell_target_v=math.nan)
    with pytest.raises(ValueError, match="within"):
        dataclasses.replace(preset, cell_target_v=3.70)
    with pytest.raises(ValueError, match="over-voltage"):
        dataclasses.replace(preset, ovp_v=3.60)
    with pytest.raises(ValueError, match="min_cell_v"):
        dataclasses.replace(preset, min_cell_v=3.7)
    with pytest.raises(ValueError, match="shunt"):
        dataclasses.replace(preset, shunt_offset_v=0.0)
    with pytest.raises(ValueError, match="number"):
        ChemistryPreset.from_dict({**preset.to_dict(), "hvc_v": "high"})


def test_charge_bounds_for_16_cells() -> None:
    bounds = charge_bounds(16, PRESETS["lifepo4_355"], max_current_a=70)
    assert bounds.voltage_max == pytest.approx(16 * 3.65)
    assert bounds.voltage_min == pytest.approx(16 * 2.90)
    assert (bounds.current_min, bounds.current_max) == (0.0, 70.0)
    assert bounds.cell_target_min == pytest.approx(3.35)
    assert bounds.cell_target_max == pytest.approx(3.65)
    assert bounds.clamp_voltage(70.0) == pytest.approx(58.4)
    assert bounds.clamp_voltage(10.0) == pytest.approx(46.4)
    assert bounds.clamp_voltage(55) == 55.0
    assert bounds.clamp_current(-3) == 0.0
    assert bounds.clamp_current(500) == 70.0
    assert bounds.clamp_cell_target(4.2) == pytest.approx(3.65)
    assert bounds.clamp_cell_target(3.0) == pytest.approx(3.35)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "x", None, True])
def test_clamps_reject_nan_inf_and_non_numbers(bad: object) -> None:
    bounds = charge_bounds(16, PRESETS["lifepo4_355"])
    for clamp in (bounds.clamp_voltage, bounds.clamp_current, bounds.clamp_cell_target):
        with pytest.raises(ValueError, match=r"must|not a|no room|finite"):
            clamp(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cells", "current"), [(0, 70.0), (65, 70.0), (True, 70.0), (16, 0.0), (16, math.nan)]
)
def test_charge_bounds_rejects_bad_arguments(cells: int, current: float) -> None:
    with pytest.raises(ValueError, match=r"must|not a|no room|finite"):
        charge_bounds(cells, PRESETS["lifepo4_355"], current)


def test_estimated_soc_is_monotonic_and_scaled_to_hvc() -> None:
    preset = PRESETS["lifepo4_365"]
    assert estimated_soc(2.0, preset) == 0.0
    assert estimated_soc(3.7, preset) == 1.0
    assert estimated_soc(3.30, preset) == pytest.approx(0.5)
    assert estimated_soc(3.45, preset) == pytest.approx(0.985)
    thundersky = PRESETS["thundersky_380"]
    assert estimated_soc(3.55, thundersky) < estimated_soc(3.55, preset)
    with pytest.raises(ValueError, match=r"must|not a|no room|finite"):
        estimated_soc(math.nan, preset)
