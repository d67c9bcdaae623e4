"""The EVSE control step around the PV controller (pure, no HA)."""

from __future__ import annotations

import json

import pytest

from custom_components.victron_balance.logic.evse_control import (
    CLAIM_RESEND_MAX_S,
    CLAIM_RESEND_MIN_S,
    PV_TIMING_OPTIONS,
    ClaimKeeper,
    SolarForecast,
    battery_capacity_wh,
    forecast_energy_wh,
    pv_timing,
    surplus_inputs,
    surplus_settings,
    surplus_target,
)
from custom_components.victron_balance.logic.evse_modes import EvseSettings, Situation
from custom_components.victron_balance.logic.openevse import ClaimRequest, EvseReadings
from custom_components.victron_balance.logic.pv_surplus import SurplusDecision
from custom_components.victron_balance.logic.venus_state import BatteryView, VenusState

PORTAL = "c0ffee000001"
ONLINE = Situation(evse_online=True, venus_alive=True, station_max_current_a=16.0)


def venus(values: dict[str, float]) -> VenusState:
    state = VenusState(PORTAL)
    for path, value in values.items():
        state.apply(f"N/{PORTAL}/{path}", json.dumps({"value": value}).encode())
    return state


def test_surplus_settings_respect_the_user_caps() -> None:
    settings = EvseSettings(
        max_current_a=16, pv_max_current_a=20, battery_upper_soc=60.0, priority_soc=70.0
    )
    mapped = surplus_settings(settings)
    assert mapped.max_current_a == 16.0  # the maximum current caps the PV window
    assert mapped.min_current_a == 6.0
    assert mapped.priority_soc == 60.0  # never above the upper SoC
    assert (mapped.battery_lower_soc, mapped.battery_upper_soc) == (30.0, 60.0)


def test_inputs_from_venus_and_the_station() -> None:
    state = venus(
        {
            "system/0/Dc/Pv/Power": 1200,
            "system/0/Ac/PvOnGrid/L1/Power": 800,
            "system/0/Ac/Grid/L1/Power": -300,
            "system/0/Ac/Grid/L2/Power": 100,
            "system/0/Dc/Battery/Power": 500,
            "system/0/Dc/Battery/Soc": 72.5,
            "system/0/Ac/Consumption/L1/Power": 900,
        }
    )
    readings = EvseReadings()
    readings.apply("power", b"1400")
    readings.apply("vehicle", b"1")
    inputs = surplus_inputs(10.0, state, readings, None)
    assert inputs.now == 10.0
    assert inputs.pv_power_w == 2000.0  # DC-coupled and AC-coupled PV
    assert inputs.grid_power_w == -200.0  # the sum of the phases
    assert (inputs.battery_power_w, inputs.battery_soc) == (500.0, 72.5)
    assert (inputs.consumption_w, inputs.ev_power_w, inputs.ev_connected) == (900.0, 1400.0, True)


def test_missing_values_stay_unknown_and_soc_falls_back_to_the_battery() -> None:
    state = venus({"battery/512/Soc": 55.0})
    inputs = surplus_inputs(0.0, state, EvseReadings(), BatteryView(state, 512))
    assert inputs.battery_soc == 55.0
    assert None is inputs.pv_power_w is inputs.grid_power_w is inputs.battery_power_w
    assert inputs.ev_power_w is None and not inputs.ev_connected
    assert surplus_inputs(0.0, VenusState(PORTAL), EvseReadings(), None).battery_soc is None


@pytest.mark.parametrize("current", [0.0, -3.0, float("nan"), float("inf")])
def test_no_usable_current_is_a_pause(current: float) -> None:
    target = surplus_target(SurplusDecision(current, "waiting_for_sun"), EvseSettings(), ONLINE)
    assert target.claim == ClaimRequest(None)
    assert target.reason == "waiting_for_sun"


def test_a_surplus_current_is_capped_by_the_station_and_the_user() -> None:
    settings = EvseSettings(max_current_a=12)
    target = surplus_target(SurplusDecision(18.7, "surplus"), settings, ONLINE)
    assert target.claim == ClaimRequest(12)
    station = Situation(evse_online=True, venus_alive=True, station_max_current_a=10.0)
    assert surplus_target(SurplusDecision(18.7, "surplus"), EvseSettings(), station).claim == (
        ClaimRequest(10)
    )
    assert surplus_target(SurplusDecision(7.9, "surplus"), EvseSettings(), ONLINE).claim == (
        ClaimRequest(7)
    )


def test_claims_go_out_on_change_and_again_with_backoff_when_not_shown() -> None:
    keeper = ClaimKeeper()
    charge = ClaimRequest(16)
    assert keeper.due(charge, None, 0.0)
    keeper.record(charge, 0.0)
    assert not keeper.due(charge, None, 4.9)  # wait before repeating
    waits = []
    now = 0.0
    for _ in range(6):
        wait = keeper.resend_after
        waits.append(wait)
        now += wait
        assert keeper.due(charge, None, now)
        keeper.record(charge, now)
    assert waits == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]
    assert keeper.resend_after == CLAIM_RESEND_MAX_S
    # Shown by the station: quiet, and the backoff starts over.
    assert not keeper.due(charge, {"state": "active", "charge_current": 16}, now + 100)
    assert keeper.resend_after == CLAIM_RESEND_MIN_S
    # A new request goes out at once.
    assert keeper.due(ClaimRequest(None), {"state": "active", "charge_current": 16}, now + 101)


def test_release_and_forget() -> None:
    keeper = ClaimKeeper()
    assert not keeper.must_release(None)
    assert keeper.must_release({"state": "active"})  # left over from before a restart
    keeper.record(ClaimRequest(None), 1.0)
    assert keeper.must_release(None)
    keeper.forget()
    assert (keeper.sent, keeper.sent_at) == (None, None)
    assert keeper.due(ClaimRequest(None), None, 2.0)


def test_timing_options_default_to_todays_values_and_apply() -> None:
    assert pv_timing({}) == {
        "start_delay_s": 60.0,
        "stop_delay_s": 120.0,
        "min_run_s": 300.0,
        "min_pause_s": 300.0,
        "rise_tau_s": 30.0,
        "fall_tau_s": 3.0,
    }
    assert {option.key for option in PV_TIMING_OPTIONS} >= {"pv_start_delay", "pv_min_run"}
    # Out of range or not a number (a hand-edited entry): today's value.
    timing = pv_timing({"pv_start_delay": 15, "pv_min_run": -5.0, "pv_rise_smoothing": "x"})
    assert (timing["start_delay_s"], timing["min_run_s"], timing["rise_tau_s"]) == (15, 300, 30)
    mapped = surplus_settings(EvseSettings(), timing)
    assert (mapped.start_delay_s, mapped.min_run_s) == (15.0, 300.0)
    assert mapped.max_current_a == 20.0  # the user's numbers still apply


def test_forecast_energy_in_wh() -> None:
    assert forecast_energy_wh("12.5", "kWh") == 12500.0
    assert forecast_energy_wh("800", "Wh") == 800.0
    assert forecast_energy_wh("0.01", "MWh") == 10000.0
    for state, unit in (
        ("12.5", "W"),
        ("12.5", None),
        ("lots", "kWh"),
        ("-1", "kWh"),
        ("nan", "kWh"),
    ):
        assert forecast_energy_wh(state, unit) is None


def test_battery_capacity_from_the_followed_battery() -> None:
    state = venus({"battery/512/InstalledCapacity": 156.0, "battery/512/Dc/0/Voltage": 51.2})
    battery = BatteryView(state, 512)
    assert battery_capacity_wh(battery) == pytest.approx(7987.2)
    assert battery_capacity_wh(None) is None
    assert battery_capacity_wh(BatteryView(venus({"battery/512/Dc/0/Voltage": 51.2}), 512)) is None


def test_inputs_carry_the_forecast() -> None:
    state = venus(
        {
            "system/0/Dc/Battery/Soc": 60.0,
            "battery/512/InstalledCapacity": 156.0,
            "battery/512/Dc/0/Voltage": 51.2,
        }
    )
    readings = EvseReadings()
    battery = BatteryView(state, 512)
    plain = surplus_inputs(1.0, state, readings, battery)
    assert (plain.forecast_remaining_wh, plain.battery_capacity_wh) == (None, None)
    with_forecast = surplus_inputs(
        1.0, state, readings, battery, SolarForecast(9000.0, 7200.0, 43200.0)
    )
    assert with_forecast.forecast_remaining_wh == 9000.0
    assert (with_forecast.sunset_in_s, with_forecast.daylight_s) == (7200.0, 43200.0)
    assert with_forecast.battery_capacity_wh == pytest.approx(7987.2)
