"""Advisory mode: no balancer hardware, the plan and seed 003's manual options.

The GX simulator's static 16-cell, 280 Ah battery; cell voltages are set per test.
"""

from __future__ import annotations

from typing import Any

import pytest
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.victron_balance.balancer import pack_voltages
from custom_components.victron_balance.const import DOMAIN
from simulator import VenusSimulator
from tests.helpers import wait_until

CHARGE = "sensor.battery_cell_to_charge_by_hand"
DRAIN = "sensor.battery_cell_to_drain_by_hand"
# Near the top: cell 5 lags most, cell 9 a little, cell 12 is the fullest.
VOLTAGES = [3.45] * 16
VOLTAGES[4] = 3.38
VOLTAGES[8] = 3.42
VOLTAGES[11] = 3.60


async def plan(hass: HomeAssistant, entry: MockConfigEntry, **data: Any) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN,
        "balancer_plan",
        {"config_entry_id": entry.entry_id, **data},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    return dict(response)


async def set_cells(
    hass: HomeAssistant, entry: MockConfigEntry, simulator: VenusSimulator, volts: list[float]
) -> None:
    simulator.set_cell_voltages(volts)
    await wait_until(lambda: pack_voltages(entry.runtime_data.venus) == volts)
    await hass.async_block_till_done()


async def test_plan_and_manual_advice_without_hardware(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    assert init_integration.runtime_data.balancer.runners == {}
    await set_cells(hass, init_integration, simulator, VOLTAGES)
    response = await plan(hass, init_integration)
    assert response["balancer"] is None
    lee_hart = response["plan"]
    assert lee_hart["strategy"] == "lee_hart"
    assert lee_hart["tbase"] == 1000.0  # the LiFePO4 cell preset
    assert lee_hart["runs_now"] is True  # average above 3.40 V
    cells = lee_hart["cells"]
    assert [cell["cell"] for cell in cells] == list(range(1, 17))
    assert cells[4]["voltage_v"] == 3.38
    # The seed's running average: the reference moves cell by cell, so the order matters.
    assert cells[4]["minutes"] > 0
    assert cells[8]["minutes"] > 0
    assert cells[11]["minutes"] == 0
    manual = response["manual"]
    assert manual["balanced"] is False
    first = manual["charge"][0]
    assert first["cell"] == 5  # the lowest first
    assert first["supply_v"] == 3.6  # HVC 3.65 V less the 0.05 V margin (seed: 3.55 for 3.6 V)
    assert first["current_a"] == 5.0
    assert first["minutes"] > 0  # 280 Ah and a voltage near the top: an estimate
    assert manual["charge"][1]["cell"] == 9
    drain = manual["drain"]
    assert drain["cell"] == 12
    assert drain["step_ah"] == 0.1  # fractions of an amp-hour (seed 003)
    assert drain["load_w"] == 5.0
    # The same advice as sensors on the battery device.
    charge = hass.states.get(CHARGE)
    assert charge.state == "5"
    assert charge.attributes["supply_voltage"] == 3.6
    assert charge.attributes["cells"][:2] == [5, 9]
    drain_state = hass.states.get(DRAIN)
    assert drain_state.state == "12"
    assert drain_state.attributes["step_ah"] == 0.1
    # A stronger supply and a bigger lamp shorten the times.
    faster = await plan(hass, init_integration, supply_current=10, drain_load_w=50)
    assert faster["manual"]["charge"][0]["minutes"] == pytest.approx(first["minutes"] / 2, abs=0.1)
    assert faster["manual"]["drain"]["step_minutes"] < drain["step_minutes"]


async def test_flat_middle_gives_no_times_and_a_balanced_pack_no_advice(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    # In the flat middle a voltage says little: which cell, but no amp-hour guess.
    await set_cells(
        hass, init_integration, simulator, [3.30] * 4 + [3.25] + [3.30] * 6 + [3.33] + [3.30] * 4
    )
    manual = (await plan(hass, init_integration))["manual"]
    assert manual["charge"][0]["cell"] == 5
    assert manual["charge"][0]["minutes"] is None
    assert manual["drain"]["cell"] == 12
    assert manual["drain"]["steps"] is None
    assert any("knee" in note for note in manual["notes"])
    assert (await plan(hass, init_integration))["plan"]["runs_now"] is False
    await set_cells(hass, init_integration, simulator, [3.40] * 16)
    manual = (await plan(hass, init_integration))["manual"]
    assert manual["balanced"] is True
    assert hass.states.get(CHARGE).state == STATE_UNKNOWN
    assert hass.states.get(DRAIN).state == STATE_UNKNOWN


async def test_unknown_pack_and_unknown_balancer(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    with pytest.raises(ServiceValidationError) as raised:
        await plan(hass, init_integration, balancer_id="nope")
    assert raised.value.translation_key == "balancer_not_found"
    simulator.remove_service("battery", 512)
    await wait_until(lambda: hass.states.get(CHARGE).state == STATE_UNAVAILABLE)
    with pytest.raises(ServiceValidationError) as raised:
        await plan(hass, init_integration)
    assert raised.value.translation_key == "pack_unknown"
