"""The benchmark's baseline controllers follow their documented rules."""

from __future__ import annotations

from dataclasses import replace

from benchmarks.pv_baselines import EvccPv, OpenEvseEco, Reading, SeedNodeRed


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


def test_evcc_right_after_connect_the_elapsed_timer_also_disables_at_once() -> None:
    evcc = EvccPv()
    assert evcc.update(reading(now=0.0, battery_w=2000.0)) == 6.0
    # As coded: enabled through the elapsed connect timer, which nothing reset yet.
    assert evcc.update(reading(now=30.0, battery_w=-1000.0, ev_current_a=6.0)) == 0.0


def test_evcc_caps_at_16_a_and_honours_priority_soc() -> None:
    evcc = EvccPv()
    assert evcc.update(reading(now=0.0, battery_w=6000.0)) == 6.0  # enables at the minimum
    assert evcc.update(reading(now=30.0, battery_w=4620.0, ev_current_a=6.0)) == 16.0
    below = EvccPv(priority_soc=80.0)
    assert below.update(reading(now=0.0, battery_w=3000.0, soc=60.0)) == 0.0
    assert below.site_power(reading(battery_w=3000.0, soc=60.0)) == 100.0  # residual
    assert below.update(reading(now=0.0, ev_connected=False)) == 0.0
