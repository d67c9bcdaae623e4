"""The devices' kWh counters: BMS history, MPPT yield, grid meter, and the GX firmware."""

from __future__ import annotations

import pytest

from simulator.chargers import EssConfig, GridMeterConfig, MpptConfig, MultiPlusConfig
from simulator.energy import EnergyTotals
from simulator.pack import PackConfig
from simulator.plant import PlantConfig, PlantModel
from simulator.profiles import constant
from tests.simulator.conftest import SimFactory
from tests.simulator.helpers import PORTAL, Observer, wait_until

N = f"N/{PORTAL}"


def test_counters_add_up_the_flows() -> None:
    # 3 kW of PV into an ESS with a 1 kW load: the rest charges the battery.
    plant = PlantModel(
        PlantConfig(
            pack=PackConfig(soc=0.3),
            multiplus=MultiPlusConfig(grid_charging=False),
            mppt=MpptConfig(),
            ess=EssConfig(),
            pv=constant(3000.0),
            load=constant(1000.0),
        )
    )
    plant.run(3600)
    energy = plant.energy
    assert energy.pv_yield == pytest.approx(3.0, rel=0.01)
    assert energy.battery_charged == pytest.approx(2.0, rel=0.05)
    assert energy.battery_discharged == 0.0
    assert energy.grid_import == pytest.approx(0.0, abs=0.01)
    # At night the load comes from the battery (ESS above its minimum SoC).
    night = PlantModel(
        PlantConfig(
            pack=PackConfig(soc=0.8),
            multiplus=MultiPlusConfig(grid_charging=False),
            ess=EssConfig(),
            load=constant(500.0),
        )
    )
    night.run(3600)
    assert night.energy.battery_discharged == pytest.approx(0.5, rel=0.05)
    assert night.energy.pv_yield == 0.0


def test_counters_only_grow() -> None:
    totals = EnergyTotals()
    plant = PlantModel(PlantConfig(multiplus=MultiPlusConfig(), load=constant(800.0)))
    plant.energy = totals
    last = EnergyTotals()
    for _ in range(5):
        plant.run(600)
        for field in ("battery_charged", "battery_discharged", "pv_yield", "grid_import"):
            assert getattr(totals, field) >= getattr(last, field)
        last = EnergyTotals(**vars(totals))


async def test_counters_and_firmware_are_published(
    observer: Observer, make_sim: SimFactory
) -> None:
    plant = PlantConfig(
        pack=PackConfig(soc=0.5),
        multiplus=MultiPlusConfig(grid_charging=False),
        mppt=MpptConfig(),
        grid_meter=GridMeterConfig(instance=30),
        ess=EssConfig(),
        pv=constant(200.0),
        load=constant(4000.0),  # more than PV and the battery's share: some from the grid
        step=5.0,
    )
    sim = await make_sim(plant=plant, speed=600.0, keepalive_timeout=30.0)
    await observer.keepalive()
    assert observer.last(f"{N}/platform/0/Firmware/Installed/Version").value == "v3.60"
    for topic in (
        f"{N}/battery/512/History/ChargedEnergy",
        f"{N}/battery/512/History/DischargedEnergy",
        f"{N}/solarcharger/278/Yield/User",
        f"{N}/grid/30/Ac/Energy/Forward",
        f"{N}/grid/30/Ac/Energy/Reverse",
        f"{N}/grid/30/Ac/Power",
    ):
        observer.last(topic)  # part of the full publish
    # Simulated time runs 600x: the counters move within a few wall seconds.
    await wait_until(
        lambda: (observer.last(f"{N}/battery/512/History/DischargedEnergy").value or 0) > 0
    )
    await wait_until(lambda: (observer.last(f"{N}/solarcharger/278/Yield/User").value or 0) > 0)
    assert sim.plant is not None
    assert observer.last(f"{N}/grid/30/Ac/Energy/Forward").value <= round(
        sim.plant.energy.grid_import, 2
    )
