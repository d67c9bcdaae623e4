"""Pure physics, BMS, DVCC and plant rules: no broker, no asyncio."""

from __future__ import annotations

import subprocess
import sys

import pytest

from simulator.bms import Bms, BmsConfig, ccl_fraction
from simulator.chargers import EssConfig, MpptConfig, MultiPlusConfig
from simulator.chemistry import CALB, LEAD_ACID_12V, LIFEPO4, THUNDERSKY
from simulator.clock import SimClock
from simulator.dvcc import (
    BmsLimits,
    DvccLoop,
    DvccSettings,
    effective_ccl,
    effective_cvl,
)
from simulator.pack import Pack, PackConfig
from simulator.plant import PlantConfig, PlantModel
from simulator.profiles import clear_day, constant, sampled

DVCC_ON = DvccSettings(bol=1)


def soc_spread(pack: Pack) -> float:
    socs = [cell.soc for cell in pack.cells]
    return max(socs) - min(socs)


# ------------------------------------------------------------------- clock
def test_sim_clock_speed_bind_and_set_speed() -> None:
    wall = [100.0]
    clock = SimClock(600.0, source=lambda: wall[0])
    assert clock.now() == 0.0
    wall[0] = 101.0
    assert clock.now() == 600.0
    other = [5.0]
    clock.bind(lambda: other[0])  # no jump when the source changes
    assert clock.now() == 600.0
    clock.set_speed(1.0)
    other[0] = 7.0
    assert clock.now() == 602.0
    assert clock.wall_delay(3.0) == 3.0
    with pytest.raises(ValueError, match="speed"):
        SimClock(0.0)


# --------------------------------------------------------------- chemistry
def test_lifepo4_curve_is_flat_in_the_middle_and_steep_at_the_top() -> None:
    assert LIFEPO4.ocv(0.7) - LIFEPO4.ocv(0.3) < 0.06
    assert LIFEPO4.ocv(0.97) == pytest.approx(3.40)
    assert LIFEPO4.ocv(1.0) == pytest.approx(3.65)
    assert LIFEPO4.ocv(1.01) > 3.8  # overcharged: runs away
    assert LIFEPO4.ocv(0.0) < 2.6


def test_chemistries_carry_their_cutoffs() -> None:
    assert (LIFEPO4.hvc, CALB.hvc, THUNDERSKY.hvc) == (3.65, 3.60, 3.80)
    # MiniBMS shunts 0.1 V below HVC (seed 003).
    assert CALB.balance_start == pytest.approx(CALB.hvc - 0.1)
    assert THUNDERSKY.balance_start == pytest.approx(THUNDERSKY.hvc - 0.1)
    assert CALB.ocv(1.0) == pytest.approx(3.60)
    assert THUNDERSKY.ocv(1.0) == pytest.approx(3.80)
    pack = Pack(PackConfig(cells=4, chemistry=LEAD_ACID_12V, capacity_ah=100.0, soc=0.8))
    assert 48.0 < pack.voltage(0.0) < 52.0


# -------------------------------------------------------------------- pack
def test_pack_spreads_are_seeded() -> None:
    a, b = Pack(PackConfig(seed=1)), Pack(PackConfig(seed=1))
    c = Pack(PackConfig(seed=2))
    assert [x.capacity_ah for x in a.cells] == [x.capacity_ah for x in b.cells]
    assert [x.soc for x in a.cells] != [x.soc for x in c.cells]
    assert 0.0 < soc_spread(a) <= 0.06
    assert all(272 < x.capacity_ah < 288 for x in a.cells)


def test_coulomb_counting_resistance_and_heat() -> None:
    pack = Pack(PackConfig(cells=2, soc_spread=0.0, capacity_spread=0.0))
    before = [cell.charge_ah for cell in pack.cells]
    ocv = pack.ocvs()
    for _ in range(3600):
        pack.step(10.0, 1.0)
    assert [c.charge_ah - b for c, b in zip(pack.cells, before, strict=True)] == pytest.approx(
        [10.0, 10.0]
    )
    cell = pack.cells[0]
    assert pack.cell_voltages(100.0)[0] == pytest.approx(pack.ocvs()[0] + 100.0 * cell.resistance)
    assert pack.ocvs()[0] > ocv[0]
    for _ in range(3600):
        pack.step(200.0, 1.0)
    hot = cell.temperature
    assert hot > 22.5
    for _ in range(3600):
        pack.step(0.0, 1.0)
    assert cell.temperature < hot


# --------------------------------------------------------------------- BMS
def make_bms(socs: list[float], **kwargs: float | bool | None) -> Bms:
    pack = Pack(PackConfig(cells=len(socs), soc_spread=0.0, capacity_spread=0.0))
    pack.set_socs(socs)
    bms = Bms(BmsConfig(**kwargs), pack)  # type: ignore[arg-type]
    bms.update(0.0)
    return bms


def test_balancing_bleeds_only_high_cells_above_the_start_voltage() -> None:
    bms = make_bms([0.5, 0.5, 0.99, 0.98], balance_current=2.0)
    assert bms.balancing == [False, False, True, True]
    paths = bms.paths()
    assert paths["/Balances/Cell3"] == 1
    assert paths["/Balances/Cell1"] == 0
    low = make_bms([0.5, 0.55, 0.6, 0.6])  # all in the flat middle: below 3.40 V
    assert not any(low.balancing)
    pack = bms.pack
    before = [cell.charge_ah for cell in pack.cells]
    pack.step(0.0, 3600.0)
    moved = [b - c.charge_ah for c, b in zip(pack.cells, before, strict=True)]
    assert moved == pytest.approx([0.0, 0.0, 2.0, 2.0])


def test_ovp_refuses_charge_until_reset_and_counts_events() -> None:
    bms = make_bms([0.9, 0.9, 1.002, 0.9])
    assert not bms.charge_allowed
    assert len(bms.ovp_events) == 1
    assert bms.ovp_events[0].cell == 3
    paths = bms.paths()
    assert paths["/Io/AllowToCharge"] == 0
    assert paths["/Info/MaxChargeCurrent"] == 0.0
    assert paths["/Alarms/HighVoltage"] == 2
    bms.pack.set_socs([0.9, 0.9, 0.996, 0.9])  # 3.57 V: below OVP, above reset
    bms.update(1.0)
    assert not bms.charge_allowed
    bms.pack.set_socs([0.9, 0.9, 0.99, 0.9])  # 3.50 V: below the 3.55 V reset
    bms.update(2.0)
    assert bms.charge_allowed
    assert bms.paths()["/Alarms/HighVoltage"] == 0
    bms.pack.set_socs([0.9, 1.003, 0.9, 0.9])
    bms.update(3.0)
    assert len(bms.ovp_events) == 2


def test_serialbattery_style_limits() -> None:
    assert ccl_fraction(3.30, 3.45) == 1.0
    assert ccl_fraction(3.40, 3.45) == pytest.approx(0.25)
    assert ccl_fraction(3.45, 3.45) == pytest.approx(0.005)
    assert ccl_fraction(3.60, 3.45) == 0.0
    bms = make_bms([0.5] * 16)
    assert bms.cvl == pytest.approx(3.45 * 16)
    assert bms.ccl == 50.0
    assert bms.dcl == 60.0
    assert make_bms([0.5] * 16, max_cell_voltage=3.65).cvl == pytest.approx(58.4)


# -------------------------------------------------------------------- DVCC
def test_dvcc_voltage_only_lowers_a_bms_cvl() -> None:
    bms = BmsLimits(cvl=55.2, ccl=50.0)
    assert effective_cvl(DvccSettings(), bms) is None  # DVCC off (21)
    assert effective_cvl(DVCC_ON, bms) == 55.2
    assert effective_cvl(DvccSettings(bol=1, max_charge_voltage=54.0), bms) == 54.0
    assert effective_cvl(DvccSettings(bol=1, max_charge_voltage=58.4), bms) == 55.2
    assert effective_cvl(DvccSettings(bol=1, max_charge_voltage=58.4), BmsLimits(None, 5)) is None


def test_dvcc_current_is_min_of_user_and_bms() -> None:
    bms = BmsLimits(cvl=55.2, ccl=50.0)
    assert effective_ccl(DvccSettings(), bms) is None
    assert effective_ccl(DVCC_ON, bms) == 50.0
    assert effective_ccl(DvccSettings(bol=1, max_charge_current=10), bms) == 10.0
    assert effective_ccl(DvccSettings(bol=1, max_charge_current=0), bms) == 0.0
    assert effective_ccl(DvccSettings(bol=1, max_charge_current=80), bms) == 50.0
    refusing = BmsLimits(cvl=55.2, ccl=50.0, allow_to_charge=False)
    assert effective_ccl(DVCC_ON, refusing) == 0.0


def test_dvcc_loop_applies_changes_after_1_3_to_2_3_s_then_every_3_s() -> None:
    loop = DvccLoop()
    for start in (0.0, 10.0, 20.0, 30.0):
        loop.settings_changed(start)
        assert 1.3 <= loop.next_run - start <= 2.3
    first = loop.next_run
    loop.run(first, DVCC_ON, BmsLimits(55.2, 50.0))
    assert loop.next_run == pytest.approx(first + 3.0)
    assert loop.applied.current == 50.0


# ------------------------------------------------------------------- plant
def charging_plant(**kwargs: object) -> PlantModel:
    kwargs.setdefault("pack", PackConfig(soc=0.5))
    config = PlantConfig(
        bms=BmsConfig(max_charge_current=200.0, ccl_by_cell_voltage=False),
        multiplus=MultiPlusConfig(),
        **kwargs,  # type: ignore[arg-type]
    )
    return PlantModel(config)


def test_multiplus_charges_at_min_of_ccl_and_its_max_then_tapers_at_cvl() -> None:
    plant = charging_plant()
    plant.set_settings(DVCC_ON)
    plant.run(10)
    assert plant.flows.battery_current == pytest.approx(70.0)  # its own maximum
    plant.set_settings(DvccSettings(bol=1, max_charge_current=20))
    plant.run(1)
    assert plant.flows.battery_current == pytest.approx(70.0)  # not applied yet
    plant.run(3)
    assert plant.flows.battery_current == pytest.approx(20.0)
    assert plant.charger_limits.current == 20.0
    assert plant.charger_limits.voltage == pytest.approx(55.2)
    # A perfectly balanced pack reaches CVL without tripping OVP: constant voltage.
    even = charging_plant(pack=PackConfig(soc=0.9, soc_spread=0.0, capacity_spread=0.0))
    even.set_settings(DVCC_ON)
    currents = []
    for _ in range(48):
        even.run(150)
        currents.append(even.flows.battery_current)
    assert even.ovp_events == 0
    assert even.pack.voltage() == pytest.approx(55.2, abs=0.05)
    assert currents == sorted(currents, reverse=True)
    assert any(1.0 < amps < 69.0 for amps in currents)  # tapering, not switching off
    assert currents[-1] < 1.0


def test_without_dvcc_chargers_follow_their_own_settings() -> None:
    plant = charging_plant()
    plant.run(10)
    assert plant.charger_limits.current is None
    assert plant.effective_charge_voltage is None
    assert plant.flows.battery_current == pytest.approx(70.0)
    plant.set_settings(DvccSettings(max_charge_current=5))  # ignored while DVCC is off
    plant.run(10)
    assert plant.flows.battery_current == pytest.approx(70.0)


def test_dc_coupled_feed_in_mppt_ignores_ccl() -> None:
    results = {}
    for feed_in in (False, True):
        plant = PlantModel(
            PlantConfig(
                multiplus=MultiPlusConfig(grid_charging=False),
                mppt=MpptConfig(),
                ess=EssConfig(),
                dc_coupled_feed_in=feed_in,
                pv=constant(8000.0),
                load=constant(500.0),
            )
        )
        plant.set_settings(DvccSettings(bol=1, max_charge_current=5))
        plant.run(10)
        results[feed_in] = plant.flows
    assert results[False].battery_current == pytest.approx(5.0)
    assert results[False].grid_power == pytest.approx(0.0)  # curtailed, not exported
    assert results[True].battery_current > 50.0
    assert results[True].grid_power < 0.0
    assert results[True].pv_power == pytest.approx(8000.0)


def test_ess_pv_to_loads_first_then_battery_above_min_soc_then_grid() -> None:
    def run(pv: float, load: float, soc: float) -> PlantModel:
        plant = PlantModel(
            PlantConfig(
                pack=PackConfig(soc=soc, soc_spread=0.0),
                multiplus=MultiPlusConfig(grid_charging=False),
                mppt=MpptConfig(),
                ess=EssConfig(min_soc=20.0),
                pv=constant(pv),
                load=constant(load),
            )
        )
        plant.set_settings(DVCC_ON)
        plant.run(5)
        return plant

    sunny = run(3000.0, 1000.0, 0.5)
    assert sunny.flows.battery_current > 0
    assert sunny.flows.grid_power == pytest.approx(0.0, abs=1.0)
    evening = run(0.0, 1000.0, 0.5)
    assert evening.flows.battery_current < 0
    assert evening.flows.grid_power == pytest.approx(0.0, abs=1.0)
    empty = run(0.0, 1000.0, 0.1)
    assert empty.flows.battery_current == pytest.approx(0.0)
    assert empty.flows.grid_power == pytest.approx(1000.0)


def test_aggressive_charge_trips_ovp_and_no_charge_flows_while_tripped() -> None:
    plant = PlantModel(
        PlantConfig(
            pack=PackConfig(soc=0.96),
            bms=BmsConfig(max_cell_voltage=3.65, ccl_by_cell_voltage=False, max_charge_current=200),
            multiplus=MultiPlusConfig(),
        )
    )
    plant.set_settings(DVCC_ON)
    while plant.ovp_events == 0 and plant.now < 4 * 3600:
        plant.step()
    assert plant.ovp_events == 1
    assert not plant.bms.charge_allowed
    plant.run(30)
    assert plant.flows.battery_current <= 0.0
    assert plant.charger_limits.current == 0.0  # DVCC passes the BMS refusal on
    plant.run(6 * 3600)
    assert plant.ovp_events >= 2  # released below 3.55 V, charged, tripped again


def test_top_balance_with_low_current_and_bleeding_converges() -> None:
    plant = PlantModel(
        PlantConfig(
            pack=PackConfig(soc=0.95, soc_spread=0.02),
            bms=BmsConfig(max_cell_voltage=3.60, ccl_by_cell_voltage=False, balance_current=2.0),
            multiplus=MultiPlusConfig(),
            step=10.0,
        )
    )
    plant.set_settings(DvccSettings(bol=1, max_charge_current=3))
    start = soc_spread(plant.pack)
    plant.run(8 * 3600)
    assert start > 0.03
    assert soc_spread(plant.pack) < 0.005
    assert plant.ovp_events == 0


def test_step_splits_large_dt_into_fixed_steps() -> None:
    plant = PlantModel(PlantConfig(step=1.0))
    plant.step(2.5)
    assert plant.now == pytest.approx(2.5)
    assert plant.steps == 3
    with pytest.raises(ValueError, match="step"):
        PlantConfig(step=0)


# ---------------------------------------------------------------- profiles
def test_cheap_profiles() -> None:
    assert constant(300.0)(12345.0) == 300.0
    day = clear_day(4000.0)
    assert day(0.0) == 0.0
    assert day(13 * 3600.0) == pytest.approx(4000.0)
    ramp = sampled([0.0, 100.0], 10.0)
    assert ramp(5.0) == pytest.approx(50.0)
    assert ramp(15.0) == pytest.approx(50.0)  # wraps around


def test_importing_the_simulator_does_not_load_pvlib_or_pandas() -> None:
    code = (
        "import sys, simulator, simulator.plant, simulator.profiles;"
        "assert not {'pvlib', 'pandas', 'demandlib'} & set(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tmy_pv_profile_from_pvlib_data() -> None:
    pytest.importorskip("pvlib")
    from simulator.profiles import tmy_pv_profile

    pv = tmy_pv_profile(5.0, start_hour=24 * 172)  # late June
    day = [pv(h * 3600.0) for h in range(24)]
    assert max(day) > 2000.0
    assert max(day) < 5000.0
    assert day[2] == 0.0  # night


def test_bdew_h0_load_profile_from_demandlib() -> None:
    pytest.importorskip("demandlib")
    from simulator.profiles import bdew_h0_profile

    load = bdew_h0_profile(3500.0)
    samples = [load(q * 900.0) for q in range(0, 96 * 365, 7)]
    mean = sum(samples) / len(samples)
    assert mean == pytest.approx(3500.0 / 8.76, rel=0.05)  # W
    assert min(samples) > 0.0


def test_cli_builds_a_plant_from_its_options() -> None:
    from simulator.__main__ import build_parser, build_plant

    parser = build_parser()
    assert build_plant(parser.parse_args([])) is None
    args = parser.parse_args(
        [
            *("--physics", "--speed", "600", "--multiplus", "--mppt", "--ess", "--dc-feed-in"),
            *("--chemistry", "calb", "--cells", "8", "--mqtt-battery"),
        ]
    )
    plant = build_plant(args)
    assert plant is not None
    assert plant.pack.chemistry is CALB
    assert plant.pack.cells == 8
    assert plant.multiplus is not None
    assert plant.mppt is not None
    assert plant.dc_coupled_feed_in
    assert args.speed == 600.0
    assert args.mqtt_battery_topic == "enphase/battery"
    model = PlantModel(plant)
    model.run(60)
    assert model.now == 60.0
