"""The solar outlook: what a forecast says about the battery's share of the surplus."""

from __future__ import annotations

import math

import pytest

from custom_components.victron_balance.logic.pv_forecast import (
    OutlookSettings,
    SolarOutlook,
    finite_number,
    surplus_until_sunset,
)

HOUR = 3600.0
DAYLIGHT = 12 * HOUR
CAPACITY = 8000.0


def outlook_at(
    outlook: SolarOutlook,
    *,
    now: float = 0.0,
    soc: float = 50.0,
    remaining: object = 20_000.0,
    sunset_in: object = 6 * HOUR,
    pv_w: float | None = 3000.0,
    house_w: float | None = 400.0,
    daylight: object = DAYLIGHT,
    capacity: object = CAPACITY,
) -> object:
    return outlook.update(
        now=now,
        pv_w=pv_w,
        house_w=house_w,
        soc=soc,
        remaining_wh=remaining,
        sunset_in_s=sunset_in,
        daylight_s=daylight,
        capacity_wh=capacity,
    )


def test_surplus_until_sunset_spreads_the_forecast_on_the_arc() -> None:
    # Without a house every forecast Wh is surplus, wherever on the arc.
    for left in (11 * HOUR, 6 * HOUR, 1 * HOUR):
        assert surplus_until_sunset(10_000.0, left, DAYLIGHT, 0.0) == pytest.approx(
            10_000, rel=0.01
        )
    # A house above the afternoon's peak leaves nothing; a small one takes little.
    assert surplus_until_sunset(2_000.0, 2 * HOUR, DAYLIGHT, 5_000.0) == 0.0
    # The last hour's sun is below the house already (though its noon was above).
    assert surplus_until_sunset(50.0, 1 * HOUR, DAYLIGHT, 300.0) == 0.0
    noon = surplus_until_sunset(20_000.0, 6 * HOUR, DAYLIGHT, 400.0)
    assert 20_000 - 400 * 6 < noon < 20_000
    assert surplus_until_sunset(0.0, 6 * HOUR, DAYLIGHT, 0.0) == 0.0
    assert surplus_until_sunset(5_000.0, 0.0, DAYLIGHT, 0.0) == 0.0  # the sun has set
    assert surplus_until_sunset(5_000.0, 1e-6, DAYLIGHT, 0.0) == 0.0  # ... all but
    # Before sunrise the whole arc is ahead; a day longer than the arc changes nothing.
    assert surplus_until_sunset(10_000.0, 14 * HOUR, DAYLIGHT, 0.0) == pytest.approx(
        10_000, rel=0.01
    )


def test_finite_number_takes_only_real_numbers() -> None:
    assert finite_number(3) == 3.0
    assert finite_number(2.5) == 2.5
    for bad in (None, True, "1", math.nan, math.inf):
        assert finite_number(bad) is None


def test_a_forecast_that_fills_the_battery_anyway_leaves_it_no_share() -> None:
    outlook = SolarOutlook()
    plan = outlook_at(outlook, soc=50.0, remaining=20_000.0)
    assert plan is not None
    # Needed: 45 % of 8 kWh / 0.95 = 3.8 kWh; expected ~14 kWh after margin and house.
    assert plan.needed_wh == pytest.approx(0.45 * CAPACITY / 0.95)  # type: ignore[attr-defined]
    assert plan.spare_wh > plan.needed_wh  # type: ignore[attr-defined]
    assert plan.battery_share == 0.0  # type: ignore[attr-defined]


def test_the_share_rises_as_the_spare_runs_out() -> None:
    shares = [
        outlook_at(SolarOutlook(), soc=50.0, remaining=r).battery_share  # type: ignore[attr-defined]
        for r in (20_000.0, 10_000.0, 9_000.0, 8_000.0, 3_000.0, 0.0)
    ]
    assert shares[0] == 0.0
    assert shares == sorted(shares)
    assert all(0.0 < share < 1.0 for share in shares[1:4])
    assert shares[-1] == 1.0  # nothing to come: the battery first


def test_a_full_battery_needs_nothing() -> None:
    plan = outlook_at(SolarOutlook(), soc=96.0, remaining=0.0)
    assert plan is not None
    assert (plan.needed_wh, plan.battery_share) == (0.0, 0.0)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "bad",
    [
        {"remaining": None},
        {"remaining": -1.0},
        {"remaining": math.nan},
        {"sunset_in": None},
        {"sunset_in": -5.0},
        {"daylight": 0.0},
        {"capacity": None},
        {"capacity": 0.0},
        {"capacity": "8000"},
    ],
)
def test_missing_or_implausible_inputs_give_no_outlook(bad: dict[str, object]) -> None:
    outlook = SolarOutlook()
    assert outlook_at(outlook, **bad) is None  # type: ignore[arg-type]
    assert outlook.outlook is None
    assert outlook.diagnostics()["spare_wh"] is None


def test_the_forecast_is_corrected_by_the_measured_pv() -> None:
    outlook = SolarOutlook()
    now, remaining = 0.0, 20_000.0
    outlook_at(outlook, now=now, remaining=remaining, pv_w=2400.0)
    # The forecast expected 3 kW for an hour; the panels gave 2.4 kW (80 %).
    for _ in range(60):
        now += 60.0
        remaining -= 50.0
        plan = outlook_at(outlook, now=now, remaining=remaining, pv_w=2400.0)
    assert plan.correction == pytest.approx(0.8, abs=0.01)  # type: ignore[attr-defined]
    # Corrected, the smaller margin applies to the corrected forecast.
    expected = surplus_until_sunset(remaining * 0.8 * 0.95, 6 * HOUR, DAYLIGHT, 400.0)
    assert plan.expected_wh == pytest.approx(expected, rel=0.02)  # type: ignore[attr-defined]
    # A new day's forecast (higher than the last) starts the comparison afresh.
    plan = outlook_at(outlook, now=now + 60.0, remaining=30_000.0)
    assert plan.correction == 1.0  # type: ignore[attr-defined]


def test_the_correction_is_clamped_and_waits_for_enough_forecast() -> None:
    outlook = SolarOutlook()
    outlook_at(outlook, now=0.0, remaining=20_000.0, pv_w=0.0)
    plan = outlook_at(outlook, now=600.0, remaining=19_500.0, pv_w=0.0)
    assert plan.correction == 1.0  # type: ignore[attr-defined]  # only 0.5 kWh of forecast yet
    plan = outlook_at(outlook, now=1200.0, remaining=18_900.0, pv_w=0.0)
    assert plan.correction == 0.5  # type: ignore[attr-defined]  # nothing measured: the floor
    # A long gap is not integrated across.
    outlook_at(outlook, now=50_000.0, remaining=18_800.0, pv_w=100_000.0)
    assert outlook.diagnostics()["correction"] == 0.5
    outlook_at(outlook, now=50_060.0, remaining=18_700.0, pv_w=None)  # PV unknown
    assert outlook.diagnostics()["correction"] == 0.5


def test_the_house_power_is_smoothed() -> None:
    outlook = SolarOutlook()
    outlook_at(outlook, now=0.0, house_w=400.0)
    outlook_at(outlook, now=60.0, house_w=3000.0)  # the kettle
    house = outlook.diagnostics()["house_w"]
    assert 400.0 < house < 500.0
    outlook_at(outlook, now=120.0, house_w=None)  # unknown: the estimate stays
    assert outlook.diagnostics()["house_w"] == house
    outlook.reset()
    assert outlook.diagnostics()["house_w"] is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"margin": 1.0}, "margin"),
        ({"corrected_margin": 0.3}, "margin"),
        ({"charge_efficiency": 0.0}, "charge_efficiency"),
        ({"house_tau_s": 0.0}, "positive"),
        ({"correction_range": (1.1, 1.5)}, "correction_range"),
        ({"margin": math.nan}, "finite"),
    ],
)
def test_settings_are_checked(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OutlookSettings(**changes)  # type: ignore[arg-type]
