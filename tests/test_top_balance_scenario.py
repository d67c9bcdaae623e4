"""Scenario: a whole managed top balance through Home Assistant on the simulated GX.

The simulator runs its physics plant (pack, BMS, DVCC, chargers) at speed 1.0 on the
loop clock, which the `freezer` fixture holds still; `advance` steps it one second at a
time, so the plant, the GX's DVCC loop, the dbus-mqtt-battery driver and the runner's
1 s tick all see the same simulated time. The run is started with the
`start_top_balance` service and followed until the controller leaves its active states.

The pack is small (4 cells) but not tiny: the controller's proportional gain (500 A/V)
assumes prismatic cells, and a few-Ah cell's internal resistance makes the loop ring.
100 Ah with 1.5 % SoC between the cells (1.5 Ah to bleed at 4 A) finishes in about
25 simulated minutes, including the 5 minute hold.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.victron_balance.const import DOMAIN
from custom_components.victron_balance.logic.top_balance.controller import TopBalanceState
from simulator import BatteryConfig, VenusSimulator
from simulator.bms import BmsConfig
from simulator.chargers import EssConfig, MpptConfig, MultiPlusConfig
from simulator.mqtt_battery import MqttBatteryConfig
from simulator.pack import PackConfig
from simulator.plant import PlantConfig
from simulator.profiles import constant
from tests.broker import MosquittoBroker
from tests.helpers import PORTAL_ID, advance, settle

pytestmark = pytest.mark.scenario

VIRTUAL = 100
REAL = 512
CELLS = 4
TARGET = 3.55
MAX_CURRENT = 20.0
BLEED = 4.0
MAX_SIM_S = 90 * 60  # simulated; a run that has not ended by then has failed
STATE = "sensor.battery_top_balance"

PACK = PackConfig(cells=CELLS, capacity_ah=100.0, soc=0.975, soc_spread=0.012, seed=3)
# A BMS that leaves the top to the top balance: a fixed CCL (no taper near the top, like
# a JK board or serialbattery with CCCM off). Its limits still bind the run (I1).
BMS = BmsConfig(balance_current=BLEED, balance_threshold=0.005, ccl_by_cell_voltage=False)


def plant_config(dc_coupled: bool) -> PlantConfig:
    """A MultiPlus on the grid; with `dc_coupled`, also an MPPT that ignores CCL."""
    multiplus = MultiPlusConfig(max_charge_current=MAX_CURRENT)
    if not dc_coupled:
        return PlantConfig(pack=PACK, bms=BMS, multiplus=multiplus)
    return PlantConfig(
        pack=PACK,
        bms=BMS,
        multiplus=multiplus,
        mppt=MpptConfig(max_charge_current=40.0),
        ess=EssConfig(),
        dc_coupled_feed_in=True,
        pv=constant(600.0),  # about 40 A into a 14 V pack: more than the bleed
    )


@pytest.fixture
def dc_coupled() -> bool:
    """AC-coupled by default; a test asks for DC-coupled PV by parametrising this."""
    return False


@pytest.fixture
async def simulator(
    mqtt_broker: MosquittoBroker, dc_coupled: bool
) -> AsyncIterator[VenusSimulator]:
    """A GX with physics, DVCC on, the dbus-mqtt-battery driver installed; the controlling
    BMS is left on "automatic": the integration switches it for the run."""
    sim = VenusSimulator(
        mqtt_broker.host,
        mqtt_broker.port,
        portal_id=PORTAL_ID,
        battery=BatteryConfig(instance=REAL, cells=CELLS),
        plant=plant_config(dc_coupled),
        speed=1.0,
        mqtt_battery=MqttBatteryConfig(instance=VIRTUAL),
        seed=1,
    )
    await sim.start()
    sim.set_value("settings", 0, "/Settings/Services/Bol", 1)
    await settle()
    yield sim
    await sim.stop()


def virtual(sim: VenusSimulator, path: str) -> object:
    try:
        return sim.get_value("battery", VIRTUAL, path)
    except KeyError:
        return None


def reported_cells(sim: VenusSimulator) -> list[float]:
    """The cell voltages the real BMS (512) reports on the GX."""
    values = [sim.get_value("battery", REAL, f"/Voltages/Cell{n}") for n in range(1, CELLS + 1)]
    assert all(isinstance(value, float) for value in values), values
    return [float(value) for value in values]  # type: ignore[arg-type]


@dataclass
class Trace:
    """What happened during a run, sampled after every simulated second."""

    seconds: int = 0
    max_cvl: float = 0.0  # the highest CVL the virtual BMS announced
    max_cell: float = 0.0  # the highest terminal voltage of any cell
    steered_s: int = 0  # seconds DVCC followed the virtual BMS


async def start(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await hass.services.async_call(
        DOMAIN,
        "start_top_balance",
        {
            "config_entry_id": entry.entry_id,
            "target_cell_voltage": TARGET,
            "max_current": MAX_CURRENT,
            "bleed_current": BLEED,
        },
        blocking=True,
    )


async def run_to_end(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, entry: MockConfigEntry, sim: VenusSimulator
) -> Trace:
    """Step one simulated second at a time until the run is over (or MAX_SIM_S)."""
    supervisor = entry.runtime_data.charge.supervisor
    plant = sim.plant
    assert plant is not None
    trace = Trace()

    while supervisor.running and trace.seconds < MAX_SIM_S:
        await advance(hass, freezer, 1)
        trace.seconds += 1
        cvl = virtual(sim, "/Info/MaxChargeVoltage")
        if isinstance(cvl, int | float):
            trace.max_cvl = max(trace.max_cvl, float(cvl))
        trace.max_cell = max(trace.max_cell, *plant.pack.cell_voltages())
        if sim.get_value("system", 0, "/ActiveBmsInstance") == VIRTUAL:
            trace.steered_s += 1
    return trace


def report(name: str, trace: Trace, sim: VenusSimulator, spread: float) -> None:
    print(
        f"\n{name}: {trace.seconds / 3600:.3f} simulated h, {sim.ovp_events} OVP events, "
        f"final spread {spread * 1000:.1f} mV, max CVL {trace.max_cvl:.3f} V "
        f"(limit {CELLS * TARGET:.3f}), max cell {trace.max_cell:.3f} V"
    )


async def test_completes_from_a_large_imbalance_without_ovp(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    """Issue 4: DONE from a real imbalance, zero OVP, CVL never above cells x target."""
    plant = simulator.plant
    assert plant is not None
    socs = [cell.soc for cell in plant.pack.cells]
    assert max(socs) - min(socs) > 0.01  # over 1 Ah between the cells: real bleeding
    before = reported_cells(simulator)
    assert max(before) - min(before) > 0.04

    await start(hass, init_integration)
    trace = await run_to_end(hass, freezer, init_integration, simulator)

    supervisor = init_integration.runtime_data.charge.supervisor
    settings = supervisor.controller.settings
    assert settings is not None
    after = reported_cells(simulator)
    spread = max(after) - min(after)
    report("AC-coupled", trace, simulator, spread)
    assert supervisor.controller.state is TopBalanceState.DONE, supervisor.controller.abort_reason
    assert trace.seconds < 1.5 * 3600
    assert simulator.ovp_events == 0
    assert spread <= 0.010
    assert min(after) >= settings.shunt_v
    assert 0 < trace.max_cvl <= round(CELLS * TARGET, 3)
    assert trace.max_cell < settings.limit_v  # never near OVP
    # The GX really followed the virtual BMS for most of the run, and it left a report.
    assert trace.steered_s > 0.9 * trace.seconds
    assert supervisor.reports[-1].outcome == "done"
    assert supervisor.reports[-1].ah_delivered > 1.0
    assert hass.states.get(STATE).state == "done"

    # After DONE: a non-elevated CVL at once, then the real BMS again.
    normal = settings.normal_cvl_v
    await advance(hass, freezer, 3)
    assert virtual(simulator, "/Info/MaxChargeVoltage") <= normal
    await advance(hass, freezer, 40)
    assert simulator.get_value("system", 0, "/ActiveBmsInstance") == REAL
    assert simulator.ovp_events == 0


@pytest.mark.parametrize("dc_coupled", [True])
async def test_dc_coupled_pv_completes_without_ovp(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
    dc_coupled: bool,
) -> None:
    """Issue 4: with DC-coupled feed-in only the CVL holds the MPPT back; still no OVP.

    The runner reads the GX's OvervoltageFeedIn setting and clips its CVL to the cells.
    """
    assert dc_coupled
    await start(hass, init_integration)
    trace = await run_to_end(hass, freezer, init_integration, simulator)

    supervisor = init_integration.runtime_data.charge.supervisor
    settings = supervisor.controller.settings
    assert settings is not None
    after = reported_cells(simulator)
    spread = max(after) - min(after)
    report("DC-coupled", trace, simulator, spread)
    assert simulator.ovp_events == 0
    assert 0 < trace.max_cvl <= round(CELLS * TARGET, 3)
    assert supervisor.controller.state is TopBalanceState.DONE, supervisor.controller.abort_reason
    assert trace.seconds < 1.5 * 3600
    assert spread <= 0.010
    assert trace.max_cell < settings.limit_v
