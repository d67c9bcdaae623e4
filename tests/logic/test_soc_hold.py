"""Hold at SoC with hysteresis."""

from __future__ import annotations

import pytest

from custom_components.victron_balance.logic.soc_hold import SocHold


def test_hysteresis() -> None:
    hold = SocHold(80.0, hysteresis_pct=3.0)
    assert hold.charge_allowed(79.9)
    assert not hold.charge_allowed(80.0)
    assert not hold.charge_allowed(78.0)  # inside the band: keep holding
    assert hold.charge_allowed(77.0)
    assert hold.charge_allowed(79.0)  # charging up again until the target


@pytest.mark.parametrize("soc", [None, float("nan")])
def test_unknown_soc_never_charges(soc: float | None) -> None:
    assert not SocHold(80.0).charge_allowed(soc)


@pytest.mark.parametrize(
    ("target", "band"), [(5.0, 3.0), (101.0, 3.0), (80.0, 0.0), (80.0, float("nan"))]
)
def test_bad_settings(target: float, band: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        SocHold(target, band)


def test_charge_current_announced() -> None:
    hold = SocHold(80.0)
    assert hold.charge_current(50.0, 70.0) == 70.0
    assert hold.charge_current(80.0, 70.0) == 0.0
    assert hold.charge_current(None, 70.0) == 0.0
