"""The per-cell relay balancer through Home Assistant, on the simulated GX and device.

The GX simulator runs its pack physics (4 LiFePO4 cells of 5 Ah near the top of
charge, where a cell's voltage says how full it is) and the balancer simulator
charges that same pack through `CellSink`, so what the BMS reports on Venus is what
the balancer's DC/DC did. Both run on the loop clock, which `freezer` holds still;
`advance` steps everything one second at a time, the integration's 1 s tick included.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from unittest.mock import patch

import aiomqtt
import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import ATTR_ENTITY_ID, STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.victron_balance.balancer import BalancerRunner
from custom_components.victron_balance.const import DOMAIN
from custom_components.victron_balance.transport.mqtt_session import SessionClient
from simulator import BalancerConfig, BalancerSimulator, BatteryConfig, VenusSimulator
from simulator.bms import BmsConfig
from simulator.pack import PackConfig
from simulator.plant import PlantConfig
from tests.broker import MosquittoBroker
from tests.helpers import PORTAL_ID, advance, find_device, settle, wait_until
from tests.simulator.helpers import Observer

CELLS = 4
BAL = "bal1"
BASE = f"balancer/{BAL}"
# Near the top of charge (the LiFePO4 knee: 3.40 V at 97 %, 3.45 V at 98.5 %).
SOCS = [0.975, 0.968, 0.980, 0.972]
PACK = PackConfig(cells=CELLS, capacity_ah=5.0, soc=0.975, seed=3)
# The BMS does not bleed here: only the balancer moves charge between the cells.
BMS = BmsConfig(balance_current=0.0)

SWITCH = "switch.balancer_bal1_balancing"
STATUS = "sensor.balancer_bal1_status"
ACTIVE = "sensor.balancer_bal1_active_cell"
REMAINING = "sensor.balancer_bal1_remaining_balancing_time"
LIFE = "sensor.balancer_bal1_remaining_relay_life"
FAULT = "binary_sensor.balancer_bal1_fault"
STRATEGY = "select.balancer_bal1_strategy"
TBASE = "number.balancer_bal1_time_base_tbase"
MAX_MINUTES = "number.balancer_bal1_longest_charge_per_cell"
FLOOR = "number.balancer_bal1_floor_voltage"

type BalancerFactory = Callable[..., Awaitable[BalancerSimulator]]


@pytest.fixture
async def simulator(mqtt_broker: MosquittoBroker) -> AsyncIterator[VenusSimulator]:
    """A GX whose BMS reports a physical 4-cell pack (no chargers: the pack rests)."""
    sim = VenusSimulator(
        mqtt_broker.host,
        mqtt_broker.port,
        portal_id=PORTAL_ID,
        battery=BatteryConfig(instance=512, cells=CELLS),
        plant=PlantConfig(pack=PACK, bms=BMS),
        seed=1,
    )
    assert sim.plant is not None
    sim.plant.pack.set_socs(SOCS)
    await sim.start()
    await settle()
    yield sim
    await sim.stop()


@pytest.fixture
async def make_balancer(
    mqtt_broker: MosquittoBroker, simulator: VenusSimulator
) -> AsyncIterator[BalancerFactory]:
    """Start balancer simulators wired to the GX simulator's pack; stopped at teardown."""
    sims: list[BalancerSimulator] = []

    async def factory(**kwargs: Any) -> BalancerSimulator:
        assert simulator.plant is not None
        kwargs.setdefault("balancer_id", BAL)
        kwargs.setdefault("cells", simulator.plant.pack)
        kwargs.setdefault("config", BalancerConfig.lifepo4(relays=CELLS))
        sim = BalancerSimulator(mqtt_broker.host, mqtt_broker.port, **kwargs)
        sims.append(sim)
        await sim.start()
        await sim.flush()
        return sim

    yield factory
    for sim in sims:
        await sim.stop()


@pytest.fixture
async def balancer(make_balancer: BalancerFactory) -> BalancerSimulator:
    """The balancer simulator `bal1`, started before the integration."""
    return await make_balancer()


@pytest.fixture
async def wire(mqtt_broker: MosquittoBroker) -> AsyncIterator[Observer]:
    """Everything on the balancer's topics, with the publisher's retain flag."""
    obs = Observer(mqtt_broker.host, mqtt_broker.port, topics=(f"{BASE}/#",))
    await obs.start()
    yield obs
    await obs.stop()


def runner_of(entry: MockConfigEntry, balancer_id: str = BAL) -> BalancerRunner:
    runner: BalancerRunner = entry.runtime_data.balancer.runners[balancer_id]
    return runner


async def found(hass: HomeAssistant, entry: MockConfigEntry, balancer_id: str = BAL) -> None:
    """Wait until the balancer is discovered, has its entities and its retained state."""
    runners = entry.runtime_data.balancer.runners
    await wait_until(lambda: balancer_id in runners and runners[balancer_id].device.complete)
    await hass.async_block_till_done()


async def step(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, entry: MockConfigEntry, seconds: int
) -> None:
    """Simulated seconds, each one settled: commands reached the device and came back.

    Real time between the steps is whatever the machine needs (coverage tracing slows
    everything); simulated time only moves here, so the results do not depend on it.
    """
    for _ in range(seconds):
        await advance(hass, freezer, 1)


async def run_until(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    done: Callable[[], bool],
    limit_s: int,
) -> int:
    """Advance one second at a time until `done()`; returns the seconds it took."""
    for second in range(1, limit_s + 1):
        await step(hass, freezer, entry, 1)
        if done():
            return second
    raise AssertionError(f"not done within {limit_s} simulated s: {runner_of(entry).status}")


async def turn(hass: HomeAssistant, on: bool) -> None:
    await hass.services.async_call(
        "switch", "turn_on" if on else "turn_off", {ATTR_ENTITY_ID: SWITCH}, blocking=True
    )


async def set_number(hass: HomeAssistant, entity_id: str, value: float) -> None:
    await hass.services.async_call(
        "number", "set_value", {ATTR_ENTITY_ID: entity_id, "value": value}, blocking=True
    )


def spread(simulator: VenusSimulator) -> float:
    assert simulator.plant is not None
    volts = simulator.plant.pack.cell_voltages()
    return max(volts) - min(volts)


def commands(wire: Observer) -> list[tuple[str, bytes]]:
    """The relay, DC/DC and fault commands seen on the wire, in order (suffix, payload)."""
    return [
        (message.topic[len(BASE) + 1 :], message.payload)
        for message in wire.messages
        if (message.topic.endswith("/set") or message.topic.endswith("/clear"))
        and message.topic != f"{BASE}/lease/set"
    ]


def leases(wire: Observer) -> list[bytes]:
    """The lease requests seen on the wire (grants, renewals, releases)."""
    return [m.payload for m in wire.messages if m.topic == f"{BASE}/lease/set"]


# --------------------------------------------------------------------- the full run
@pytest.mark.long_run
async def test_full_run_narrows_the_spread(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    simulator: VenusSimulator,
    balancer: BalancerSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Issue 6: scans until balanced on the simulated pack, every switch dry."""
    await found(hass, init_integration)
    runner = runner_of(init_integration)
    before = spread(simulator)
    assert before > 0.03
    # Tbase is tuned per pack, as Lee says: these 5 Ah cells move ~7 mV per charged
    # minute in the knee, so 300 (not the 280 Ah preset's 1000) does not overshoot.
    await set_number(hass, TBASE, 300)
    await turn(hass, True)
    statuses: set[str] = set()
    active: set[str] = set()

    def balanced() -> bool:
        statuses.add(hass.states.get(STATUS).state)
        active.add(hass.states.get(ACTIVE).state)
        return spread(simulator) <= 0.010 and runner.status.value == "waiting"

    seconds = await run_until(hass, freezer, init_integration, balanced, 3600)
    after = spread(simulator)
    hw = balancer.hardware
    cycles = [hw.cycles(n) for n in range(1, CELLS + 1)]
    print(
        f"\nbalancer full run: {seconds} simulated s, spread {before * 1000:.1f} -> "
        f"{after * 1000:.1f} mV, relay cycles {cycles}"
    )
    assert after <= 0.010 < before / 3
    assert hw.faults == []
    assert all(hw.load_cycles(n) == 0 for n in range(1, CELLS + 1))
    assert sum(cycles) >= 4
    assert cycles[2] == 0  # the fullest cell is never charged
    assert {"charging", "switching", "waiting"} <= statuses
    assert "2" in active
    # Every relay operation was counted, all of them dry.
    assert [relay.dry for relay in runner.wear.relays] == cycles
    assert [relay.load for relay in runner.wear.relays] == [0] * CELLS
    assert float(hass.states.get(LIFE).state) == pytest.approx(100 - max(cycles) * 1e-4)
    assert hass.states.get(SWITCH).state == STATE_ON
    assert hass.states.get(FAULT).state == STATE_OFF
    # Done: everything off, and the plan says so per cell.
    assert not hw.dcdc_on
    assert hw.closed_relays() == []
    planned = [
        float(hass.states.get(f"sensor.balancer_bal1_cell_{n}_planned_charge").state)
        for n in range(1, CELLS + 1)
    ]
    scan = runner.last_scan
    assert scan is not None
    assert scan.plan is not None
    assert planned == [round(minutes, 1) for minutes in scan.plan.minutes]


# ------------------------------------------------------------- sequencing on the wire
def index_of(wire: Observer, suffix: str, payload: bytes, start: int = 0) -> int:
    for index, message in enumerate(wire.messages[start:], start=start):
        if message.topic == f"{BASE}/{suffix}" and message.payload == payload:
            return index
    raise AssertionError(f"{suffix} {payload!r} not seen after message {start}")


def measured(wire: Observer, what: str, start: int, end: int) -> list[float]:
    """The `output_voltage` / `output_current` values published between two messages."""
    return [
        float(message.payload)
        for message in wire.messages[start:end]
        if message.topic == f"{BASE}/{what}"
    ]


async def test_relays_switch_in_the_safe_order_each_step_verified(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    simulator: VenusSimulator,
    balancer: BalancerSimulator,
    wire: Observer,
    init_integration: MockConfigEntry,
) -> None:
    """Relay on (dry), DC/DC on; stopping: DC/DC off, relay off; never retained."""
    await found(hass, init_integration)
    hw = balancer.hardware
    await set_number(hass, TBASE, 300)
    await turn(hass, True)
    await run_until(hass, freezer, init_integration, lambda: hw.output_current > 0, 60)
    await step(hass, freezer, init_integration, 3)
    assert hass.states.get(STATUS).state == "charging"
    assert hass.states.get(ACTIVE).state == "2"  # the lowest cell, first in the scan
    remaining = float(hass.states.get(REMAINING).state)
    assert 1.0 < remaining < 3.0  # cell 2 then cell 4 (about 1.5 + 0.8 minutes)
    await turn(hass, False)
    await run_until(
        hass,
        freezer,
        init_integration,
        lambda: hass.states.get(STATUS).state == "off",
        30,
    )
    assert commands(wire) == [
        ("relay/2/set", b"on"),
        ("dcdc/set", b"on"),
        ("dcdc/set", b"off"),
        ("relay/2/set", b"off"),
    ]
    assert not any(m.retain for m in wire.messages if m.topic.endswith("/set"))
    # Each command waited for the measurement that proved the step before it.
    cell2 = simulator.plant.pack.cell_voltage(1) if simulator.plant else 0.0
    relay_on = index_of(wire, "relay/2/set", b"on")
    dcdc_on = index_of(wire, "dcdc/set", b"on", relay_on)
    assert any(
        abs(volts - cell2) < 0.05 for volts in measured(wire, "output_voltage", relay_on, dcdc_on)
    )
    dcdc_off = index_of(wire, "dcdc/set", b"off", dcdc_on)
    relay_off = index_of(wire, "relay/2/set", b"off", dcdc_off)
    assert 0.0 in measured(wire, "output_current", dcdc_off, relay_off)
    assert measured(wire, "output_voltage", relay_off, len(wire.messages))[-1] < 0.5
    assert hw.faults == []
    assert [hw.load_cycles(n) for n in range(1, CELLS + 1)] == [0] * CELLS
    assert hass.states.get(SWITCH).state == STATE_OFF


# --------------------------------------------------------------------------- faults
async def charging_cell_2(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    hw: Any,
) -> None:
    """Balancing on with a 1 minute cap: cell 2 charges first."""
    await set_number(hass, TBASE, 300)
    await set_number(hass, MAX_MINUTES, 1)
    await turn(hass, True)
    await run_until(hass, freezer, entry, lambda: hw.output_current > 0, 60)
    assert hw.closed_relays() == [2]


async def start_charging(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, entry: MockConfigEntry, hw: Any
) -> None:
    """Balancing on (Tbase 300 for these small cells) until the DC/DC delivers."""
    await set_number(hass, TBASE, 300)
    await turn(hass, True)
    await run_until(hass, freezer, entry, lambda: hw.output_current > 0, 60)


def all_off(hw: Any) -> bool:
    return not hw.dcdc_on and not any(hw.relay_on(n) for n in range(1, hw.relay_count + 1))


async def test_welded_relay_ends_in_a_fault_with_everything_off(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    simulator: VenusSimulator,
    balancer: BalancerSimulator,
    init_integration: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    await found(hass, init_integration)
    hw = balancer.hardware
    runner = runner_of(init_integration)
    await charging_cell_2(hass, freezer, init_integration, hw)
    hw.stick_relay(2)  # welded while charging
    await run_until(hass, freezer, init_integration, lambda: runner.fault is not None, 120)
    await run_until(hass, freezer, init_integration, lambda: all_off(hw), 10)
    assert runner.fault is not None
    assert runner.fault.reason == "relay_did_not_open"
    assert hw.relay_closed(2)  # still welded, but nothing else was closed onto it
    assert hw.cycles(4) == 0
    assert hw.faults == []  # no relay moved under load
    assert hass.states.get(SWITCH).state == STATE_OFF
    assert hass.states.get(STATUS).state == "fault"
    fault = hass.states.get(FAULT)
    assert fault.state == STATE_ON
    assert fault.attributes["reason"] == "relay_did_not_open"
    issue = issue_registry.async_get_issue(DOMAIN, runner.fault_issue_id)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_key == "balancer_fault"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["balancer"] == BAL
    # Switching on acknowledges the fault; the welded relay is found again at once.
    await turn(hass, True)
    assert issue_registry.async_get_issue(DOMAIN, runner.fault_issue_id) is None
    assert hass.states.get(FAULT).state == STATE_OFF
    await run_until(hass, freezer, init_integration, lambda: runner.fault is not None, 30)
    assert runner.fault.reason == "unexpected_voltage"
    assert hw.cycles(4) == 0
    assert issue_registry.async_get_issue(DOMAIN, runner.fault_issue_id) is not None


async def test_dcdc_that_does_not_turn_off_ends_in_a_fault(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    simulator: VenusSimulator,
    balancer: BalancerSimulator,
    init_integration: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    await found(hass, init_integration)
    hw = balancer.hardware
    runner = runner_of(init_integration)
    await charging_cell_2(hass, freezer, init_integration, hw)
    hw.dcdc_stuck_on()
    await run_until(hass, freezer, init_integration, lambda: runner.fault is not None, 120)
    await run_until(hass, freezer, init_integration, lambda: all_off(hw), 10)
    await step(hass, freezer, init_integration, 2)
    assert runner.fault is not None
    assert runner.fault.reason == "dcdc_did_not_turn_off"
    # Relay 2 was opened under load, once, to stop the overcharge: no current flows.
    assert hw.closed_relays() == []
    assert hw.output_current == 0.0
    assert hw.load_cycles(2) == 1
    assert runner.wear.relays[1].load == 1
    assert runner.device.fault is not None  # the device's own switched_under_load
    assert runner.fault.reason == "dcdc_did_not_turn_off"  # the first cause is kept
    assert hass.states.get(SWITCH).state == STATE_OFF
    assert hass.states.get(FAULT).state == STATE_ON
    assert issue_registry.async_get_issue(DOMAIN, runner.fault_issue_id) is not None
    # The life used by that one load cycle shows (1e-5 of the relay's life).
    # One load operation (1e-5 of the life) and one dry one (1e-6), in %.
    assert float(hass.states.get(LIFE).state) == pytest.approx(100 - 1e-3 - 1e-4, abs=1e-6)
    assert hass.states.get(LIFE).attributes["relay"] == 2


async def test_a_fault_reported_by_the_device_stops_and_is_cleared_by_switching_on(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    simulator: VenusSimulator,
    balancer: BalancerSimulator,
    wire: Observer,
    init_integration: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    await found(hass, init_integration)
    runner = runner_of(init_integration)
    hw = balancer.hardware
    # Someone else drives the device: relay 1 on, then relay 2 (refused: a fault).
    assert hw.grant_lease(60.0)
    hw.set_relay(1, True)
    hw.set_relay(2, True)
    await run_until(hass, freezer, init_integration, lambda: runner.fault is not None, 10)
    assert runner.fault.reason == "device_two_relays_refused"
    assert issue_registry.async_get_issue(DOMAIN, runner.fault_issue_id) is not None
    # The relay it found on is switched off through the safe steps.
    await run_until(hass, freezer, init_integration, lambda: all_off(hw), 15)
    assert ("relay/1/set", b"off") in commands(wire)
    await turn(hass, True)
    await run_until(hass, freezer, init_integration, lambda: hw.fault is None, 5)
    assert ("fault/clear", b"1") in commands(wire)
    assert runner.fault is None
    assert hass.states.get(FAULT).state == STATE_OFF
    assert issue_registry.async_get_issue(DOMAIN, runner.fault_issue_id) is None
    await step(hass, freezer, init_integration, 3)
    assert runner.fault is None  # the cleared (acknowledged) fault does not come back


# ------------------------------------------------------------------ liveness rules
async def test_device_network_loss_switches_it_off_within_the_lease(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    simulator: VenusSimulator,
    balancer: BalancerSimulator,
    wire: Observer,
    init_integration: MockConfigEntry,
    tolerate_aiomqtt_socket_race: None,
) -> None:
    """Issue 10 item 6: the device loses its network mid-charge; no renewal reaches it.

    Protocol 1 kept relay and DC/DC on indefinitely. Now the device switches itself
    off in the safe order once the lease runs out; back online, the integration
    takes a new lease and starts from step 1 (never resumes half-way).
    """
    await found(hass, init_integration)
    hw = balancer.hardware
    await start_charging(hass, freezer, init_integration, hw)
    assert hw.lease_active
    lost_at = hw.time
    balancer.go_offline()
    await run_until(
        hass,
        freezer,
        init_integration,
        lambda: hass.states.get(STATUS).state == STATE_UNAVAILABLE,
        10,
    )
    assert hass.states.get(SWITCH).state == STATE_ON  # settings stay usable
    mark = len(wire.messages)
    await run_until(hass, freezer, init_integration, lambda: all_off(hw), 12)
    # Off within the 10 s lease (plus one simulated second of test resolution).
    assert hw.time - lost_at <= 11.0
    assert hw.lease_ends["expired"] == 1
    assert hw.closed_relays() == []
    assert hw.output_current == 0.0
    assert [hw.load_cycles(n) for n in range(1, CELLS + 1)] == [0] * CELLS  # the safe order
    assert commands(wire)[mark:] == []  # nothing was sent while it was offline
    reconnect = hass.async_create_task(balancer.come_online())
    await run_until(hass, freezer, init_integration, reconnect.done, 20)
    await run_until(
        hass, freezer, init_integration, lambda: hass.states.get(STATUS).state == "charging", 90
    )
    assert hw.lease_active
    assert hw.output_current > 0
    assert hw.faults == []


def kill_session_socket(entry: MockConfigEntry) -> None:
    """Home Assistant dies: its broker connection ends without a DISCONNECT.

    The broker then publishes the session's Last Will, as after a crash or a power
    cut (paho's socket() is its public API; shutdown keeps the descriptor valid).
    """
    client = entry.runtime_data.session._client
    assert client is not None
    sock = client._client.socket()
    assert isinstance(sock, socket.socket)
    sock.shutdown(socket.SHUT_RDWR)


async def test_home_assistant_crash_switches_the_device_off_at_once(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    mqtt_broker: MosquittoBroker,
    simulator: VenusSimulator,
    balancer: BalancerSimulator,
    init_integration: MockConfigEntry,
    tolerate_aiomqtt_socket_race: None,
) -> None:
    """Issue 10 item 6: the Last Will ends the lease at once, not after lease_s."""
    await found(hass, init_integration)
    hw = balancer.hardware
    status = Observer(
        mqtt_broker.host, mqtt_broker.port, topics=(f"victron_balance/{PORTAL_ID}/#",)
    )
    await status.start()
    try:
        await set_number(hass, TBASE, 300)
        await turn(hass, True)
        await run_until(hass, freezer, init_integration, lambda: hw.output_current > 0, 60)
        assert status.last(f"victron_balance/{PORTAL_ID}/status").payload == b"online"
        kill_session_socket(init_integration)
        await wait_until(lambda: hw.lease_ends["will"] == 1)  # no simulated time passed
        assert not hw.dcdc_on  # DC/DC off the moment the will arrived
        # The observer is another subscriber: the broker delivers to it in its own time.
        # (`last` would raise inside the wait if nothing had reached it yet.)
        await wait_until(
            lambda: (
                [m.payload for m in status.on(f"victron_balance/{PORTAL_ID}/status")][-1:]
                == [b"offline"]
            )
        )
        await advance(hass, freezer, 1)  # the device's settle: relays open once dry
        await wait_until(lambda: hw.closed_relays() == [])
        assert hw.lease_ends["expired"] == 0
        assert hw.self_shutdowns == 1
        assert hw.faults == []  # in the safe order: no relay moved under load
        # The session comes back and says so; the integration starts from step 1.
        await run_until(hass, freezer, init_integration, lambda: hw.output_current > 0, 90)
        assert status.last(f"victron_balance/{PORTAL_ID}/status").payload == b"online"
        assert hw.faults == []
    finally:
        await status.stop()


async def test_home_assistant_hang_stops_renewals_and_the_device_switches_off(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    simulator: VenusSimulator,
    balancer: BalancerSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Issue 10 item 6: the loop hangs (connection up, no will): the lease runs out."""
    await found(hass, init_integration)
    hw = balancer.hardware
    await start_charging(hass, freezer, init_integration, hw)
    manager = init_integration.runtime_data.balancer

    async def hung() -> None:
        await asyncio.Event().wait()  # never returns: no tick, no renewal

    hung_at = hw.time
    with patch.object(manager, "_async_tick", hung):
        for _ in range(11):
            await advance(hass, freezer, 1)
            if all_off(hw) and not hw.closed_relays():
                break
        assert hw.lease_ends["expired"] == 1
        assert hw.time - hung_at <= 11.0
        assert all_off(hw)
        assert hw.closed_relays() == []
        assert hw.faults == []
        manager._ticking = False  # the hung tick task is gone with the patch


async def test_stale_venus_stops_safely_and_resumes(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    simulator: VenusSimulator,
    balancer: BalancerSimulator,
    init_integration: MockConfigEntry,
) -> None:
    await found(hass, init_integration)
    hw = balancer.hardware
    await set_number(hass, TBASE, 300)
    await turn(hass, True)
    await run_until(hass, freezer, init_integration, lambda: hw.output_current > 0, 60)
    simulator.pause_heartbeat()
    await run_until(
        hass, freezer, init_integration, lambda: not init_integration.runtime_data.link.alive, 20
    )
    await run_until(hass, freezer, init_integration, lambda: all_off(hw), 15)
    await run_until(
        hass,
        freezer,
        init_integration,
        lambda: hass.states.get(STATUS).state == "no_cell_data",
        10,
    )
    assert hass.states.get(SWITCH).state == STATE_ON
    assert hw.faults == []
    simulator.resume_heartbeat()
    await run_until(
        hass, freezer, init_integration, lambda: hass.states.get(STATUS).state == "charging", 90
    )
    assert hw.output_current > 0


# --------------------------------------------------------------------- persistence
async def test_counters_and_settings_survive_a_restart(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    simulator: VenusSimulator,
    balancer: BalancerSimulator,
    init_integration: MockConfigEntry,
) -> None:
    await found(hass, init_integration)
    hw = balancer.hardware
    runner = runner_of(init_integration)
    await hass.services.async_call(
        "select",
        "select_option",
        {ATTR_ENTITY_ID: STRATEGY, "option": "amp_hours"},
        blocking=True,
    )
    await set_number(hass, FLOOR, 2.9)
    await charging_cell_2(hass, freezer, init_integration, hw)
    await step(hass, freezer, init_integration, 5)
    assert runner.tracker is not None  # amp-hours: 5 Ah cells from the BMS capacity
    charged = runner.tracker.contents_ah[1]
    await turn(hass, False)
    await run_until(hass, freezer, init_integration, lambda: runner.wear.relays[1].dry == 2, 20)
    assert all_off(hw)
    wear = [(relay.load, relay.dry) for relay in runner.wear.relays]
    assert wear == [(0, 0), (0, 2), (0, 0), (0, 0)]
    life = hass.states.get(LIFE).state
    # The per-relay counters are diagnostic and disabled by default: enable one.
    entity_registry = er.async_get(hass)
    entity_registry.async_update_entity("sensor.balancer_bal1_relay_2_cycles", disabled_by=None)

    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await found(hass, init_integration)
    restored = runner_of(init_integration)
    assert restored is not runner
    await step(hass, freezer, init_integration, 2)
    assert [(relay.load, relay.dry) for relay in restored.wear.relays] == wear  # no double count
    assert hass.states.get(LIFE).state == life
    counter = hass.states.get("sensor.balancer_bal1_relay_2_cycles")
    assert counter.state == "2"
    assert counter.attributes == {**counter.attributes, "load": 0, "dry": 2}
    assert hass.states.get(STRATEGY).state == "amp_hours"
    assert float(hass.states.get(FLOOR).state) == 2.9
    assert float(hass.states.get(MAX_MINUTES).state) == 1.0
    assert hass.states.get(SWITCH).state == STATE_OFF
    assert restored.tracker is not None
    assert restored.tracker.contents_ah[1] == pytest.approx(charged, abs=0.01)
    # New operations after the restart add to the stored counts.
    assert hw.grant_lease()
    hw.set_relay(1, True)
    hw.set_relay(1, False)
    await run_until(hass, freezer, init_integration, lambda: restored.wear.relays[0].dry == 2, 10)
    assert restored.wear.relays[0].load == 0
    assert restored.wear.relays[1].dry == 2


# ---------------------------------------------------------------- discovery, device
async def test_a_balancer_found_at_runtime_gets_its_device_and_entities(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    simulator: VenusSimulator,
    make_balancer: BalancerFactory,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    assert init_integration.runtime_data.balancer.runners == {}
    assert hass.states.get(SWITCH) is None
    await make_balancer()
    await found(hass, init_integration)
    identifier = (DOMAIN, f"{PORTAL_ID}_balancer_{BAL}")
    device = find_device(device_registry, init_integration.entry_id, identifier)
    gx = find_device(device_registry, init_integration.entry_id, (DOMAIN, PORTAL_ID))
    assert device is not None and gx is not None
    assert device.via_device_id == gx.id  # shown below the GX
    assert device.name == "Balancer bal1"
    assert device.model == "Relay balancer, 4 cells"
    entries = er.async_entries_for_device(
        entity_registry, device.id, include_disabled_entities=True
    )
    by_id = {entry.entity_id: entry for entry in entries}
    # 4 sensors, 4 planned-charge sensors, 4 relay counters, fault, switch, select, 3 numbers
    assert len(by_id) == 4 + 4 + 4 + 1 + 1 + 1 + 3
    cycles = by_id["sensor.balancer_bal1_relay_1_cycles"]
    assert cycles.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert cycles.entity_category is not None
    assert by_id[SWITCH].unique_id == f"{PORTAL_ID}_balancer_{BAL}_enabled"
    assert by_id["sensor.balancer_bal1_cell_3_planned_charge"].unique_id == (
        f"{PORTAL_ID}_balancer_{BAL}_cell_3_cell_planned"
    )
    await step(hass, freezer, init_integration, 2)
    assert hass.states.get(STATUS).state == "off"
    assert hass.states.get(SWITCH).state == STATE_OFF
    assert hass.states.get(STRATEGY).state == "lee_hart"
    assert float(hass.states.get(TBASE).state) == 1000.0  # the LiFePO4 cell preset
    assert hass.states.get(TBASE).attributes["max"] == 10000.0
    assert float(hass.states.get(FLOOR).state) == 3.0
    assert float(hass.states.get(LIFE).state) == 100.0
    # A second info (every reconnect of the device) does not add anything.
    await simulator.publish_raw(f"{BASE}/info", balancer_info(), retain=False)
    await step(hass, freezer, init_integration, 1)
    assert list(init_integration.runtime_data.balancer.runners) == [BAL]


def balancer_info(**changes: Any) -> bytes:
    info: dict[str, Any] = {
        "id": BAL,
        "protocol": 2,
        "relays": CELLS,
        "kind": "cell",
        "dcdc": {"open_circuit_voltage": 4.2, "max_current": 2.0, "output_resistance": 0.05},
        "relay_life": {"load": 100000, "dry": 1000000},
        "settle_time": 1.0,
        "measure_interval": 1.0,
        "lease": {"default_s": 10, "max_s": 60},
        "max_charge_s": 3600,
    }
    info.update(changes)
    return json.dumps(info).encode()


async def test_bad_payloads_are_logged_and_ignored(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    simulator: VenusSimulator,
    balancer: BalancerSimulator,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await found(hass, init_integration)
    runner = runner_of(init_integration)
    await step(hass, freezer, init_integration, 2)
    voltage = runner.device.output_voltage
    assert voltage is not None
    caplog.set_level(logging.WARNING)
    bad = {
        "balancer/x1/info": b"not json",
        "balancer/x2/info": balancer_info(id="someone_else"),
        "balancer/x3/info": json.dumps({"id": "x3", "protocol": 3}).encode(),
        "balancer/x4/info": b"",  # a deleted retained info: silently nothing
        f"{BASE}/output_voltage": b"abc",
        f"{BASE}/output_current": b"nan",
        f"{BASE}/relay/9": b"on",
        f"{BASE}/relay/1": b"maybe",
        f"{BASE}/relay/1/cycles": b"-3",
        f"{BASE}/availability": b"perhaps",
        f"{BASE}/fault": b"{broken",
        f"{BASE}/dcdc": b"1",
        f"{BASE}/relay/4/load_cycles": b"99",  # more load operations than operations
        f"{BASE}/something/new": b"whatever",  # newer firmware: not ours to judge
    }
    for topic, payload in bad.items():
        await simulator.publish_raw(topic, payload)
    await step(hass, freezer, init_integration, 2)
    for topic in (
        "balancer/x1/info",
        "balancer/x2/info",
        "balancer/x3/info",
        f"{BASE}/output_voltage",
        f"{BASE}/output_current",
        f"{BASE}/relay/9",
        f"{BASE}/relay/1",
        f"{BASE}/relay/1/cycles",
        f"{BASE}/availability",
        f"{BASE}/fault",
        f"{BASE}/dcdc",
    ):
        assert f"on {topic}: " in caplog.text, topic
    assert "relay 4: load_cycles cannot exceed cycles" in caplog.text
    assert runner.wear.relays[3].load == 0
    assert "something/new" not in caplog.text
    assert "x4" not in caplog.text
    assert list(init_integration.runtime_data.balancer.runners) == [BAL]
    assert runner.device.online is True
    assert runner.device.output_voltage == pytest.approx(voltage, abs=0.01)
    assert runner.device.fault is None
    assert runner.fault is None
    assert hass.states.get(STATUS).state == "off"


async def test_info_with_another_relay_count_stops_the_balancer(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    simulator: VenusSimulator,
    balancer: BalancerSimulator,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await found(hass, init_integration)
    await step(hass, freezer, init_integration, 1)
    assert hass.states.get(STATUS).state == "off"
    await simulator.publish_raw(f"{BASE}/info", balancer_info(relays=8))
    await step(hass, freezer, init_integration, 2)
    assert "now reports 8 relays instead of 4" in caplog.text
    assert hass.states.get(STATUS).state == STATE_UNAVAILABLE
    assert runner_of(init_integration).info.relays == CELLS


def failing_publish(should_fail: Callable[[str, bytes], bool]) -> Any:
    """Patch aiomqtt (only) so that chosen publications fail; returns the patcher."""
    real = aiomqtt.Client.publish

    async def publish(
        client: aiomqtt.Client, topic: str, payload: Any = None, **kwargs: Any
    ) -> None:
        body = payload.encode() if isinstance(payload, str) else bytes(payload or b"")
        if should_fail(topic, body):
            raise aiomqtt.MqttError("injected publish failure")
        await real(client, topic, payload, **kwargs)

    return patch.object(SessionClient, "publish", publish)


async def test_a_command_that_cannot_be_sent_starts_over(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    simulator: VenusSimulator,
    balancer: BalancerSimulator,
    wire: Observer,
    init_integration: MockConfigEntry,
) -> None:
    """Nothing reaches the device: it stays off (no lease, no relay); then it runs."""
    await found(hass, init_integration)
    hw = balancer.hardware
    await set_number(hass, TBASE, 300)
    # Every command of ours (the device's own publications go through).
    with failing_publish(lambda topic, _payload: topic.startswith(BASE) and "/set" in topic):
        await turn(hass, True)
        await step(hass, freezer, init_integration, 5)
        assert not hw.lease_active
        assert hw.dcdc_starts == 0
        assert [hw.cycles(n) for n in range(1, CELLS + 1)] == [0] * CELLS
        assert commands(wire) == []
    await run_until(hass, freezer, init_integration, lambda: hw.output_current > 0, 60)
    assert commands(wire)[:2] == [("relay/2/set", b"on"), ("dcdc/set", b"on")]
    assert hw.refused == 0  # nothing "on" ever went out without the lease


async def test_a_fault_whose_shutdown_cannot_be_sent_stays_latched(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    simulator: VenusSimulator,
    balancer: BalancerSimulator,
    wire: Observer,
    init_integration: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Issue 10 item 7: a fault is latched (and stored) before its command is sent.

    Before, a failed shutdown publish dropped the sequencer with the fault, so the
    next one started clean and balancing resumed without the user.
    """
    await found(hass, init_integration)
    hw = balancer.hardware
    runner = runner_of(init_integration)
    await charging_cell_2(hass, freezer, init_integration, hw)
    starts = hw.dcdc_starts
    failed: list[bytes] = []

    def first_off(topic: str, payload: bytes) -> bool:
        if topic == f"{BASE}/dcdc/set" and payload == b"off" and not failed:
            failed.append(payload)
            return True
        return False

    # The BMS now reads cell 2 far below the output: the charge no longer adds up.
    simulator.glitch_cell(2, 2.5, duration=None)
    with failing_publish(first_off):
        await run_until(hass, freezer, init_integration, lambda: bool(failed), 30)
    key = f"{DOMAIN}.{init_integration.entry_id}.balancer.{BAL}"
    assert hass_storage[key]["data"]["fault"]["reason"] == "unexpected_voltage"
    assert hass_storage[key]["data"]["enabled"] is False
    await run_until(hass, freezer, init_integration, lambda: all_off(hw), 15)
    simulator.end_glitch(2)
    await step(hass, freezer, init_integration, 60)  # past the 30 s rest between scans
    assert hw.dcdc_starts == starts  # never started again
    assert hw.closed_relays() == []
    assert hw.faults == []  # the retried shutdown went the safe way
    assert hass.states.get(SWITCH).state == STATE_OFF
    assert hass.states.get(FAULT).state == STATE_ON
    assert hass.states.get(FAULT).attributes["reason"] == "unexpected_voltage"
    assert issue_registry.async_get_issue(DOMAIN, runner.fault_issue_id) is not None


async def test_unload_switches_off_and_gives_the_lease_back(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    mqtt_broker: MosquittoBroker,
    simulator: VenusSimulator,
    balancer: BalancerSimulator,
    wire: Observer,
    init_integration: MockConfigEntry,
) -> None:
    """The explicit offs, then the release: nothing waits for the lease to run out."""
    await found(hass, init_integration)
    hw = balancer.hardware
    await charging_cell_2(hass, freezer, init_integration, hw)
    renewals = len(leases(wire))
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await wait_until(lambda: hw.lease_ends["released"] == 1)
    await advance(hass, freezer, 1)
    await wait_until(lambda: all_off(hw) and hw.closed_relays() == [])
    assert ("dcdc/set", b"off") in commands(wire)
    assert leases(wire)[-1] == b"release"
    assert hw.faults == []
    await advance(hass, freezer, 15)
    assert len(leases(wire)) == renewals + 1  # no renewal after the unload
    assert hw.lease_ends["expired"] == 0


async def test_a_protocol_1_balancer_is_never_driven(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    simulator: VenusSimulator,
    make_balancer: BalancerFactory,
    wire: Observer,
    init_integration: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """No lease: it could not switch itself off if we vanished. Shown, explained, idle."""
    config = dataclasses.replace(BalancerConfig.lifepo4(relays=CELLS), protocol=1)
    old = await make_balancer(config=config)
    await found(hass, init_integration)
    runner = runner_of(init_integration)
    issue = issue_registry.async_get_issue(DOMAIN, runner.unsupported_issue_id)
    assert issue is not None
    assert issue.translation_key == "balancer_no_lease"
    await set_number(hass, TBASE, 300)
    await turn(hass, True)
    await step(hass, freezer, init_integration, 40)
    assert hass.states.get(STATUS).state == "unsupported"
    assert commands(wire) == leases(wire) == []
    assert [old.hardware.cycles(n) for n in range(1, CELLS + 1)] == [0] * CELLS
    # A DC/DC someone left running is still switched off (off is always safe).
    old.hardware.set_dcdc(True)
    await run_until(hass, freezer, init_integration, lambda: not old.hardware.dcdc_on, 5)
    assert commands(wire) == [("dcdc/set", b"off")]


async def test_unprovable_current_off_is_never_driven(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    simulator: VenusSimulator,
    make_balancer: BalancerFactory,
    wire: Observer,
    init_integration: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Issue 10 item 7: no current measurement and I x R (2 A x 0.02 ohm) <= 50 mV.

    A DC/DC stuck on would read within the tolerance of the cell and pass as "off",
    and the relay would open under load. Such a device gets a repair issue instead.
    """
    config = dataclasses.replace(
        BalancerConfig.lifepo4(relays=CELLS), measures_current=False, output_resistance=0.02
    )
    device = await make_balancer(config=config)
    device.hardware.dcdc_stuck_on()
    await found(hass, init_integration)
    runner = runner_of(init_integration)
    issue = issue_registry.async_get_issue(DOMAIN, runner.unsupported_issue_id)
    assert issue is not None
    assert issue.translation_key == "balancer_current_off_unprovable"
    assert "40 mV" in issue.translation_placeholders["detail"]
    await set_number(hass, TBASE, 300)
    await turn(hass, True)
    await step(hass, freezer, init_integration, 40)
    assert [device.hardware.cycles(n) for n in range(1, CELLS + 1)] == [0] * CELLS
    assert device.hardware.load_cycles(2) == 0
    assert leases(wire) == []
    assert hass.states.get(STATUS).state == "unsupported"


async def test_without_current_a_stuck_dcdc_is_not_proven_off(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    simulator: VenusSimulator,
    make_balancer: BalancerFactory,
    init_integration: MockConfigEntry,
) -> None:
    """Issue 10 item 7: no current measurement, I x R = 100 mV: the stuck DC/DC shows.

    Step 1 is not proven; the relay opens only as the documented emergency (one load
    cycle to stop the overcharge), after the step timed out, and the fault is latched.
    """
    config = dataclasses.replace(BalancerConfig.lifepo4(relays=CELLS), measures_current=False)
    device = await make_balancer(config=config)
    hw = device.hardware
    await found(hass, init_integration)
    runner = runner_of(init_integration)
    assert runner.device.output_current is None  # the device does not publish one
    await charging_cell_2(hass, freezer, init_integration, hw)
    hw.dcdc_stuck_on()
    await turn(hass, False)  # stop: DC/DC off, which it ignores
    await run_until(hass, freezer, init_integration, lambda: hw.closed_relays() == [], 20)
    assert hass.states.get(FAULT).attributes["reason"] == "dcdc_did_not_turn_off"
    assert hw.load_cycles(2) == 1  # the emergency opening, once
    assert hass.states.get(SWITCH).state == STATE_OFF


async def test_the_device_cap_never_ends_a_charge_we_planned(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    simulator: VenusSimulator,
    make_balancer: BalancerFactory,
    init_integration: MockConfigEntry,
) -> None:
    """A 2 minute per-charge cap: the plan stays below it; the device never has to act."""
    config = dataclasses.replace(BalancerConfig.lifepo4(relays=CELLS), max_charge_s=120.0)
    device = await make_balancer(config=config)
    hw = device.hardware
    await found(hass, init_integration)
    await set_number(hass, TBASE, 10000)  # a plan of most of an hour for cell 2
    await turn(hass, True)
    await run_until(hass, freezer, init_integration, lambda: hw.output_current > 0, 60)
    started = hw.time
    await run_until(hass, freezer, init_integration, lambda: hw.output_current == 0, 130)
    assert hw.time - started < 120.0
    assert hw.fault is None  # no charge_time_cap
    assert hw.faults == []


@pytest.mark.usefixtures("tolerate_aiomqtt_socket_race")
async def test_broker_loss_makes_the_balancer_unavailable_until_it_is_back(
    hass: HomeAssistant,
    mqtt_broker: MosquittoBroker,
    simulator: VenusSimulator,
    balancer: BalancerSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Real time: the session reconnects and the retained state comes again."""
    await found(hass, init_integration)
    runner = runner_of(init_integration)
    await wait_until(lambda: hass.states.get(STATUS).state == "off")
    mqtt_broker.stop()
    await wait_until(lambda: hass.states.get(STATUS).state == STATE_UNAVAILABLE)
    assert runner.device.output_voltage is None
    assert hass.states.get(SWITCH).state == STATE_OFF  # HA's own settings stay
    mqtt_broker.start()
    await wait_until(lambda: hass.states.get(STATUS).state == "off", timeout=30)
    assert runner.device.complete


# ------------------------------------------------------------ stored state, repairs
def stored(entry: MockConfigEntry, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": 1,
        "minor_version": 1,
        "key": f"{DOMAIN}.{entry.entry_id}.balancer.{BAL}",
        "data": data,
    }


async def test_worn_relays_raise_a_warning_and_a_stored_fault_stays_latched(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    simulator: VenusSimulator,
    balancer: BalancerSimulator,
    config_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    relay = {"load": 0, "dry": 0, "seen_cycles": 0, "seen_load": 0}
    worn = {**relay, "load": 95_000}  # 95 % of the load life used
    hass_storage[f"{DOMAIN}.{config_entry.entry_id}.balancer.{BAL}"] = stored(
        config_entry,
        {
            "settings": {"strategy": "true_mean", "tbase": 99999, "max_minutes": 5},
            "enabled": True,
            "fault": {"reason": "relay_did_not_open", "detail": "relay 3: output 3.4 V"},
            "wear": {"relays": [relay, relay, worn, relay]},
            "tracker": None,
        },
    )
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await found(hass, config_entry)
    runner = runner_of(config_entry)
    assert runner.settings.strategy.value == "true_mean"
    assert runner.settings.tbase == 1000.0  # out of range: the preset instead
    assert runner.settings.max_minutes == 5.0
    issue = issue_registry.async_get_issue(DOMAIN, runner.wear_issue_id)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.translation_placeholders == {"balancer": BAL, "relays": "3", "remaining": "5.0"}
    await step(hass, freezer, config_entry, 2)
    assert float(hass.states.get(LIFE).state) == pytest.approx(5.0)
    assert hass.states.get(LIFE).attributes["relay"] == 3
    # The fault from before the restart is still latched: nothing runs.
    assert hass.states.get(FAULT).state == STATE_ON
    assert hass.states.get(SWITCH).state == STATE_OFF
    assert hass.states.get(STATUS).state == "fault"
    assert issue_registry.async_get_issue(DOMAIN, runner.fault_issue_id) is not None
    await step(hass, freezer, config_entry, 5)
    assert balancer.hardware.closed_relays() == []
    await hass.config_entries.async_unload(config_entry.entry_id)


async def test_unreadable_stored_state_is_not_trusted(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    simulator: VenusSimulator,
    balancer: BalancerSimulator,
    config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hass_storage[f"{DOMAIN}.{config_entry.entry_id}.balancer.{BAL}"] = stored(
        config_entry, {"settings": {}, "wear": {"relays": [{"load": -1}]}}
    )
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await found(hass, config_entry)
    runner = runner_of(config_entry)
    assert "Stored state of balancer bal1 unreadable" in caplog.text
    assert runner.fault is None
    assert [relay.load for relay in runner.wear.relays] == [0] * CELLS
    await hass.config_entries.async_unload(config_entry.entry_id)


async def test_settings_are_checked_on_every_path(
    hass: HomeAssistant,
    simulator: VenusSimulator,
    balancer: BalancerSimulator,
    init_integration: MockConfigEntry,
) -> None:
    await found(hass, init_integration)
    with pytest.raises(ServiceValidationError):
        await set_number(hass, FLOOR, 3.5)  # above the cell range (HA's own check)
    entity = hass.data["entity_components"]["number"].get_entity(FLOOR)
    with pytest.raises(ServiceValidationError) as raised:
        await entity.async_set_native_value(float("nan"))
    assert raised.value.translation_key == "invalid_parameter"
    assert runner_of(init_integration).settings.floor_voltage == 3.0


async def test_diagnostics_include_the_balancer(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    simulator: VenusSimulator,
    balancer: BalancerSimulator,
    init_integration: MockConfigEntry,
) -> None:
    """Real time (diagnostics import hassio, which freezegun's datetime breaks)."""
    await found(hass, init_integration)
    runner = runner_of(init_integration)
    await wait_until(lambda: runner.driver.sequencer is not None)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    data = diagnostics["balancers"][BAL]
    assert data["info"]["relays"] == CELLS
    assert data["device"]["online"] is True
    assert data["status"] == "off"
    assert data["sequencer"]["state"] == "idle"
    assert len(data["wear"]) == CELLS


# ------------------------------------------------------------------------ service
async def test_balancer_plan_service_uses_the_balancer_settings(
    hass: HomeAssistant,
    simulator: VenusSimulator,
    balancer: BalancerSimulator,
    init_integration: MockConfigEntry,
) -> None:
    await found(hass, init_integration)
    await set_number(hass, TBASE, 300)
    response = await hass.services.async_call(
        DOMAIN,
        "balancer_plan",
        {"config_entry_id": init_integration.entry_id, "balancer_id": BAL},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    assert response["balancer"] == BAL
    plan = response["plan"]
    assert plan["tbase"] == 300
    assert plan["runs_now"] is True
    minutes = [cell["minutes"] for cell in plan["cells"]]
    assert minutes[1] > minutes[3] > 0 == minutes[0] == minutes[2]
    assert response["manual"]["spread_v"] > 0.03
    with pytest.raises(ServiceValidationError) as raised:
        await hass.services.async_call(
            DOMAIN,
            "balancer_plan",
            {"config_entry_id": init_integration.entry_id, "balancer_id": "nope"},
            blocking=True,
            return_response=True,
        )
    assert raised.value.translation_key == "balancer_not_found"
    # Without an id, the only balancer there is.
    only = await hass.services.async_call(
        DOMAIN,
        "balancer_plan",
        {"config_entry_id": init_integration.entry_id},
        blocking=True,
        return_response=True,
    )
    assert only is not None
    assert only["balancer"] == BAL


async def test_balancers_that_do_not_fit_the_pack_never_run(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    simulator: VenusSimulator,
    make_balancer: BalancerFactory,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 12 V module balancer on a LiFePO4 pack, and one with more relays than cells."""
    modules = await make_balancer(
        balancer_id="mod", config=BalancerConfig.lead_acid_modules(relays=CELLS)
    )
    six = await make_balancer(balancer_id="six", config=BalancerConfig.lifepo4(relays=6))
    await found(hass, init_integration, "mod")
    await found(hass, init_integration, "six")
    floor = hass.states.get("number.balancer_mod_floor_voltage")
    assert (floor.attributes["min"], floor.attributes["max"]) == (9.0, 12.0)
    assert float(floor.state) == 10.0  # seed 004: 10 V per 12 V module
    assert float(hass.states.get("number.balancer_mod_time_base_tbase").state) == 20.0
    for entity_id in ("switch.balancer_mod_balancing", "switch.balancer_six_balancing"):
        await hass.services.async_call(
            "switch", "turn_on", {ATTR_ENTITY_ID: entity_id}, blocking=True
        )
    await step(hass, freezer, init_integration, 5)
    # 3.4 V "modules" are far below Lee's 12.5 V: the loop does not run.
    assert hass.states.get("sensor.balancer_mod_status").state == "waiting"
    assert runner_of(init_integration, "mod").last_scan is not None
    assert hass.states.get("sensor.balancer_mod_cell_2_planned_charge").state == "0.0"
    # Six relays, four cells: which relay is which cell is unknown, so nothing runs.
    assert hass.states.get("sensor.balancer_six_status").state == "no_cell_data"
    assert "has 6 relays but the battery reports 4 cells" in caplog.text
    await step(hass, freezer, init_integration, 35)
    assert modules.hardware.closed_relays() == six.hardware.closed_relays() == []
    assert modules.hardware.cycles(1) == six.hardware.cycles(1) == 0


@pytest.mark.long_run
async def test_no_cell_is_charged_above_the_top_balance_target(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    simulator: VenusSimulator,
    balancer: BalancerSimulator,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Tbase far too high for 5 Ah cells: the 3.55 V cap ends the charge, not the plan."""
    await found(hass, init_integration)
    hw = balancer.hardware
    runner = runner_of(init_integration)
    assert runner.max_cell_voltage == 3.55  # the LiFePO4 3.55 V chemistry (options)
    await set_number(hass, TBASE, 10000)
    await turn(hass, True)
    await run_until(hass, freezer, init_integration, lambda: hw.closed_relays() == [2], 60)
    assert runner.last_scan is not None
    assert runner.last_scan.plan is not None
    assert runner.last_scan.plan.minutes[1] > 45  # the plan says most of an hour
    await run_until(hass, freezer, init_integration, lambda: hw.closed_relays() == [4], 900)
    assert simulator.plant is not None
    cell2 = simulator.plant.pack.cell_voltage(1)
    assert 3.54 <= cell2 < 3.58  # stopped at the cap (the BMS reports a second late)
    assert "cell 2 reached" in caplog.text
    assert hw.delivered_ah(2) < 2.0 * 10 / 60  # about 4 minutes at 2 A, not an hour
    assert hw.faults == []
