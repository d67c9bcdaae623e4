"""The benchmark's baseline controllers follow their documented rules."""

from __future__ import annotations

from dataclasses import replace

import pytest

from benchmarks.pv_baselines import EvccPv, OpenEvseEco, Reading, SeedNodeRed, evcc_like_ours


def reading(**changes: object) -> Reading:
    base = Reading(
        now=0.0,
        pv_w=3000.0,
        grid_w=0.0,
        battery_w=0.0,
        soc=60.0,
        household_w=500.0,
        ev_current_a=0.0,
        ev_connected=True,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


# ---------------------------------------------------------------- seed 001
def test_seed_follows_pv_minus_house_between_6_and_20_a() -> None:
    seed = SeedNodeRed()
    assert seed.update(reading(pv_w=3000.0)) == 10.0  # (3000 - 500) / 230
    assert seed.update(reading(pv_w=600.0)) == 6.0  # the battery supplements
    assert seed.update(reading(pv_w=9000.0)) == 20.0
    assert seed.update(reading(ev_connected=False)) == 0.0


def test_seed_sleeps_from_the_lower_to_the_upper_soc() -> None:
    seed = SeedNodeRed()
    assert seed.update(reading(soc=30.0)) == 0.0
    assert seed.update(reading(soc=79.0)) == 0.0
    assert seed.update(reading(soc=80.0)) == 10.0


# ------------------------------------------------------------------ openEVSE
def test_openevse_starts_on_smoothed_export_and_holds_the_minimum_charge_time() -> None:
    eco = OpenEvseEco()
    # 2.3 kW export: available = 10 A - 0.43 A reserve; attack 20 s.
    amps = [eco.update(reading(now=t, grid_w=-2300.0)) for t in range(0, 120, 10)]
    assert amps[0] == 0.0  # the first feed has no time step: nothing smoothed yet
    assert amps[-1] == 9.0  # floor(9.57)
    assert eco.active
    # Charging, then the export vanishes: the battery carries it (grid 0), the claim
    # stays during the minimum charge time and the smoothed current decays slowly.
    now = 120.0
    eco.update(reading(now=now, grid_w=-230.0, ev_current_a=9.0))
    for _ in range(30):
        now += 10.0
        assert eco.update(reading(now=now, grid_w=0.0, ev_current_a=6.0)) >= 6.0
    stopped_at: float | None = None
    while stopped_at is None and now < 5000.0:
        now += 10.0
        eco.update(reading(now=now, grid_w=0.0, ev_current_a=6.0))
        stopped_at = None if eco.active else now
    assert stopped_at is not None
    assert stopped_at >= 120.0 + 600.0  # not before the minimum charge time


def test_openevse_never_sees_a_battery_that_takes_the_surplus() -> None:
    eco = OpenEvseEco()
    amps = [eco.update(reading(now=t, grid_w=0.0, battery_w=2500.0)) for t in range(0, 600, 10)]
    assert set(amps) == {0.0}


# ----------------------------------------------------------------------- evcc
def test_evcc_starts_at_once_on_connect_then_waits_the_enable_delay() -> None:
    evcc = EvccPv()
    # ESS: the battery takes 2 kW of surplus; evcc counts it (prioritySoc unset).
    assert evcc.update(reading(now=0.0, battery_w=2000.0)) == 6.0
    assert evcc.update(reading(now=30.0, battery_w=620.0, ev_current_a=6.0)) == 8.0
    assert evcc.update(reading(now=60.0, battery_w=160.0, ev_current_a=8.0)) == 8.0


def test_evcc_disable_delay_and_enable_delay() -> None:
    evcc = EvccPv()
    evcc.update(reading(now=0.0, battery_w=2000.0))
    assert evcc.update(reading(now=30.0, battery_w=620.0, ev_current_a=6.0)) == 8.0
    # The sun goes: the battery discharges to hold the EV.
    amps = [
        evcc.update(reading(now=t, battery_w=-1000.0, ev_current_a=6.0)) for t in range(60, 301, 30)
    ]
    assert amps[:6] == [6.0] * 6  # the disable timer starts at 60 s; 3 min to run
    assert amps[6] == 0.0  # 240 s: elapsed
    # Back: 1.5 kW surplus with the EV off; enable after one minute.
    later = [
        evcc.update(reading(now=t, battery_w=1500.0, ev_current_a=0.0)) for t in (330, 360, 390)
    ]
    assert later == [0.0, 0.0, 6.0]


def test_evcc_resets_its_timer_after_the_start_so_the_first_shortfall_waits_the_delay() -> None:
    evcc = EvccPv()
    assert evcc.update(reading(now=0.0, battery_w=2000.0)) == 6.0  # connect: timer elapsed
    # pvMaxCurrent resets the timer once the enable delay has run out (here: at once), so
    # the disable delay starts afresh at the first shortfall and runs its full 3 minutes.
    shortfall = [
        evcc.update(reading(now=t, battery_w=-1000.0, ev_current_a=6.0)) for t in range(30, 241, 30)
    ]
    assert shortfall[:6] == [6.0] * 6  # 30..180 s: the timer started at 30 s
    assert shortfall[6] == 0.0  # 210 s: 180 s elapsed
    # ... and was reset again: a surplus right after the stop waits the enable delay.
    assert evcc.update(reading(now=240.0, battery_w=2000.0)) == 0.0
    assert evcc.update(reading(now=270.0, battery_w=2000.0)) == 0.0
    assert evcc.update(reading(now=300.0, battery_w=2000.0)) == 6.0


def test_evcc_caps_at_16_a_and_honours_priority_soc() -> None:
    evcc = EvccPv()
    assert evcc.update(reading(now=0.0, battery_w=6000.0)) == 6.0  # enables at the minimum
    assert evcc.update(reading(now=30.0, battery_w=4620.0, ev_current_a=6.0)) == 16.0
    below = EvccPv(priority_soc=80.0)
    assert below.update(reading(now=0.0, battery_w=3000.0, soc=60.0)) == 0.0
    # The charging battery counts 0 and a 100 W residual is forced.
    assert below.site_power(reading(battery_w=3000.0, soc=60.0)) == (100.0, False, False)
    assert below.update(reading(now=0.0, ev_connected=False)) == 0.0


def test_evcc_buffer_soc_keeps_charging_from_the_battery_above_it() -> None:
    evcc = EvccPv(priority_soc=50.0, buffer_soc=50.0)
    assert evcc.update(reading(now=0.0, battery_w=2000.0, soc=70.0)) == 6.0
    # A cloud: the battery carries the EV; above bufferSoc evcc keeps the minimum.
    held = [
        evcc.update(reading(now=t, battery_w=-1500.0, soc=60.0, ev_current_a=6.0))
        for t in range(30, 600, 30)
    ]
    assert set(held) == {6.0}
    # At or below bufferSoc the usual disable delay applies.
    below = [
        evcc.update(reading(now=t, battery_w=-1500.0, soc=50.0, ev_current_a=6.0))
        for t in range(600, 811, 30)
    ]
    assert below[:6] == [6.0] * 6
    assert below[6] == 0.0


def test_evcc_buffer_start_soc_starts_on_the_battery_alone() -> None:
    evcc = EvccPv(priority_soc=50.0, buffer_soc=60.0, buffer_start_soc=80.0)
    assert evcc.update(reading(now=0.0, battery_w=0.0, soc=85.0)) == 6.0
    assert evcc.site_power(reading(battery_w=0.0, soc=85.0)) == (0.0, True, True)


def test_evcc_like_ours_maps_our_defaults() -> None:
    evcc = evcc_like_ours(min_a=6.0, max_a=20.0, priority_soc=50.0)
    assert (evcc.min_a, evcc.max_a, evcc.priority_soc, evcc.buffer_soc) == (6.0, 20.0, 50.0, 50.0)
    assert evcc.buffer_start_soc == 0.0
    assert evcc.update(reading(now=0.0, battery_w=6000.0)) == 6.0
    assert evcc.update(reading(now=30.0, battery_w=4620.0, ev_current_a=6.0)) == 20.0
    with pytest.raises(ValueError, match="prioritySoc"):
        EvccPv(priority_soc=60.0, buffer_soc=50.0)
