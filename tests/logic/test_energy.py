"""Lifetime kWh totals: counters followed device by device, power integrated with a gap limit."""

from __future__ import annotations

import json
from typing import Any

import pytest

from custom_components.victron_balance.logic.energy import (
    EnergyTotal,
    battery_counters,
    battery_power,
    grid_power,
    negated,
    pv_counters,
    pv_power,
    service_counters,
)
from custom_components.victron_balance.logic.venus_state import VenusState


def feed(state: VenusState, service: str, path: str, raw: Any) -> None:
    state.apply(f"N/p/{service}{path}", json.dumps({"value": raw}).encode())


def test_a_new_total_starts_at_the_counters_and_follows_their_increases() -> None:
    total = EnergyTotal()
    total.feed_counters({"battery/512": 120.0})
    assert total.total_kwh == 120.0
    total.feed_counters({"battery/512": 120.5})
    assert total.total_kwh == pytest.approx(120.5)


def test_a_device_that_vanishes_and_returns_adds_only_its_increase() -> None:
    total = EnergyTotal()
    total.feed_counters({"solarcharger/278": 10.0, "solarcharger/279": 5.0})
    total.feed_counters({"solarcharger/278": 11.0})  # 279 gone for a while
    assert total.total_kwh == pytest.approx(16.0)
    total.feed_counters({"solarcharger/278": 11.0, "solarcharger/279": 5.5})
    assert total.total_kwh == pytest.approx(16.5)


def test_a_device_seen_later_or_reset_never_makes_the_total_jump_or_fall() -> None:
    total = EnergyTotal()
    total.feed_counters({"grid/30": 1000.0})
    total.feed_counters({"grid/30": 1000.0, "grid/31": 400.0})  # a second meter shows up
    assert total.total_kwh == 1000.0
    total.feed_counters({"grid/30": 2.0, "grid/31": 401.0})  # meter 30 was reset
    assert total.total_kwh == pytest.approx(1001.0)
    total.feed_counters({"grid/30": 3.0, "grid/31": 401.0})
    assert total.total_kwh == pytest.approx(1002.0)


def test_power_is_integrated_between_samples() -> None:
    total = EnergyTotal()
    total.feed_power(0.0, 3600.0)
    assert total.total_kwh == 0.0
    total.feed_power(10.0, 3600.0)
    total.feed_power(20.0, 0.0)  # trapezoid: half of the last stretch
    assert total.total_kwh == pytest.approx(3600 * 15 / 3_600_000)


def test_a_gap_in_the_data_is_never_integrated() -> None:
    total = EnergyTotal(max_gap_s=30.0)
    total.feed_power(0.0, 1000.0)
    total.feed_power(100.0, 1000.0)  # 100 s without a sample: not 1000 W all along
    assert total.total_kwh == 0.0
    total.feed_power(110.0, 1000.0)
    assert total.total_kwh == pytest.approx(1000 * 10 / 3_600_000)


@pytest.mark.parametrize("missing", [None, float("nan")])
def test_an_unknown_power_or_an_interruption_starts_a_new_stretch(missing: float | None) -> None:
    total = EnergyTotal()
    total.feed_power(0.0, 1000.0)
    total.feed_power(5.0, missing)
    total.feed_power(10.0, 1000.0)
    total.interrupt()
    total.feed_power(15.0, 1000.0)
    assert total.total_kwh == 0.0


def test_negative_power_counts_nothing_and_time_going_back_is_ignored() -> None:
    total = EnergyTotal()
    total.feed_power(0.0, -500.0)
    total.feed_power(10.0, -500.0)
    total.feed_power(5.0, 1000.0)
    assert total.total_kwh == 0.0


def test_counters_taking_over_do_not_integrate_across_their_period() -> None:
    total = EnergyTotal()
    total.feed_power(0.0, 3600.0)
    total.feed_power(1.0, 3600.0)
    integrated = total.total_kwh
    total.feed_counters({"battery/512": 50.0})  # a counter appears: counted from here on
    assert total.total_kwh == integrated
    total.feed_counters({"battery/512": 50.25})
    total.feed_power(2.0, 3600.0)  # counter gone again: a new stretch starts
    assert total.total_kwh == pytest.approx(integrated + 0.25)


def test_round_trip_through_storage_and_bad_data() -> None:
    total = EnergyTotal()
    total.feed_counters({"battery/512": 7.5})
    restored = EnergyTotal.from_dict(total.as_dict())
    assert restored.total_kwh == 7.5
    restored.feed_counters({"battery/512": 8.0})
    assert restored.total_kwh == 8.0
    for bad in ({}, {"total_kwh": "x"}, {"total_kwh": -1}, {"total_kwh": True}):
        assert EnergyTotal.from_dict(bad).total_kwh is None
    odd = EnergyTotal.from_dict({"total_kwh": 3, "counters": {"a": 1, "b": "x", "c": False}})
    assert odd.total_kwh == 3.0
    assert odd.counters == {"a": 1.0}
    assert EnergyTotal.from_dict({"total_kwh": 3, "counters": []}).counters == {}


def test_readings_from_venus_paths() -> None:
    state = VenusState("p")
    assert battery_counters(state, None, "/History/ChargedEnergy") == {}
    assert battery_power(state, None) is None
    assert pv_power(state) is None
    feed(state, "battery/512", "/History/ChargedEnergy", 12.5)
    feed(state, "battery/512", "/Dc/0/Power", -800)
    feed(state, "solarcharger/278", "/Yield/User", 321.0)
    feed(state, "pvinverter/20", "/Ac/Energy/Forward", 45.0)
    feed(state, "grid/30", "/Ac/Energy/Forward", 1500.0)
    feed(state, "grid/30", "/Ac/Energy/Reverse", None)
    feed(state, "system/0", "/Dc/Pv/Power", 1200)
    feed(state, "system/0", "/Ac/PvOnGrid/L1/Power", 300)
    feed(state, "system/0", "/Ac/Grid/L1/Power", -250)
    assert battery_counters(state, 512, "/History/ChargedEnergy") == {"battery/512": 12.5}
    assert battery_counters(state, 512, "/History/DischargedEnergy") == {}
    assert battery_power(state, 512) == -800.0
    assert negated(battery_power(state, 512)) == 800.0
    assert negated(None) is None
    assert pv_counters(state) == {"solarcharger/278": 321.0, "pvinverter/20": 45.0}
    assert service_counters(state, "grid", "/Ac/Energy/Forward") == {"grid/30": 1500.0}
    assert service_counters(state, "grid", "/Ac/Energy/Reverse") == {}
    assert pv_power(state) == 1500.0
    assert grid_power(state) == -250.0


def test_implausible_counters_are_rejected() -> None:
    state = VenusState("p")
    feed(state, "battery/512", "/History/ChargedEnergy", -3)
    assert battery_counters(state, 512, "/History/ChargedEnergy") == {}
