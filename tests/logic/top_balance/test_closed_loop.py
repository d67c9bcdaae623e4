"""The controller as the virtual BMS of the simulator's physics plant (accelerated clock)."""

from __future__ import annotations

import pytest

from custom_components.victron_balance.logic.top_balance.chemistry import PRESETS
from custom_components.victron_balance.logic.top_balance.controller import (
    Measurements,
    TopBalanceController,
    TopBalanceSettings,
    TopBalanceState,
)
from custom_components.victron_balance.logic.top_balance.report import report_from
from simulator.bms import BmsConfig
from simulator.chargers import EssConfig, MpptConfig, MultiPlusConfig
from simulator.dvcc import BmsLimits, DvccSettings
from simulator.pack import PackConfig
from simulator.plant import PlantConfig, PlantModel
from simulator.profiles import constant


@pytest.mark.parametrize("dc_coupled", [False, True])
def test_small_pack_balances_without_ovp(dc_coupled: bool) -> None:
    plant = PlantModel(
        PlantConfig(
            pack=PackConfig(cells=4, capacity_ah=50.0, soc=0.93, soc_spread=0.03, seed=3),
            bms=BmsConfig(balance_current=2.0, balance_threshold=0.005),
            multiplus=MultiPlusConfig(max_charge_current=30.0),
            mppt=MpptConfig(max_charge_current=40.0) if dc_coupled else None,
            ess=EssConfig() if dc_coupled else None,
            dc_coupled_feed_in=dc_coupled,
            pv=constant(1500.0 if dc_coupled else 0.0),
        )
    )
    plant.set_settings(DvccSettings(bol=1))
    preset = PRESETS["lifepo4_355"]
    settings = TopBalanceSettings(
        cells=4,
        preset=preset,
        target_cell_v=3.55,
        hold_s=120.0,
        max_current_a=30.0,
        bleed_current_a=2.0,
        max_duration_s=4 * 3600.0,
        dc_coupled_feed_in=dc_coupled,
        capacity_ah=50.0,
    )
    controller = TopBalanceController()
    controller.start(plant.now, settings)
    socs = [cell.soc for cell in plant.pack.cells]
    highest = 0.0
    decision = None
    for _ in range(4 * 3600):
        volts = plant.pack.cell_voltages()
        decision = controller.step(
            Measurements(
                now_s=plant.now,
                cell_voltages=list(volts),
                pack_voltage=sum(volts),
                pack_current=plant.pack.current,
                temperature_c=max(plant.pack.temperatures()),
                bms_alarm=False,
                venus_alive=True,
                bms_allows_charge=plant.bms.charge_allowed,
            )
        )
        assert decision.cvl_v <= 4 * 3.55
        assert 0 <= decision.ccl_a <= 30.0
        if not decision.active:
            break
        plant.external_bms = BmsLimits(decision.cvl_v, decision.ccl_a, decision.allow_to_charge)
        plant.step()
        highest = max(highest, *plant.pack.cell_voltages())
    assert decision is not None
    assert decision.state is TopBalanceState.DONE, decision
    assert plant.ovp_events == 0
    assert highest < 3.60
    volts = plant.pack.cell_voltages()
    assert max(volts) - min(volts) <= 0.010
    assert min(volts) >= 3.45
    assert max(socs) - min(socs) > 0.03  # it really started unbalanced
    report = report_from(controller)
    assert report is not None
    assert report.outcome == "done"
    assert report.cells_at_shunt == [1, 2, 3, 4]
    if not dc_coupled:
        # With 70 A of PV and grid, IR differences decide which terminal voltage is first.
        assert report.first_cells_at_hvc[0] == socs.index(max(socs)) + 1
    assert report.ah_delivered > 0
