"""PlantModel.ev_load_w: an EV charger as one more AC load on the MultiPlus output."""

from __future__ import annotations

import pytest

from simulator.chargers import EssConfig, MpptConfig, MultiPlusConfig
from simulator.dvcc import DvccSettings
from simulator.pack import PackConfig
from simulator.plant import PlantConfig, PlantModel
from simulator.profiles import constant


def ess_plant(pv: float, load: float, soc: float = 0.5) -> PlantModel:
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
    plant.set_settings(DvccSettings(bol=1))
    return plant


def battery_watts(plant: PlantModel) -> float:
    return plant.pack.current * plant.pack.voltage()


def test_no_ev_load_by_default() -> None:
    plant = ess_plant(3000.0, 1000.0)
    plant.run(5)
    assert plant.ev_load_w == 0.0
    assert plant.flows.load_power == pytest.approx(1000.0)


def test_ev_load_takes_the_surplus_from_the_battery_first() -> None:
    without = ess_plant(3000.0, 1000.0)
    without.run(5)
    with_ev = ess_plant(3000.0, 1000.0)
    with_ev.ev_load_w = 1380.0
    with_ev.run(5)
    assert with_ev.flows.load_power == pytest.approx(2380.0)
    assert with_ev.flows.vebus_ac_out == pytest.approx(2380.0)
    # The ESS keeps the grid at zero; the EV's power comes out of the battery's charge.
    assert with_ev.flows.grid_power == pytest.approx(0.0, abs=1.0)
    assert battery_watts(without) - battery_watts(with_ev) == pytest.approx(1380.0, rel=0.02)


def test_ev_load_above_pv_discharges_the_battery_then_imports_at_min_soc() -> None:
    plant = ess_plant(1000.0, 500.0)
    plant.ev_load_w = 2000.0
    plant.run(5)
    assert battery_watts(plant) == pytest.approx(-1500.0, rel=0.02)
    assert plant.flows.grid_power == pytest.approx(0.0, abs=1.0)
    empty = ess_plant(1000.0, 500.0, soc=0.15)
    empty.ev_load_w = 2000.0
    empty.run(5)
    assert empty.flows.grid_power == pytest.approx(1500.0, abs=1.0)


def test_negative_ev_load_is_ignored() -> None:
    plant = ess_plant(0.0, 500.0)
    plant.ev_load_w = -3000.0
    plant.run(2)
    assert plant.flows.load_power == pytest.approx(500.0)
