"""The relay balancer simulator: the MQTT contract, the safe sequence, wear and faults."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from simulator import BalancerConfig, BalancerHardware, BalancerSimulator, MemoryCells
from simulator.pack import Pack, PackConfig
from tests.broker import MosquittoBroker
from tests.simulator.helpers import Observer, wait_until

BASE = "balancer/bal1"
CELLS = (3.30, 3.20, 3.35, 3.25)
# Fast time constants keep the tests quick; the shape is the real one.
FAST = BalancerConfig(relays=4, decay_tau=0.04, rise_tau=0.02, relay_tau=0.005)

type BalancerFactory = Callable[..., Awaitable[BalancerSimulator]]


@pytest.fixture
async def bal_observer(mqtt_broker: MosquittoBroker) -> AsyncIterator[Observer]:
    """An observer on the balancer's tree."""
    obs = Observer(mqtt_broker.host, mqtt_broker.port, topics=(f"{BASE}/#",))
    await obs.start()
    yield obs
    await obs.stop()


@pytest.fixture
async def make_balancer(mqtt_broker: MosquittoBroker) -> AsyncIterator[BalancerFactory]:
    """Start balancers with a fast clock; stopped at teardown."""
    sims: list[BalancerSimulator] = []

    async def factory(**kwargs: Any) -> BalancerSimulator:
        kwargs.setdefault("config", FAST)
        kwargs.setdefault("cells", MemoryCells(CELLS))
        kwargs.setdefault("tick_interval", 0.01)
        kwargs.setdefault("measure_interval", 0.2)
        sim = BalancerSimulator(mqtt_broker.host, mqtt_broker.port, **kwargs)
        sims.append(sim)
        await sim.start()
        return sim

    yield factory
    for sim in sims:
        await sim.stop()


def payload(obs: Observer, topic: str) -> bytes | None:
    """The last payload seen on ``BASE/topic``, None before the first one."""
    found = obs.on(f"{BASE}/{topic}")
    return found[-1].payload if found else None


def volts(obs: Observer) -> float:
    """The last published output voltage (NaN before the first)."""
    return float(payload(obs, "output_voltage") or "nan")


def amps(obs: Observer) -> float:
    """The last published output current (NaN before the first)."""
    return float(payload(obs, "output_current") or "nan")


async def settle_at(obs: Observer, target: float, tol: float = 0.005) -> None:
    """Wait until the published output voltage is within ``tol`` of ``target``."""
    await wait_until(lambda: abs(volts(obs) - target) <= tol)


async def wait_fault(obs: Observer) -> dict[str, Any]:
    """Wait for a (non-empty) fault report and return it."""
    await wait_until(lambda: bool(payload(obs, "fault")))
    fault = obs.last(f"{BASE}/fault")
    assert fault.retain
    result: dict[str, Any] = fault.json()
    return result


# Physics tests run for hours of simulated time: a lease that outlasts them.
LONG_LEASE = {"lease_s": 7200.0, "max_lease_s": 7200.0, "max_charge_s": 7200.0}


def leased(hw: BalancerHardware) -> BalancerHardware:
    """``hw`` with a controller's lease, so that it accepts "on" commands."""
    assert hw.grant_lease()
    return hw


def hardware(*, cells: tuple[float, ...] = CELLS, **config: Any) -> BalancerHardware:
    """A pure balancer on in-memory cells, leased."""
    config.setdefault("relays", len(cells))
    for key, value in LONG_LEASE.items():
        config.setdefault(key, value)
    return leased(BalancerHardware(MemoryCells(cells), BalancerConfig(**config)))


async def take_lease(obs: Observer, lease_s: float = 60.0) -> None:
    """Act as a controller: take the device's lease (protocol 2), wait for the report."""
    await obs.publish(f"{BASE}/lease/set", json.dumps({"lease_s": lease_s}))
    await wait_until(lambda: b'"active":true' in (payload(obs, "lease") or b""))


def settle(hw: BalancerHardware, seconds: float = 1.5, dt: float = 0.01) -> None:
    """Step the pure model for ``seconds``."""
    for _ in range(round(seconds / dt)):
        hw.step(dt)


# --- MQTT contract -------------------------------------------------------------------


async def test_retained_state_info_and_availability(
    mqtt_broker: MosquittoBroker, make_balancer: BalancerFactory
) -> None:
    sim = await make_balancer()
    await sim.flush()
    late = Observer(mqtt_broker.host, mqtt_broker.port, topics=(f"{BASE}/#",))
    await late.start()
    try:
        # Retained messages arrive in the broker's order, not the publish order.
        expected = {
            f"{BASE}/{t}"
            for t in ("availability", "info", "dcdc", "dcdc/current", "output_voltage")
        }
        for n in range(1, 5):
            expected |= {f"{BASE}/relay/{n}{t}" for t in ("", "/cycles", "/load_cycles")}
        await wait_until(lambda: expected <= late.topics_seen())
        assert late.last(f"{BASE}/availability").payload == b"online"
        info = late.last(f"{BASE}/info").json()
        assert info["relays"] == 4
        assert info["dcdc"] == {
            "open_circuit_voltage": 4.2,
            "max_current": 2.0,
            "output_resistance": 0.05,
            "measures_current": True,
        }
        assert info["relay_life"] == {"load": 100_000, "dry": 1_000_000}
        assert info["protocol"] == 2
        assert info["lease"] == {"default_s": 10.0, "max_s": 60.0}
        assert info["max_charge_s"] == 3600.0
        for n in range(1, 5):
            assert late.last(f"{BASE}/relay/{n}").payload == b"off"
            assert late.last(f"{BASE}/relay/{n}/cycles").payload == b"0"
            assert late.last(f"{BASE}/relay/{n}/load_cycles").payload == b"0"
        assert late.last(f"{BASE}/dcdc").payload == b"off"
        assert late.last(f"{BASE}/dcdc/current").payload == b"2"
        assert late.last(f"{BASE}/output_voltage").payload == b"0"
        assert all(m.retain for m in late.messages)  # everything is retained
        # Empty retained payload = no fault (it also deletes a stale retained fault).
        assert payload(late, "fault") in (None, b"")

        sim.go_offline()
        offline = await late.wait_topic(f"{BASE}/availability", count=2)
        assert offline.payload == b"offline"
        await sim.come_online()
        assert (await late.wait_topic(f"{BASE}/availability", count=3)).payload == b"online"
    finally:
        await late.stop()


async def test_safe_sequence_verified_by_voltage(
    make_balancer: BalancerFactory, bal_observer: Observer
) -> None:
    """Lee Hart's four steps, each visible in the measured output voltage."""
    sim = await make_balancer()
    await take_lease(bal_observer)
    cells = sim.hardware.cells
    assert isinstance(cells, MemoryCells)
    pub = bal_observer.publish

    await pub(f"{BASE}/relay/2/set", "on")  # relay onto the capacitor: cell 2's voltage
    await settle_at(bal_observer, 3.20)
    await pub(f"{BASE}/dcdc/set", "on")  # DC/DC on: + I·R (2 A x 0.05 Ω)
    await settle_at(bal_observer, 3.30)
    await wait_until(lambda: amps(bal_observer) == 2.0)
    assert bal_observer.last(f"{BASE}/dcdc").payload == b"on"

    # Move to relay 4 the safe way.
    await pub(f"{BASE}/dcdc/set", "off")  # 1: the drop disappears, current stops
    await settle_at(bal_observer, 3.20)
    assert amps(bal_observer) == 0
    await pub(f"{BASE}/relay/2/set", "off")  # 2: the capacitor discharges
    await wait_until(lambda: volts(bal_observer) < 0.05)
    await pub(f"{BASE}/relay/4/set", "on")  # 3: rises to cell 4
    await settle_at(bal_observer, 3.25)
    await pub(f"{BASE}/dcdc/set", "on")  # 4: rises by the drop, current flows
    await settle_at(bal_observer, 3.35)
    await wait_until(lambda: amps(bal_observer) == 2.0)

    assert sim.hardware.faults == []
    assert bal_observer.last(f"{BASE}/relay/2/cycles").payload == b"2"
    assert bal_observer.last(f"{BASE}/relay/4/cycles").payload == b"1"
    assert bal_observer.last(f"{BASE}/relay/2/load_cycles").payload == b"0"
    # Charge went only to the cells whose relays carried current.
    assert cells.charge[1] > 0
    assert cells.charge[3] > 0
    assert cells.charge[0] == cells.charge[2] == 0


async def test_switched_under_load_is_a_fault(
    make_balancer: BalancerFactory, bal_observer: Observer
) -> None:
    sim = await make_balancer()
    await take_lease(bal_observer)
    await bal_observer.publish(f"{BASE}/relay/1/set", "on")
    await bal_observer.publish(f"{BASE}/dcdc/set", "on")
    await wait_until(lambda: sim.hardware.output_current == 2.0)
    await bal_observer.publish(f"{BASE}/relay/1/set", "off")  # opening under 2 A

    fault = await wait_fault(bal_observer)
    assert fault["reason"] == "switched_under_load"
    assert fault["relay"] == 1
    assert fault["count"] == 1
    await wait_until(lambda: payload(bal_observer, "relay/1/load_cycles") == b"1")
    assert payload(bal_observer, "relay/1/cycles") == b"2"
    assert sim.hardware.wear(1) == pytest.approx(1 / 100_000 + 1 / 1_000_000)

    await bal_observer.publish(f"{BASE}/fault/clear", "")
    await wait_until(lambda: payload(bal_observer, "fault") == b"")
    assert len(sim.hardware.faults) == 1  # the history stays


async def test_second_relay_is_refused(
    make_balancer: BalancerFactory, bal_observer: Observer
) -> None:
    sim = await make_balancer()
    await take_lease(bal_observer)
    await bal_observer.publish(f"{BASE}/relay/1/set", "on")
    await bal_observer.publish(f"{BASE}/relay/3/set", "on")
    fault = await wait_fault(bal_observer)
    assert fault["reason"] == "two_relays_refused"
    assert fault["relay"] == 3
    assert sim.hardware.closed_relays() == [1]
    assert sim.hardware.cycles(3) == 0
    # The refusal is answered with the (unchanged) state, after the initial one.
    await wait_until(lambda: len(bal_observer.on(f"{BASE}/relay/3")) >= 2)
    assert payload(bal_observer, "relay/3") == b"off"
    await settle_at(bal_observer, 3.30)


async def test_stuck_relay_shows_in_the_voltage(
    make_balancer: BalancerFactory, bal_observer: Observer
) -> None:
    sim = await make_balancer()
    await take_lease(bal_observer)
    await bal_observer.publish(f"{BASE}/relay/1/set", "on")
    await settle_at(bal_observer, 3.30)
    sim.hardware.stick_relay(1)  # welded contacts
    await bal_observer.publish(f"{BASE}/relay/1/set", "off")
    await wait_until(lambda: payload(bal_observer, "relay/1") == b"off")
    # Three more 0.2 s measurements: an open relay's 0.2 s capacitor would be ~0 V.
    measured = len(bal_observer.on(f"{BASE}/output_voltage"))
    await wait_until(lambda: len(bal_observer.on(f"{BASE}/output_voltage")) >= measured + 3)
    assert volts(bal_observer) == pytest.approx(3.30, abs=0.005)  # step 2 fails to verify
    assert sim.hardware.cycles(1) == 1


async def test_stuck_dcdc_keeps_pushing_current(
    make_balancer: BalancerFactory, bal_observer: Observer
) -> None:
    sim = await make_balancer()
    await take_lease(bal_observer)
    sim.hardware.dcdc_stuck_on()
    await bal_observer.publish(f"{BASE}/relay/2/set", "on")  # closing onto a live DC/DC
    await bal_observer.publish(f"{BASE}/dcdc/set", "off")
    await wait_until(lambda: payload(bal_observer, "dcdc") == b"off")
    await settle_at(bal_observer, 3.30)  # the drop stays: step 1 fails to verify
    assert amps(bal_observer) == 2.0
    assert sim.hardware.fault is not None
    assert sim.hardware.fault.reason == "switched_under_load"


async def test_current_setpoint_and_bad_commands(
    make_balancer: BalancerFactory, bal_observer: Observer
) -> None:
    sim = await make_balancer()
    await bal_observer.publish(f"{BASE}/dcdc/current/set", "1.5")
    await wait_until(lambda: sim.hardware.current_setpoint == 1.5)
    await wait_until(lambda: payload(bal_observer, "dcdc/current") == b"1.5")
    bad = [
        ("relay/0/set", "on"),
        ("relay/5/set", "on"),
        ("relay/x/set", "on"),
        ("relay/1/set", "maybe"),
        ("dcdc/set", "1"),
        ("dcdc/current/set", "abc"),
        ("dcdc/current/set", "5"),  # above the 2 A rating
        ("dcdc/current/set", "nan"),
    ]
    for topic, body in bad:
        await bal_observer.publish(f"{BASE}/{topic}", body)
    await wait_until(lambda: sim.bad_commands == len(bad))
    assert sim.hardware.closed_relays() == []
    assert not sim.hardware.dcdc_on
    assert sim.hardware.current_setpoint == 1.5


# --- pure physics ----------------------------------------------------------------------


def test_output_voltage_without_a_relay() -> None:
    hw = hardware()
    hw.set_dcdc(True)
    settle(hw, 0.5)
    assert hw.output_voltage == pytest.approx(4.2, abs=0.001)  # open circuit
    assert hw.output_current == 0
    hw.set_dcdc(False)
    settle(hw, 1.0)  # the default 0.2 s capacitor: ~0 within a second
    assert hw.output_voltage < 0.05


def test_charge_goes_to_the_selected_cell() -> None:
    cells = MemoryCells(CELLS)
    hw = leased(BalancerHardware(cells, BalancerConfig(relays=4, **LONG_LEASE)))
    hw.set_relay(3, True)
    hw.set_dcdc(True)
    hw.step(3600.0)
    assert cells.charge == [0.0, 0.0, 7200.0, 0.0]
    assert hw.delivered_ah(3) == pytest.approx(2.0)
    assert cells.cell_voltage(2) == pytest.approx(3.35 + 0.02)
    assert hw.output_voltage == pytest.approx(3.37 + 0.1)


def test_cycles_count_every_contact_operation() -> None:
    hw = hardware()
    for _ in range(3):
        hw.set_relay(2, True)
        hw.set_relay(2, False)
    hw.set_relay(2, False)  # already open: no operation
    assert hw.cycles(2) == 6
    assert hw.load_cycles(2) == 0
    assert hw.wear(2) == pytest.approx(6 / 1_000_000)
    with pytest.raises(ValueError, match="out of range"):
        hw.cycles(5)


def test_stuck_closed_relay_then_another_is_a_short() -> None:
    hw = hardware()
    hw.set_relay(1, True)
    hw.stick_relay(1)
    hw.set_relay(1, False)  # coil off, contacts stay
    assert not hw.relay_on(1)
    assert hw.relay_closed(1)
    assert hw.set_relay(2, True)  # the interlock only knows the coils
    assert hw.fault is not None
    assert hw.fault.reason == "cell_short"
    hw.repair()
    assert hw.closed_relays() == [2]


def test_stuck_open_relay_never_closes() -> None:
    hw = hardware()
    hw.stick_relay(4, closed=False)
    hw.set_relay(4, True)
    settle(hw, 0.5)
    assert hw.relay_on(4)
    assert hw.output_voltage == pytest.approx(0.0)  # step 3 fails to verify
    assert hw.cycles(4) == 0


def test_lead_acid_module_preset() -> None:
    hw = leased(BalancerHardware(MemoryCells([12.6] * 12), BalancerConfig.lead_acid_modules(12)))
    hw.set_dcdc(True)
    settle(hw, 0.5)
    assert hw.output_voltage == pytest.approx(15.0, abs=0.01)
    hw.set_dcdc(False)
    settle(hw, 1.5)
    hw.set_relay(7, True)
    hw.set_dcdc(True)
    settle(hw, 0.2)
    assert hw.output_current == 1.0
    assert hw.output_voltage == pytest.approx(12.6 + 0.1, abs=0.01)
    assert hw.faults == []


def test_balancer_charges_a_cell_of_the_pack_model() -> None:
    """The pack model is a CellSink: the balancer's charge lands in one of its cells."""
    pack = Pack(PackConfig(cells=4, capacity_ah=5.0, soc=0.97, soc_spread=0.0, seed=2))
    assert pack.cell_voltage(2) == pytest.approx(pack.cell_voltages()[2])
    before = [cell.charge_ah for cell in pack.cells]
    start_v = pack.cell_voltage(2)
    config = dataclasses.replace(BalancerConfig.lifepo4(relays=4), **LONG_LEASE)
    hw = leased(BalancerHardware(pack, config))
    hw.set_relay(3, True)
    settle(hw, 0.2)
    assert hw.output_voltage == pytest.approx(start_v, abs=0.001)  # reads the pack's cell
    hw.set_dcdc(True)
    settle(hw, 60.0, dt=0.1)  # 2 A for a minute
    gained = [cell.charge_ah - old for cell, old in zip(pack.cells, before, strict=True)]
    assert gained[2] == pytest.approx(2.0 * 60.0 / 3600.0, rel=0.01)
    assert gained[0] == gained[1] == gained[3] == 0.0
    assert pack.cell_voltage(2) > start_v + 0.01  # near the top the voltage follows
    assert hw.output_voltage == pytest.approx(pack.cell_voltage(2) + 2.0 * 0.05, abs=0.002)
    assert pack.charged_ah == 0.0  # not pack current: the pack counters are untouched


# --- protocol 2: the device switches itself off ---------------------------------------


def charging(**config: Any) -> BalancerHardware:
    """A leased (10 s) balancer charging cell 2 through relay 2."""
    config.setdefault("relays", len(CELLS))
    hw = BalancerHardware(MemoryCells(CELLS), BalancerConfig(**config))
    assert hw.grant_lease(10.0, holder="ctl/status")
    assert hw.set_relay(2, True)
    assert hw.set_dcdc(True)
    settle(hw, 0.2)
    assert hw.output_current == 2.0
    return hw


def test_without_a_lease_every_on_is_refused() -> None:
    hw = BalancerHardware(MemoryCells(CELLS), BalancerConfig(relays=4))
    assert not hw.set_relay(1, True)
    assert not hw.set_dcdc(True)
    assert (hw.refused, hw.last_refusal) == (2, "no_lease")
    assert hw.all_off
    assert hw.fault is None  # refused, not a fault
    assert hw.set_relay(1, False)  # off is always accepted
    assert not hw.grant_lease(61.0)  # beyond max_lease_s
    assert not hw.grant_lease(float("nan"))
    old = BalancerHardware(MemoryCells(CELLS), BalancerConfig(relays=4, protocol=1))
    assert not old.grant_lease()  # protocol 1 has no lease...
    assert old.set_relay(1, True)  # ...and obeys anyone
    with pytest.raises(ValueError, match="protocol"):
        BalancerConfig(protocol=3)
    with pytest.raises(ValueError, match="lease_s"):
        BalancerConfig(lease_s=0.0)


def test_an_expired_lease_switches_off_in_the_safe_order() -> None:
    hw = charging()
    settle(hw, 9.5)
    assert hw.output_current == 2.0  # within the lease: charging
    assert hw.lease_remaining == pytest.approx(0.3, abs=0.02)
    settle(hw, 0.35)
    assert hw.lease_ends["expired"] == 1
    assert not hw.lease_active
    assert not hw.dcdc_on
    assert hw.closed_relays() == []  # opened once no current flowed
    assert hw.faults == []  # dry
    assert hw.self_shutdowns == 1
    assert hw.lease_report()["last_end"] == "expired"


def test_renewals_keep_it_running() -> None:
    hw = charging()
    for _ in range(5):
        settle(hw, 5.0)
        assert hw.grant_lease(10.0, holder="ctl/status")
    assert hw.output_current == 2.0
    assert hw.lease_ends == {"expired": 0, "will": 0, "released": 0}


def test_will_and_release_end_the_lease_at_once() -> None:
    hw = charging()
    hw.end_lease("will")
    assert not hw.dcdc_on  # DC/DC first, at once
    assert hw.switching_off
    assert hw.relay_on(2)
    assert not hw.set_relay(3, True)  # no "on" while it switches itself off
    assert hw.last_refusal == "switching_off"
    hw.step(0.01)
    assert hw.closed_relays() == []
    assert hw.faults == []
    hw.end_lease("released")  # no lease: nothing happens
    assert hw.lease_ends == {"expired": 0, "will": 1, "released": 0}
    with pytest.raises(ValueError, match="unknown lease end"):
        hw.end_lease("lost")


def test_a_stuck_dcdc_is_opened_under_load_after_settle_time() -> None:
    """The documented emergency: the relay opens under load to stop the overcharge."""
    hw = charging()
    hw.dcdc_stuck_on()
    hw.end_lease("will")
    settle(hw, 0.9)
    assert hw.closed_relays() == [2]  # waiting for the current to stop
    settle(hw, 0.2)  # settle_time (1 s) passed
    assert hw.closed_relays() == []
    assert hw.load_cycles(2) == 1
    assert hw.fault is not None
    assert hw.fault.reason == "switched_under_load"


def test_without_current_measurement_it_waits_settle_time() -> None:
    hw = charging(measures_current=False)
    hw.end_lease("expired")
    settle(hw, 0.9)
    assert hw.relay_on(2)
    settle(hw, 0.2)
    assert hw.closed_relays() == []
    assert hw.faults == []


def test_the_per_charge_cap_switches_the_dcdc_off_and_latches() -> None:
    hw = charging(max_charge_s=5.0, lease_s=60.0, max_lease_s=60.0)
    settle(hw, 4.5)
    assert hw.output_current == 2.0
    settle(hw, 0.6)
    assert not hw.dcdc_on
    assert hw.output_current == 0.0
    assert hw.fault is not None
    assert hw.fault.reason == "charge_time_cap"
    assert hw.relay_on(2)  # the relay is the controller's to open, dry
    assert not hw.set_dcdc(True)  # latched: no "on" until cleared
    assert hw.last_refusal == "fault_latched"
    hw.clear_fault()
    assert hw.set_dcdc(True)
    assert hw.dcdc_starts == 2


async def test_lease_will_and_refusals_over_mqtt(
    mqtt_broker: MosquittoBroker, make_balancer: BalancerFactory, bal_observer: Observer
) -> None:
    sim = await make_balancer()
    hw = sim.hardware
    await bal_observer.publish(f"{BASE}/relay/1/set", "on")  # no lease: refused
    await wait_until(lambda: hw.refused == 1)
    await wait_until(lambda: b'"refused":1' in (payload(bal_observer, "lease") or b""))
    assert not hw.relay_on(1)
    await bal_observer.publish(f"{BASE}/dcdc/set", "on")
    await wait_until(lambda: hw.refused == 2)
    await wait_until(lambda: len(bal_observer.on(f"{BASE}/dcdc")) >= 2)  # re-sent "off"
    assert payload(bal_observer, "dcdc") == b"off"
    # A controller with a Last Will on ctl/status takes the lease.
    await bal_observer.publish("ctl/status", "online", retain=True)
    await bal_observer.publish(f"{BASE}/lease/set", '{"lease_s": 30, "will": "ctl/status"}')
    await wait_until(lambda: hw.lease_active and hw.lease_holder == "ctl/status")
    await wait_until(lambda: bal_observer.last(f"{BASE}/lease").json()["active"] is True)
    assert bal_observer.last(f"{BASE}/lease").retain
    await bal_observer.publish(f"{BASE}/relay/2/set", "on")
    await settle_at(bal_observer, 3.20)
    await bal_observer.publish(f"{BASE}/dcdc/set", "on")
    await wait_until(lambda: hw.output_current == 2.0)
    await bal_observer.publish("ctl/status", "offline", retain=True)  # as the broker would
    await wait_until(lambda: hw.lease_ends["will"] == 1)
    await wait_until(lambda: hw.closed_relays() == [])
    assert hw.faults == []
    await wait_until(lambda: bal_observer.last(f"{BASE}/lease").json()["last_end"] == "will")
    # Release, and requests that do not fit the contract.
    await bal_observer.publish(f"{BASE}/lease/set", '{"lease_s": 5}')
    await wait_until(lambda: hw.lease_active)
    await bal_observer.publish(f"{BASE}/lease/set", "release")
    await wait_until(lambda: hw.lease_ends["released"] == 1)
    bad = ["{", "[1]", '{"lease_s": "10"}', '{"lease_s": 999}', '{"will": "a/#"}', '{"will": 3}']
    for body in bad:
        await bal_observer.publish(f"{BASE}/lease/set", body)
    await wait_until(lambda: sim.bad_commands == len(bad))
    assert not hw.lease_active
    await bal_observer.publish("ctl/status", "", retain=True)  # leave the broker clean


async def test_a_device_without_current_measurement_does_not_publish_one(
    make_balancer: BalancerFactory, bal_observer: Observer
) -> None:
    await make_balancer(config=dataclasses.replace(FAST, measures_current=False))
    await wait_until(lambda: payload(bal_observer, "info") is not None)
    # Measurements go out together: once the voltage is there, a current would be too.
    await wait_until(lambda: bool(bal_observer.on(f"{BASE}/output_voltage")))
    await bal_observer.quiet()
    info = bal_observer.last(f"{BASE}/info").json()
    assert info["dcdc"]["measures_current"] is False
    assert bal_observer.on(f"{BASE}/output_current") == []
