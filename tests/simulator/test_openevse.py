"""The openEVSE simulator: announce/LWT, status topics, claims, pilot, EV math, bad input."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from simulator import ClaimProps, EvModel, OpenEvseModel, OpenEvseSimulator
from tests.broker import MosquittoBroker
from tests.simulator.helpers import Observer, wait_until

BASE = "openevse-1a2b"
ANNOUNCE = "openevse/announce/1a2b"

type EvseFactory = Callable[..., Awaitable[OpenEvseSimulator]]


@pytest.fixture
async def evse_observer(mqtt_broker: MosquittoBroker) -> AsyncIterator[Observer]:
    """An observer on the announce tree and the station's base topic."""
    obs = Observer(mqtt_broker.host, mqtt_broker.port, topics=("openevse/#", f"{BASE}/#"))
    await obs.start()
    yield obs
    await obs.stop()


@pytest.fixture
async def make_evse(mqtt_broker: MosquittoBroker) -> AsyncIterator[EvseFactory]:
    """Start stations (clock driven by the test through step()); stopped at teardown."""
    sims: list[OpenEvseSimulator] = []

    async def factory(**kwargs: Any) -> OpenEvseSimulator:
        kwargs.setdefault("tick_interval", None)
        kwargs.setdefault("status_interval", 30.0)
        sim = OpenEvseSimulator(mqtt_broker.host, mqtt_broker.port, **kwargs)
        sims.append(sim)
        await sim.start()
        return sim

    yield factory
    for sim in sims:
        await sim.stop()


async def command(obs: Observer, sim: OpenEvseSimulator, topic: str, payload: str) -> None:
    """Publish a command and wait until the station has processed it.

    A broker keeps one client's messages in order, so once a deliberately bad
    marker sent after the command shows up in ``bad_command_log``, the command
    before it has been handled.
    """
    marker = f"sync-{len(sim.bad_command_log)}".encode()
    await obs.publish(f"{BASE}/{topic}", payload)
    await obs.publish(f"{BASE}/divertmode/set", marker)
    await wait_until(lambda: (f"{BASE}/divertmode/set", marker) in sim.bad_command_log)


async def test_announce_retained_and_will_on_dirty_disconnect(
    mqtt_broker: MosquittoBroker, make_evse: EvseFactory
) -> None:
    sim = await make_evse()
    late = Observer(mqtt_broker.host, mqtt_broker.port, topics=("openevse/#",))
    await late.start()
    try:
        hello = await late.wait_topic(ANNOUNCE)
        assert hello.retain
        assert hello.json() == {
            "state": "connected",
            "id": sim.device_id,
            "name": BASE,
            "mqtt": BASE,
            "http": f"http://{BASE}.local/",
        }
        sim.go_offline()
        gone = await late.wait_topic(ANNOUNCE, count=2)
        assert gone.json() == {"state": "disconnected", "id": sim.device_id, "name": BASE}
        await wait_until(lambda: not sim.connected)
        # The Will stays retained: a client arriving now sees the station offline.
        later = Observer(mqtt_broker.host, mqtt_broker.port, topics=("openevse/#",))
        await later.start()
        try:
            assert (await later.wait_topic(ANNOUNCE)).json()["state"] == "disconnected"
        finally:
            await later.stop()

        await sim.come_online()
        back = await late.wait_topic(ANNOUNCE, count=3)
        assert back.json()["state"] == "connected"
        assert sim.connect_count == 2
    finally:
        await late.stop()


async def test_stop_announces_disconnected(make_evse: EvseFactory, evse_observer: Observer) -> None:
    sim = await make_evse()
    await evse_observer.wait_topic(ANNOUNCE)
    await sim.stop()
    last = await evse_observer.wait_topic(ANNOUNCE, count=2)
    assert last.json()["state"] == "disconnected"
    assert last.retain


async def test_status_topics_and_units(make_evse: EvseFactory, evse_observer: Observer) -> None:
    sim = await make_evse(ev=EvModel(soc=50, target_soc=80), status_interval=0.2)
    # The status topics come one by one: wait for each one read here.
    await evse_observer.wait_topic(f"{BASE}/state")
    await evse_observer.wait_topic(f"{BASE}/vehicle")
    assert evse_observer.last(f"{BASE}/state").payload == b"1"  # nothing plugged in
    assert evse_observer.last(f"{BASE}/vehicle").payload == b"0"

    sim.ev.plug()
    sim.step(3600.0)  # one hour at 32 A
    await sim.flush()
    # total_energy is sent after the others that change here.
    await wait_until(lambda: evse_observer.last(f"{BASE}/total_energy").payload == b"7.36")
    values = {key: evse_observer.last(f"{BASE}/{key}").payload.decode() for key in KEYS}
    assert values == {
        "amp": "32000",  # mA
        "voltage": "230",
        "pilot": "32",
        "max_current": "32",
        "power": "7360",  # 32 A x 230 V x 1 phase
        "temp": values["temp"],
        "state": "3",
        "status": "active",
        "vehicle": "1",
        "session_energy": "7360",  # Wh
        "total_energy": "7.36",  # kWh
        "divertmode": "1",
        "manual_override": "0",
    }
    # 0.1 °C units: 25 °C ambient, warmer while charging.
    assert 250 < int(values["temp"]) < 340
    assert not evse_observer.last(f"{BASE}/amp").retain
    assert evse_observer.last(f"{BASE}/claim").retain
    assert evse_observer.last(f"{BASE}/claim").json() == {"state": "null"}

    # Periodic: the full set again although nothing changed.
    count = len(evse_observer.on(f"{BASE}/vehicle"))
    await evse_observer.wait_topic(f"{BASE}/vehicle", count=count + 2)


KEYS = (
    "amp",
    "voltage",
    "pilot",
    "max_current",
    "power",
    "temp",
    "state",
    "status",
    "vehicle",
    "session_energy",
    "total_energy",
    "divertmode",
    "manual_override",
)


async def test_claim_precedence(make_evse: EvseFactory, evse_observer: Observer) -> None:
    sim = await make_evse(ev=EvModel(plugged=True))
    sim.model.set_divert_available(10.4)
    await command(evse_observer, sim, "divertmode/set", "2")
    assert sim.model.divert_mode == 2
    assert (sim.state, sim.pilot) == (3, 10.0)  # divert (50) charges from surplus
    assert [c.client for c in sim.active_claims] == ["divert"]

    await command(evse_observer, sim, "claim/set", '{"state":"active","charge_current":16}')
    assert (sim.state, sim.pilot) == (3, 16.0)  # MQTT (500) over divert (50)
    claim = await evse_observer.wait_topic(f"{BASE}/claim", count=2)
    assert claim.json() == {"state": "active", "charge_current": 16}

    await command(evse_observer, sim, "override/set", '{"state":"disabled"}')
    assert sim.state == 254  # manual (1000) over MQTT: sleeping
    assert sim.amps == 0
    override = await evse_observer.wait_topic(f"{BASE}/override", count=2)
    assert override.json() == {"state": "disabled"}
    await wait_until(lambda: evse_observer.last(f"{BASE}/status").payload == b"disabled")
    assert evse_observer.last(f"{BASE}/manual_override").payload == b"1"

    await command(evse_observer, sim, "override/set", "clear")
    assert (sim.state, sim.pilot) == (3, 16.0)  # back to the MQTT claim
    await command(evse_observer, sim, "claim/set", "release")
    assert (sim.state, sim.pilot) == (3, 10.0)  # back to divert
    await wait_until(lambda: evse_observer.last(f"{BASE}/claim").json() == {"state": "null"})

    sim.model.set_divert_available(3.0)  # below 6 A: divert sleeps the station
    assert sim.state == 254
    await command(evse_observer, sim, "divertmode/set", "1")
    assert (sim.state, sim.pilot) == (3, 32.0)  # default claim: full current


async def test_claim_merges_and_override_toggle(
    make_evse: EvseFactory, evse_observer: Observer
) -> None:
    sim = await make_evse(ev=EvModel(plugged=True))
    await command(evse_observer, sim, "claim/set", '{"state":"disabled"}')
    await command(evse_observer, sim, "claim/set", '{"charge_current":12}')
    # Like the firmware, the second claim keeps the first one's state.
    assert sim.active_claims[0].props == ClaimProps(state="disabled", charge_current=12.0)
    assert sim.state == 254

    await command(evse_observer, sim, "override/set", "toggle")
    assert sim.state == 3  # the override flips the sleeping station on
    assert sim.pilot == 12.0  # current still from the MQTT claim
    await command(evse_observer, sim, "override/set", "toggle")
    assert sim.state == 254
    assert not sim.model.manual_override


async def test_pilot_clamped(make_evse: EvseFactory, evse_observer: Observer) -> None:
    sim = await make_evse(ev=EvModel(plugged=True, max_current=16))
    await command(evse_observer, sim, "claim/set", '{"charge_current":3}')
    assert sim.pilot == 6.0
    await command(evse_observer, sim, "claim/set", '{"charge_current":40}')
    assert sim.pilot == 32.0
    assert sim.amps == 16.0  # the car's onboard charger limits
    await command(evse_observer, sim, "claim/set", '{"max_current":20}')
    assert sim.pilot == 20.0
    await wait_until(lambda: evse_observer.last(f"{BASE}/max_current").payload == b"20")


async def test_bad_commands_ignored_and_counted(
    make_evse: EvseFactory, evse_observer: Observer
) -> None:
    sim = await make_evse(ev=EvModel(plugged=True))
    bad = [
        ("claim/set", "{not json"),
        ("claim/set", '{"state":"on"}'),
        ("claim/set", '{"charge_current":"16"}'),
        ("claim/set", '{"charge_current":-1}'),
        ("claim/set", '{"auto_release":"yes"}'),
        ("claim/set", "[1,2]"),
        ("claim/set", "{}"),
        ("override/set", "maybe"),
        ("divertmode/set", "3"),
        ("divertmode/set", "eco"),
    ]
    for topic, payload in bad:
        await evse_observer.publish(f"{BASE}/{topic}", payload)
    await wait_until(lambda: sim.bad_commands == len(bad))
    assert sim.active_claims == ()
    assert (sim.state, sim.pilot, sim.model.divert_mode) == (3, 32.0, 1)


async def test_auto_release_on_unplug(make_evse: EvseFactory, evse_observer: Observer) -> None:
    sim = await make_evse(ev=EvModel(plugged=True))
    await command(evse_observer, sim, "claim/set", '{"charge_current":10}')
    await command(evse_observer, sim, "override/set", '{"charge_current":8,"auto_release":false}')
    sim.ev.unplug()
    assert [c.client for c in sim.active_claims] == ["manual"]
    assert sim.state == 1


async def test_offline_station_keeps_charging_and_republishes(
    make_evse: EvseFactory, evse_observer: Observer
) -> None:
    sim = await make_evse(ev=EvModel(plugged=True))
    await evse_observer.wait_topic(f"{BASE}/state")
    sim.go_offline()
    await wait_until(lambda: not sim.connected)
    sim.step(60.0)
    evse_observer.clear()
    await sim.come_online()
    await sim.flush()
    energy = await evse_observer.wait_topic(f"{BASE}/session_energy")
    assert float(energy.payload) == pytest.approx(32 * 230 / 60, abs=0.1)
    assert (await evse_observer.wait_topic(f"{BASE}/state")).payload == b"3"


async def test_real_clock_drives_the_station(
    make_evse: EvseFactory, evse_observer: Observer
) -> None:
    """With a tick and a speed factor the station charges on its own."""
    sim = await make_evse(ev=EvModel(plugged=True), tick_interval=0.02, speed=3600.0)
    await wait_until(lambda: sim.model.session_energy > 1000)
    await wait_until(lambda: float(evse_observer.last(f"{BASE}/session_energy").payload) > 1000)


# --- pure models (no MQTT) -------------------------------------------------------------


def test_ev_charging_math() -> None:
    ev = EvModel(battery_kwh=60, soc=50, target_soc=80, phases=3, plugged=True)
    station = OpenEvseModel(ev)
    station.claim("mqtt", 500, ClaimProps(charge_current=16))
    assert station.power == pytest.approx(16 * 230 * 3)
    station.step(1800.0)  # half an hour at 11.04 kW
    assert station.session_energy == pytest.approx(5520.0)
    assert station.total_energy == pytest.approx(5520.0)
    assert ev.soc == pytest.approx(50 + 5.52 / 60 * 100)
    assert station.state == 3

    station.step(24 * 3600.0)  # far beyond full: stops exactly at the target
    assert ev.soc == pytest.approx(80.0)
    assert station.session_energy == pytest.approx(0.3 * 60_000)
    assert station.state == 2  # plugged, not charging
    assert station.amps == 0

    ev.unplug()
    ev.plug()
    assert station.session_energy == 0  # new session
    assert station.total_energy == pytest.approx(18_000)


def test_charge_starts_count_contactor_closures() -> None:
    ev = EvModel(plugged=True, soc=10, target_soc=90)
    station = OpenEvseModel(ev)
    assert station.charge_starts == 1
    for _ in range(5):
        station.claim("mqtt", 500, ClaimProps(state="disabled"))
        station.claim("mqtt", 500, ClaimProps(state="active"))
    station.claim("mqtt", 500, ClaimProps(charge_current=10))  # current change: no start
    assert station.charge_starts == 6


def test_ev_refuses_pilot_below_its_minimum() -> None:
    ev = EvModel(min_current=8, max_current=16, plugged=True)
    assert ev.accepted_current(6) == 0
    assert ev.accepted_current(10) == 10
    assert ev.accepted_current(32) == 16
    with pytest.raises(ValueError, match="phases"):
        EvModel(phases=2)


def test_error_state_stops_charging() -> None:
    station = OpenEvseModel(EvModel(plugged=True))
    station.set_error(5)
    assert (station.state, station.amps) == (5, 0)
    station.set_error(None)
    assert station.state == 3
    with pytest.raises(ValueError, match="error states"):
        station.set_error(12)


def test_announce_payloads_are_json() -> None:
    sim = OpenEvseSimulator("127.0.0.1", 1, evse_id="openevse-beef")
    assert sim.announce_topic == "openevse/announce/beef"
    assert sim.state == 1
    assert sim.status_values()["state"] == "1"
    assert json.loads(sim._announce(connected=False)) == {
        "state": "disconnected",
        "id": sim.device_id,
        "name": "openevse-beef",
    }
