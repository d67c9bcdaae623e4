"""The plant's losses, the ESS loop's lag and the passing clouds (pure physics, no MQTT)."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import pytest

from simulator.chargers import EssConfig, MpptConfig, MultiPlusConfig
from simulator.dvcc import DvccSettings
from simulator.pack import Pack, PackConfig
from simulator.plant import PlantConfig, PlantModel
from simulator.profiles import constant, passing_clouds


def ess_plant(
    pv: float,
    load: float,
    *,
    soc: float = 0.5,
    efficiency: float = 1.0,
    inverter: float = 1.0,
    mppt: float = 1.0,
    response_s: float = 0.0,
) -> PlantModel:
    plant = PlantModel(
        PlantConfig(
            pack=PackConfig(soc=soc, soc_spread=0.0, capacity_spread=0.0),
            multiplus=MultiPlusConfig(grid_charging=False, inverter_efficiency=inverter),
            mppt=MpptConfig(efficiency=mppt),
            ess=EssConfig(min_soc=10.0, response_s=response_s),
            dc_coupled_feed_in=True,
            pv=constant(pv),
            load=constant(load),
            battery_charge_efficiency=efficiency,
            battery_discharge_efficiency=efficiency,
        )
    )
    plant.set_settings(DvccSettings(bol=1))
    return plant


def stored_ah(plant: PlantModel) -> float:
    return sum(cell.charge_ah for cell in plant.pack.cells) / len(plant.pack.cells)


def test_the_battery_keeps_95_percent_of_what_goes_in_and_loses_more_going_out() -> None:
    for efficiency in (1.0, 0.95):
        charging = ess_plant(3000.0, 500.0, efficiency=efficiency)
        before = stored_ah(charging)
        charging.run(600)
        stored = stored_ah(charging) - before
        assert stored == pytest.approx(charging.pack.charged_ah * efficiency, rel=1e-6)
        discharging = ess_plant(0.0, 1500.0, efficiency=efficiency)
        before = stored_ah(discharging)
        discharging.run(600)
        lost = before - stored_ah(discharging)
        assert lost == pytest.approx(discharging.pack.discharged_ah / efficiency, rel=1e-6)


def test_defaults_are_95_percent_each_way() -> None:
    config = PlantConfig()
    assert (config.battery_charge_efficiency, config.battery_discharge_efficiency) == (0.95, 0.95)
    with pytest.raises(ValueError, match="battery_charge_efficiency"):
        PlantConfig(battery_charge_efficiency=0.0)
    with pytest.raises(ValueError, match="inverter_efficiency"):
        MultiPlusConfig(inverter_efficiency=1.2)
    with pytest.raises(ValueError, match="efficiency"):
        MpptConfig(efficiency=0.0)
    with pytest.raises(ValueError, match="response_s"):
        EssConfig(response_s=-1.0)


def test_inverter_and_mppt_losses_reach_the_grid() -> None:
    # A full battery: the surplus is exported through the MPPT and the inverter.
    full = ess_plant(3000.0, 500.0, soc=1.0, inverter=0.95, mppt=0.98)
    full.run(5)
    pv_dc = 3000.0 * 0.98
    assert full.flows.pv_power == pytest.approx(pv_dc, rel=1e-3)
    assert -full.flows.grid_power == pytest.approx((pv_dc - 500.0 / 0.95) * 0.95, rel=0.01)
    # The battery carries the house at night and draws more DC than the house's AC.
    night = ess_plant(0.0, 950.0, inverter=0.95)
    night.run(5)
    battery_w = -night.pack.current * night.pack.voltage()
    assert battery_w == pytest.approx(1000.0, rel=0.02)
    assert night.flows.grid_power == pytest.approx(0.0, abs=1.0)


def test_the_ess_loop_lags_a_load_step() -> None:
    instant = ess_plant(3000.0, 500.0)
    lagging = ess_plant(3000.0, 500.0, response_s=3.0)
    for plant in (instant, lagging):
        plant.run(30)
        plant.ev_load_w = 2000.0
        plant.step()
    assert instant.flows.grid_power == pytest.approx(0.0, abs=1.0)
    # A second after the EV started the MultiPlus has moved a quarter of the way.
    first = lagging.flows.grid_power
    assert first == pytest.approx(2000.0 * math.exp(-1 / 3.0), rel=0.02)
    lagging.run(20)
    assert lagging.flows.grid_power == pytest.approx(0.0, abs=20.0)
    # While it lagged, the battery kept charging with what the EV did not get yet.
    lagging.ev_load_w = 0.0
    lagging.step()
    assert lagging.flows.grid_power < -1000.0  # the EV stopped: export until it follows


def test_a_lag_on_a_full_battery_curtails_pv_instead_of_overcharging() -> None:
    plant = ess_plant(3000.0, 2500.0, soc=1.0, response_s=3.0)
    plant.run(30)
    plant.ev_load_w = 0.0
    plant.config = replace(plant.config, load=constant(200.0))  # the house quietens
    plant.step()
    assert plant.flows.battery_current <= 1.0  # nothing forced into the full pack
    assert plant.flows.grid_power < 0.0  # the inverter still pushes its old power out


def test_an_empty_battery_cannot_feed_a_lagging_inverter() -> None:
    plant = ess_plant(0.0, 2000.0, soc=0.05, response_s=3.0)
    plant.run(10)
    assert plant.flows.grid_power == pytest.approx(2000.0, abs=1.0)
    assert plant.flows.battery_current == pytest.approx(0.0, abs=1e-6)


def test_passing_clouds_keep_each_hours_energy() -> None:
    ghi, dhi, clear = [0.0, 500.0, 800.0, 300.0], [0.0, 150.0, 100.0, 290.0], [0.0, 800, 820, 700]
    for cycle_min in (3.0, 10.0, 30.0):
        samples = passing_clouds(ghi, dhi, clear, cycle_s=cycle_min * 60, sample_s=20, seed="x")
        per_hour = 180
        assert len(samples) == 4 * per_hour
        means = [sum(samples[h * per_hour : (h + 1) * per_hour]) / per_hour for h in range(4)]
        assert means == pytest.approx(ghi, abs=1e-6)
        # The partly cloudy hour switches between sun and shade (several times an hour
        # for the short cycles); the others stay flat.
        if cycle_min <= 10.0:
            assert len(set(samples[per_hour : 2 * per_hour])) == 2
        assert len(set(samples[2 * per_hour : 3 * per_hour])) == 1  # nearly all sun
        assert len(set(samples[3 * per_hour :])) == 1  # overcast


def test_shorter_cycles_switch_more_often() -> None:
    hours = 24
    ghi, dhi, clear = [450.0] * hours, [150.0] * hours, [750.0] * hours

    def switches(cycle_min: float) -> int:
        samples = passing_clouds(ghi, dhi, clear, cycle_s=cycle_min * 60, sample_s=20, seed="s")
        return sum(1 for a, b in itertools.pairwise(samples) if a != b)

    three, ten, thirty = switches(3.0), switches(10.0), switches(30.0)
    assert three > ten > thirty
    # Two switches per cycle: about 24 h x 60 / 10 min x 2 for the 10-minute clouds.
    assert ten == pytest.approx(24 * 60 / 10 * 2, rel=0.25)


def test_passing_clouds_check_their_arguments() -> None:
    with pytest.raises(ValueError, match="cycle_s"):
        passing_clouds([1.0], [1.0], [1.0], cycle_s=0.0, sample_s=20, seed="x")
    with pytest.raises(ValueError, match="one value per hour"):
        passing_clouds([1.0], [1.0, 2.0], [1.0], cycle_s=600, sample_s=20, seed="x")


def test_pack_ocvs_follow_every_change_of_charge() -> None:
    pack = Pack(PackConfig(cells=4, soc=0.5, soc_spread=0.0, capacity_spread=0.0))
    first = pack.voltage(0.0)
    pack.set_socs([0.9] * 4)
    assert pack.voltage(0.0) > first
    assert pack.soc == pytest.approx(0.9)
    before = pack.cell_voltage(0)
    pack.add_cell_charge(0, -3600.0 * 50)  # 50 Ah out of the first cell
    assert pack.cell_voltage(0) < before
    pack.step(-100.0, 3600.0)
    assert pack.soc < 0.6
