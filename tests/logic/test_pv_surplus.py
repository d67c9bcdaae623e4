"""The PV-surplus controller, pure: every rule, its timers and its bad-input handling."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from custom_components.victron_balance.logic.pv_forecast import OutlookSettings
from custom_components.victron_balance.logic.pv_surplus import (
    PvSurplusController,
    SurplusDecision,
    SurplusInputs,
    SurplusSettings,
)

STEP = 2.0  # s between snapshots, as Venus delivers them
VOLTS = 230.0


class Ess:
    """A Victron ESS in miniature, closed around the controller.

    The grid stays at zero while the battery can take or give the difference; the EV
    follows the controller's current at once. ``surplus_w`` is PV minus the house.
    """

    def __init__(self, settings: SurplusSettings | None = None, soc: float = 60.0) -> None:
        self.controller = PvSurplusController(settings or SurplusSettings())
        self.now = 1000.0
        self.soc = soc
        self.current = 0.0
        self.decisions: list[SurplusDecision] = []
        self.forecast: dict[str, float | None] = {}  # SurplusInputs' forecast fields

    def snapshot(self, surplus_w: float, grid_w: float = 0.0) -> SurplusInputs:
        ev_w = self.current * VOLTS
        return SurplusInputs(
            now=self.now,
            pv_power_w=surplus_w + 500.0,
            grid_power_w=grid_w,
            battery_power_w=surplus_w - ev_w + grid_w,
            battery_soc=self.soc,
            consumption_w=500.0 + ev_w,
            ev_power_w=ev_w,
            ev_connected=True,
            **self.forecast,  # type: ignore[arg-type]
        )

    def step(self, surplus_w: float, grid_w: float = 0.0) -> SurplusDecision:
        decision = self.controller.update(self.snapshot(surplus_w, grid_w))
        self.current = decision.current_a
        self.decisions.append(decision)
        self.now += STEP
        return decision

    def run(self, seconds: float, surplus_w: float, grid_w: float = 0.0) -> SurplusDecision:
        decision = self.step(surplus_w, grid_w)
        for _ in range(round(seconds / STEP) - 1):
            decision = self.step(surplus_w, grid_w)
        return decision

    def reasons(self) -> set[str]:
        return {d.reason for d in self.decisions}

    def charging_now(self, surplus_w: float = 3000.0) -> None:
        """Get past the start delay and the minimum run time at ``surplus_w``."""
        self.run(400.0, surplus_w)
        assert self.current > 0
        self.decisions.clear()


def inputs(**changes: object) -> SurplusInputs:
    base = SurplusInputs(
        now=0.0,
        pv_power_w=3000.0,
        grid_power_w=0.0,
        battery_power_w=2500.0,
        battery_soc=60.0,
        consumption_w=500.0,
        ev_power_w=0.0,
        ev_connected=True,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


# ---------------------------------------------------------------- settings
def test_default_settings_follow_the_seed_and_derive_powers() -> None:
    s = SurplusSettings()
    assert (s.min_current_a, s.max_current_a) == (6.0, 20.0)
    assert (s.battery_lower_soc, s.battery_upper_soc, s.priority_soc) == (30.0, 80.0, 50.0)
    assert s.min_power_w == pytest.approx(1380.0)
    three = SurplusSettings(phases=3)
    assert three.watts_per_amp == pytest.approx(690.0)
    assert three.min_power_w == pytest.approx(4140.0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"min_current_a": math.nan}, "min_current_a must be a finite number"),
        ({"rise_tau_s": math.inf}, "rise_tau_s must be a finite number"),
        ({"min_current_a": 0.0}, "min_current_a <= max_current_a"),
        ({"min_current_a": 21.0}, "min_current_a <= max_current_a"),
        ({"phases": 2}, "phases must be 1 or 3"),
        ({"voltage_v": 0.0}, "voltage_v must be positive"),
        ({"battery_lower_soc": -1.0}, "within 0..100"),
        ({"priority_soc": 101.0}, "within 0..100"),
        ({"battery_lower_soc": 80.0}, "must be below battery_upper_soc"),
        ({"assist_min_share": 1.5}, "assist_min_share must be within 0..1"),
        ({"assist_min_share": -0.1}, "assist_min_share must not be negative"),
        ({"min_pause_s": -1.0}, "min_pause_s must not be negative"),
        ({"current_hysteresis_a": -0.5}, "current_hysteresis_a must not be negative"),
        ({"fall_tau_s": 0.0}, "fall_tau_s must be positive"),
        ({"max_update_gap_s": -5.0}, "max_update_gap_s must be positive"),
    ],
)
def test_bad_settings_raise_a_clear_error(changes: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SurplusSettings(**changes)  # type: ignore[arg-type]


# ------------------------------------------------------------ starting up
def test_starts_after_the_start_delay_at_the_current_the_surplus_pays_for() -> None:
    ess = Ess()
    assert ess.step(2000.0) == SurplusDecision(0.0, "start_delay")
    ess.run(58.0, 2000.0)
    assert ess.current == 0.0  # 58 s of surplus: not yet
    decision = ess.step(2000.0)  # 60 s
    assert decision == SurplusDecision(8.0, "surplus")  # floor(2000 / 230)


def test_no_start_below_the_minimum_power_plus_the_margin() -> None:
    ess = Ess()
    assert ess.run(600.0, 1450.0) == SurplusDecision(0.0, "waiting_for_sun")
    assert ess.reasons() == {"waiting_for_sun"}


def test_a_short_burst_of_sun_does_not_start_the_ev() -> None:
    ess = Ess()
    ess.run(30.0, 3000.0)
    assert ess.run(30.0, 800.0) == SurplusDecision(0.0, "waiting_for_sun")
    ess.run(40.0, 3000.0)  # the start delay begins again
    assert ess.current == 0.0


def test_rising_surplus_is_followed_slowly_and_capped_at_the_maximum() -> None:
    ess = Ess()
    ess.charging_now(2000.0)
    assert ess.current == 8.0
    ess.run(10.0, 6000.0)
    early = ess.current
    assert 8.0 < early < 20.0  # not at once: a gap in the clouds is not worth chasing
    ess.run(200.0, 6000.0)
    assert ess.current == 20.0  # max_current_a


def test_maximum_current_three_phases() -> None:
    ess = Ess(SurplusSettings(phases=3, min_current_a=6.0, max_current_a=16.0))
    ess.charging_now(9000.0)
    assert ess.current == 13.0  # floor(9000 / 690)


# ------------------------------------------------------------------ clouds
def test_a_cloud_is_followed_within_ten_seconds() -> None:
    ess = Ess()
    ess.charging_now(4000.0)
    assert ess.current == 17.0
    ess.run(10.0, 1650.0)
    assert ess.current <= 8.0  # 1650 W pays for 7.2 A: within the hysteresis of it
    ess.run(10.0, 1650.0)
    assert ess.current == 7.0
    assert ess.decisions[-1].reason == "surplus"


def test_running_current_does_not_hunt_on_a_lagging_reading() -> None:
    ess = Ess()
    ess.charging_now(3000.0)
    assert ess.current == 13.0  # 3000 W = 13.04 A
    # One snapshot where the EV power lags a step: the surplus looks 1 A smaller.
    ess.step(3000.0 - VOLTS)
    ess.run(10.0, 3000.0)
    assert {d.current_a for d in ess.decisions} == {13.0}


def test_current_drops_once_the_surplus_is_half_an_amp_below() -> None:
    ess = Ess()
    ess.charging_now(3000.0)
    ess.run(60.0, 12.6 * VOLTS)
    assert ess.current == 13.0  # within the hysteresis
    ess.run(60.0, 12.4 * VOLTS)
    assert ess.current == 12.0


def test_battery_assists_a_cloud_at_the_minimum_current() -> None:
    ess = Ess(soc=60.0)
    ess.run(30.0, 2000.0)
    ess.soc = 70.0  # the battery banked energy since the car was plugged in
    ess.charging_now(2000.0)
    decision = ess.run(1200.0, 600.0)  # 600 W of 1380 W: the battery carries the rest
    assert decision == SurplusDecision(6.0, "battery_assist")


def test_no_assist_when_the_sun_covers_too_little() -> None:
    ess = Ess(soc=60.0)
    ess.run(30.0, 2000.0)
    ess.soc = 70.0
    ess.charging_now(2000.0)
    decision = ess.run(130.0, 300.0)  # 300 W < 30 % of 1380 W
    assert decision == SurplusDecision(0.0, "waiting_for_sun")
    assert "stop_delay" in ess.reasons()


@pytest.mark.parametrize(
    ("settings", "plug_in_soc", "soc", "assists"),
    [
        (SurplusSettings(), 60.0, 60.0, False),  # nothing banked since plug-in
        (SurplusSettings(), 60.0, 61.0, True),
        (SurplusSettings(), 40.0, 45.0, False),  # below the priority SoC
        (SurplusSettings(assist_above_priority_soc=False), 40.0, 45.0, True),
        (SurplusSettings(assist_keeps_plug_in_soc=False), 60.0, 55.0, True),
        (
            SurplusSettings(assist_keeps_plug_in_soc=False, assist_above_priority_soc=False),
            60.0,
            31.0,
            True,  # seed 001 as written: down to the lower SoC
        ),
    ],
)
def test_assist_floors(
    settings: SurplusSettings, plug_in_soc: float, soc: float, assists: bool
) -> None:
    ess = Ess(settings, soc=plug_in_soc)
    ess.run(30.0, 3000.0)
    ess.soc = max(soc, settings.priority_soc)  # charge above any priority first
    ess.charging_now(3000.0)
    ess.soc = soc
    ess.run(1000.0, 700.0)
    assert (ess.current == 6.0) is assists
    assert ("battery_assist" in ess.reasons()) is assists


def test_assist_floor_in_the_diagnostics() -> None:
    ess = Ess(soc=72.0)
    ess.step(0.0)
    assert ess.controller.assist_floor_soc() == 72.0
    assert ess.controller.diagnostics()["plug_in_soc"] == 72.0


# ------------------------------------------------------------- run / pause
def test_minimum_run_time_then_stop_delay_then_pause() -> None:
    ess = Ess()
    ess.run(62.0, 2000.0)
    assert ess.current == 8.0
    started = ess.now - STEP
    ess.decisions.clear()
    ess.run(60.0, 0.0)  # no sun at all, 60 s after the start
    assert ess.decisions[-1] == SurplusDecision(6.0, "min_run_time")
    while ess.current > 0:
        ess.step(0.0)
    stopped = ess.now - STEP
    assert stopped - started >= 300.0  # min_run_s
    assert {"min_run_time", "stop_delay"} >= ess.reasons() - {"waiting_for_sun"}
    assert ess.decisions[-1] == SurplusDecision(0.0, "waiting_for_sun")


def test_stop_delay_after_the_minimum_run_time() -> None:
    ess = Ess()
    ess.charging_now(2000.0)
    decision = ess.run(100.0, 0.0)
    assert decision == SurplusDecision(6.0, "stop_delay")
    ess.run(24.0, 0.0)
    assert ess.current == 0.0


def test_sun_back_inside_the_stop_delay_keeps_charging() -> None:
    ess = Ess()
    ess.charging_now(2000.0)
    ess.run(60.0, 0.0)
    assert ess.decisions[-1].reason == "stop_delay"
    ess.run(60.0, 2500.0)
    ess.run(100.0, 0.0)  # the stop delay starts over
    assert ess.current == 6.0


def test_minimum_pause_after_a_stop() -> None:
    ess = Ess()
    ess.charging_now(2000.0)
    ess.run(130.0, 0.0)
    assert ess.current == 0.0
    decision = ess.run(200.0, 3000.0)
    assert decision == SurplusDecision(0.0, "min_pause_time")
    ess.run(100.0, 3000.0)  # 300 s since the stop, and the surplus held all along
    assert ess.current > 0


# ----------------------------------------------------------------- battery
def test_low_soc_sleeps_at_once_until_the_upper_soc() -> None:
    ess = Ess(soc=60.0)
    ess.run(70.0, 3000.0)
    assert ess.current > 0
    ess.soc = 30.0
    assert ess.step(3000.0) == SurplusDecision(0.0, "low_soc_pause")
    ess.soc = 79.9
    assert ess.run(600.0, 5000.0) == SurplusDecision(0.0, "low_soc_pause")
    assert ess.controller.diagnostics()["low_soc_pause"] is True
    ess.soc = 80.0
    ess.run(300.0, 5000.0)  # min pause from the low-SoC stop, then the start delay
    assert ess.current > 0
    assert ess.controller.diagnostics()["low_soc_pause"] is False


def test_low_soc_at_plug_in_sleeps_too() -> None:
    ess = Ess(soc=25.0)
    assert ess.run(300.0, 4000.0) == SurplusDecision(0.0, "low_soc_pause")


def test_priority_soc_gives_the_battery_the_surplus_first() -> None:
    ess = Ess(soc=45.0)
    assert ess.run(300.0, 3000.0) == SurplusDecision(0.0, "priority_soc")
    ess.soc = 50.0
    ess.run(300.0, 3000.0)
    assert ess.current == 13.0


def test_below_priority_soc_a_running_ev_keeps_its_current_but_does_not_grow() -> None:
    ess = Ess(soc=60.0)
    ess.charging_now(2000.0)
    assert ess.current == 8.0
    ess.soc = 45.0
    ess.run(300.0, 4000.0)  # the battery takes the extra 2 kW
    assert ess.current == 8.0
    ess.run(300.0, 4000.0, grid_w=-1000.0)  # export still counts
    assert ess.current > 8.0


def test_paused_with_a_discharging_battery_below_priority_waits_for_sun() -> None:
    ess = Ess(soc=40.0)
    assert ess.run(20.0, -300.0) == SurplusDecision(0.0, "waiting_for_sun")


# --------------------------------------------------------------- the grid
def test_sustained_import_at_the_minimum_stops_at_once() -> None:
    ess = Ess()
    ess.run(62.0, 2000.0)
    assert ess.current == 8.0
    started = ess.now - STEP
    # The battery cannot help (e.g. at the ESS minimum SoC): the EV imports.
    ess.run(8.0, 0.0, grid_w=1380.0)
    assert ess.current == 6.0  # inside the minimum run time, still at the minimum
    while ess.current > 0:
        decision = ess.step(0.0, grid_w=1380.0)
    assert decision == SurplusDecision(0.0, "grid_import")
    assert ess.now - started < 30.0  # long before the minimum run time


def test_brief_import_is_tolerated() -> None:
    ess = Ess()
    ess.charging_now(1500.0)
    ess.run(6.0, 1500.0, grid_w=500.0)
    ess.run(20.0, 1500.0)
    assert ess.current == 6.0
    assert "grid_import" not in ess.reasons()


# -------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    "bad",
    [
        {"grid_power_w": None},
        {"battery_power_w": None},
        {"battery_soc": None},
        {"ev_power_w": None},
        {"grid_power_w": math.nan},
        {"battery_power_w": math.inf},
        {"battery_soc": -math.inf},
        {"battery_soc": 101.0},
        {"ev_power_w": "1380"},
        {"grid_power_w": True},
        {"now": math.nan},
    ],
)
def test_bad_inputs_pause_at_once(bad: dict[str, object]) -> None:
    ess = Ess()
    ess.charging_now(3000.0)
    snapshot = replace(ess.snapshot(3000.0), **bad)  # type: ignore[arg-type]
    assert ess.controller.update(snapshot) == SurplusDecision(0.0, "stale_input")
    if "now" not in bad:
        paused = ess.controller.update(replace(snapshot, now=ess.now + STEP))
        assert paused == SurplusDecision(0.0, "stale_input")


def test_stale_inputs_count_as_a_stop_for_the_minimum_pause() -> None:
    ess = Ess()
    ess.charging_now(3000.0)
    ess.controller.update(replace(ess.snapshot(3000.0), grid_power_w=None))
    ess.current = 0.0
    ess.now += STEP
    ess.run(200.0, 3000.0)
    assert ess.decisions[-1] == SurplusDecision(0.0, "min_pause_time")


def test_optional_inputs_may_be_missing() -> None:
    ess = Ess()
    controller = ess.controller
    for index in range(40):
        decision = controller.update(
            inputs(now=index * STEP, pv_power_w=None, consumption_w=math.nan)
        )
    assert decision == SurplusDecision(10.0, "surplus")  # floor(2500 / 230)
    diagnostics = controller.diagnostics()
    assert diagnostics["pv_power_w"] is None
    assert diagnostics["consumption_w"] is None


def test_negative_ev_power_counts_as_zero() -> None:
    controller = PvSurplusController(SurplusSettings())
    controller.update(inputs(ev_power_w=-50.0, battery_power_w=1000.0))
    assert controller.diagnostics()["raw_surplus_w"] == 1000.0


def test_long_gap_or_clock_jump_restarts_the_filter() -> None:
    controller = PvSurplusController(SurplusSettings())
    controller.update(inputs(now=0.0, battery_power_w=0.0))
    controller.update(inputs(now=100.0, battery_power_w=3000.0))  # gap > 60 s
    assert controller.diagnostics()["smoothed_surplus_w"] == 3000.0
    controller.update(inputs(now=50.0, battery_power_w=500.0))  # the clock went back
    assert controller.diagnostics()["smoothed_surplus_w"] == 500.0
    controller.update(inputs(now=52.0, battery_power_w=3000.0))
    assert 500.0 < controller.diagnostics()["smoothed_surplus_w"] < 3000.0


def test_unplugging_resets_everything() -> None:
    ess = Ess(soc=60.0)
    ess.charging_now(3000.0)
    unplugged = replace(ess.snapshot(3000.0), ev_connected=False)
    assert ess.controller.update(unplugged) == SurplusDecision(0.0, "not_connected")
    diagnostics = ess.controller.diagnostics()
    assert diagnostics["smoothed_surplus_w"] is None
    assert diagnostics["plug_in_soc"] is None
    assert diagnostics["run_started"] is None
    # Plugged in again at another SoC: a new session with a new floor.
    ess.current = 0.0
    ess.soc = 75.0
    ess.step(3000.0)
    assert ess.controller.diagnostics()["plug_in_soc"] == 75.0


# --------------------------------------------------------- settings, state
def test_update_settings_keeps_the_state_and_clamps_the_current() -> None:
    ess = Ess()
    ess.charging_now(4000.0)
    assert ess.current == 17.0
    run_started = ess.controller.diagnostics()["run_started"]
    ess.controller.update_settings(replace(ess.controller.settings, max_current_a=10.0))
    assert ess.controller.settings.max_current_a == 10.0
    assert ess.controller.diagnostics()["current_a"] == 10.0
    assert ess.step(4000.0) == SurplusDecision(10.0, "surplus")
    assert ess.controller.diagnostics()["run_started"] == run_started


def test_update_settings_while_paused_keeps_the_pause() -> None:
    ess = Ess()
    ess.run(20.0, 3000.0)
    ess.controller.update_settings(SurplusSettings(start_delay_s=10.0))
    assert ess.step(3000.0) == SurplusDecision(13.0, "surplus")


def test_reset_forgets_everything() -> None:
    ess = Ess()
    ess.charging_now(3000.0)
    ess.controller.reset()
    diagnostics = ess.controller.diagnostics()
    assert diagnostics["current_a"] == 0.0
    assert diagnostics["reason"] == "not_connected"
    assert diagnostics["smoothed_surplus_w"] is None
    assert diagnostics["paused_since"] is None
    assert ess.controller.assist_floor_soc() == 50.0  # lower and priority SoC only


def test_diagnostics_are_json_friendly() -> None:
    ess = Ess()
    ess.charging_now(3000.0)
    diagnostics = ess.controller.diagnostics()
    assert diagnostics["reason"] == "surplus"
    assert diagnostics["current_a"] == 13.0
    assert diagnostics["smoothed_surplus_w"] == pytest.approx(3000.0, abs=1.0)
    assert diagnostics["pv_power_w"] == 3500.0
    assert diagnostics["consumption_w"] == pytest.approx(500.0 + 13.0 * VOLTS)
    assert diagnostics["last_update"] == ess.now - STEP
    for value in diagnostics.values():
        assert value is None or isinstance(value, str | bool | int | float)


# --------------------------------------------------------------- forecast
HOUR = 3600.0


def forecasting(remaining_wh: float, soc: float, sunset_in_h: float = 6.0) -> Ess:
    """An ESS with a forecast: 12 h of daylight, an 8 kWh battery."""
    ess = Ess(soc=soc)
    ess.forecast = {
        "forecast_remaining_wh": remaining_wh,
        "sunset_in_s": sunset_in_h * HOUR,
        "daylight_s": 12 * HOUR,
        "battery_capacity_wh": 8000.0,
    }
    return ess


def test_a_forecast_that_fills_the_battery_lets_the_car_go_first() -> None:
    # Below the priority SoC: without a forecast the battery charges first ...
    plain = Ess(soc=40.0)
    plain.run(120.0, 2500.0)
    assert plain.current == 0.0
    assert "priority_soc" in plain.reasons()
    # ... but the forecast says it fills anyway: its charge power is the car's.
    sunny = forecasting(25_000.0, soc=40.0)
    sunny.run(120.0, 2500.0)
    assert sunny.current == 10.0
    assert sunny.controller.diagnostics()["forecast_battery_share"] == 0.0


def test_a_forecast_that_will_not_fill_the_battery_protects_it() -> None:
    # Above the priority SoC the surplus would be the car's; the forecast says the
    # battery needs all of it.
    dull = forecasting(1_000.0, soc=70.0)
    dull.run(120.0, 2500.0)
    assert dull.current == 0.0
    assert dull.reasons() == {"priority_soc"}
    # Export is the car's even then (the battery takes no more than it takes).
    decision = dull.run(120.0, 2500.0, grid_w=-2000.0)
    assert decision.current_a > 0


def test_with_a_share_the_car_takes_the_rest_even_if_it_already_draws_it() -> None:
    ess = forecasting(25_000.0, soc=60.0)
    # (No correction by the measured PV here: the forecast below drops at once.)
    ess.controller = PvSurplusController(
        SurplusSettings(), OutlookSettings(correction_after_wh=1e9)
    )
    ess.run(400.0, 3000.0)
    assert ess.current == 13.0
    # The forecast drops: the battery needs most of what is left; the car gives it back
    # although the battery is not charging while the car draws everything.
    ess.forecast["forecast_remaining_wh"] = 8_000.0
    ess.run(30.0, 3000.0)
    share = ess.controller.diagnostics()["forecast_battery_share"]
    assert 0.5 < share < 1.0
    # A quarter of 3 kW is below the minimum: the car drops to it, the battery charges
    # with the rest (and would lend the difference, as the forecast still has spare).
    assert ess.decisions[-1] == SurplusDecision(6.0, "battery_assist")


def test_with_a_forecast_the_battery_rides_the_car_through_a_dark_cloud() -> None:
    plain = Ess(soc=70.0)
    plain.charging_now(3000.0)
    plain.run(300.0, 100.0)  # a deep cloud: the sun covers 7 % of the minimum
    assert plain.current == 0.0  # without a forecast: stop
    sunny = forecasting(25_000.0, soc=70.0)
    sunny.charging_now(3000.0)
    sunny.run(300.0, 100.0)
    assert sunny.current == 6.0
    assert "battery_assist" in sunny.reasons()
    assert sunny.controller.assist_floor_soc() == 30.0  # the lower SoC


def test_no_assist_when_the_forecast_has_no_spare() -> None:
    ess = forecasting(2_000.0, soc=70.0)
    ess.forecast["forecast_remaining_wh"] = 25_000.0
    ess.charging_now(3000.0)
    ess.forecast["forecast_remaining_wh"] = 2_000.0
    ess.run(300.0, 800.0)
    assert ess.current == 0.0
    assert ess.controller.assist_floor_soc() == 100.0


def test_a_full_battery_that_fills_anyway_lends_the_car_a_start() -> None:
    # Above the upper SoC, with 600 W of export: below the minimum, but the battery may
    # lend the rest and the forecast refills it.
    full = forecasting(10_000.0, soc=90.0)
    full.run(70.0, 600.0, grid_w=-600.0)
    assert full.decisions[-1] == SurplusDecision(6.0, "battery_assist")
    # Not below the upper SoC, nor when the forecast has nothing to spare.
    assert forecasting(10_000.0, soc=70.0).run(300.0, 600.0).current_a == 0.0
    assert forecasting(500.0, soc=90.0).run(300.0, 600.0, grid_w=-600.0).current_a == 0.0


def test_without_a_forecast_only_a_full_exporting_battery_lends_a_start() -> None:
    ess = Ess(soc=70.0)  # plugged in at 70 %: the battery lends only what it banks since
    ess.run(10.0, 600.0)
    ess.soc = 90.0
    assert ess.run(300.0, 600.0, grid_w=-600.0).current_a == 0.0  # not full yet
    ess.soc = 96.0
    assert ess.run(300.0, 600.0).current_a == 0.0  # full, but not exporting
    ess.run(70.0, 600.0, grid_w=-600.0)
    assert ess.decisions[-1] == SurplusDecision(6.0, "battery_assist")
    # Plugged in full: nothing banked this session, nothing lent.
    assert Ess(soc=96.0).run(300.0, 600.0, grid_w=-600.0).current_a == 0.0


def test_a_lost_forecast_falls_back_to_the_rules_without_one() -> None:
    ess = forecasting(25_000.0, soc=40.0)
    ess.run(120.0, 2500.0)
    assert ess.current == 10.0
    ess.forecast["forecast_remaining_wh"] = None  # the entity went unavailable
    ess.run(10.0, 2500.0)
    diagnostics = ess.controller.diagnostics()
    assert diagnostics["forecast_battery_share"] is None
    # Below the priority SoC again: the battery's charge is not surplus any more.
    assert ess.decisions[-1].current_a == 10.0  # a running charge keeps its current
