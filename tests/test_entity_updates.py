"""Entity writes on the simulated GX: rate-limited, from complete data, cheap under load.

Issue 13: a message marks only the entities that show its path and they are written
on a flush tick, at most once per interval of the *Update interval* option. Issue 11:
derived values (spread, lowest/highest cell, cell count, the advice) never show a
battery that is only partly there, as during a driver restart.
"""

from __future__ import annotations

import asyncio
import json

import aiomqtt
import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import EVENT_STATE_CHANGED, STATE_UNAVAILABLE
from homeassistant.core import Event, HomeAssistant, callback
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.victron_balance.const import CONF_BATTERY_INSTANCE, CONF_UPDATE_INTERVAL
from custom_components.victron_balance.logic.update_interval import Pace, UpdateInterval
from custom_components.victron_balance.logic.venus_topics import ServiceKey
from simulator import BatteryConfig, VenusSimulator
from tests.broker import MosquittoBroker
from tests.helpers import PORTAL_ID, advance, wait_until

BATTERY = ServiceKey("battery", 512)
CELL_3 = "sensor.battery_cell_3_voltage"
DERIVED = (
    "sensor.battery_cell_voltage_spread",
    "sensor.battery_lowest_cell",
    "sensor.battery_highest_cell",
    "sensor.battery_lowest_cell_voltage",
    "sensor.battery_highest_cell_voltage",
    "sensor.battery_cell_count",
    "sensor.battery_cell_to_charge_by_hand",
    "sensor.battery_cell_to_drain_by_hand",
)


def shown(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


def record(hass: HomeAssistant, entity_ids: tuple[str, ...]) -> dict[str, list[str]]:
    """Every state written for these entities from now on (what the recorder stores)."""
    history: dict[str, list[str]] = {entity_id: [] for entity_id in entity_ids}

    @callback
    def on_change(event: Event) -> None:
        entity_id = event.data["entity_id"]
        new = event.data["new_state"]
        if entity_id in history and new is not None:
            history[entity_id].append(new.state)

    hass.bus.async_listen(EVENT_STATE_CHANGED, on_change)
    return history


@pytest.mark.default_update_interval
async def test_a_cell_reaches_its_entity_within_one_interval(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    """Normal (the default): a cell is written at most every 5 s, and within 5 s."""
    coordinator = init_integration.runtime_data.venus
    assert coordinator.update_interval_option is UpdateInterval.NORMAL
    assert coordinator.writer.intervals[Pace.CELL] == 5.0
    state = init_integration.runtime_data.link.state
    loop = hass.loop
    written: list[tuple[float, str]] = []

    @callback
    def on_change(event: Event) -> None:
        if event.data["entity_id"] == CELL_3:
            written.append((loop.time(), event.data["new_state"].state))

    hass.bus.async_listen(EVENT_STATE_CHANGED, on_change)

    async def arrives(volts: float) -> float:
        """The message reached the integration: the loop time of its arrival."""
        simulator.set_value("battery", 512, "/Voltages/Cell3", volts)
        await wait_until(lambda: state.value(BATTERY, "/Voltages/Cell3") == volts)
        return loop.time()

    async def shows(volts: float) -> float:
        """Step simulated time until the entity shows it; how long that took."""
        started = loop.time()
        while shown(hass, CELL_3) != str(volts):
            assert loop.time() - started < 10.0, "not shown within 10 s"
            await advance(hass, freezer, 0.05)
        return loop.time() - started

    await advance(hass, freezer, 6.0)  # well after the first write (when added)
    await arrives(3.311)
    assert await shows(3.311) <= 0.5  # after a quiet spell: at the next flush
    # The next readings come at once: the entity waits out its interval, then shows
    # the newest one, never one in between.
    await arrives(3.312)
    await arrives(3.313)
    waited = await shows(3.313)
    assert 4.5 <= waited <= 5.0 + 0.5
    assert written[-1][0] - written[-2][0] >= 5.0
    assert [volts for _at, volts in written[-2:]] == ["3.311", "3.313"]  # never 3.312


async def test_derived_values_never_show_a_battery_that_is_only_partly_there(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    """A driver restart: ~100 topics vanish one by one, then come back one by one in
    hash order. Spread, lowest/highest cell, cell count and the advice hold or go
    unavailable: no value of a half battery reaches the history (tests write every
    change, the strictest setting)."""
    voltages = [3.300 + 0.002 * n for n in range(16)]
    voltages[6] = 3.285  # cell 7 lowest
    voltages[12] = 3.361  # cell 13 highest
    simulator.set_cell_voltages(voltages)
    await wait_until(lambda: shown(hass, "sensor.battery_cell_voltage_spread") == "76.0")
    assert shown(hass, "sensor.battery_lowest_cell") == "7"
    assert shown(hass, "sensor.battery_cell_count") == "16"
    before = {entity_id: shown(hass, entity_id) for entity_id in DERIVED}
    history = record(hass, DERIVED)

    simulator.remove_service("battery", 512)
    await wait_until(lambda: all(shown(hass, e) == STATE_UNAVAILABLE for e in DERIVED))
    simulator.add_battery(BatteryConfig(instance=512, cells=16, flavour="serialbattery"))
    await wait_until(lambda: all(shown(hass, e) != STATE_UNAVAILABLE for e in DERIVED), timeout=20)
    final = {entity_id: shown(hass, entity_id) for entity_id in DERIVED}
    assert final["sensor.battery_cell_count"] == "16"
    for entity_id in DERIVED:
        states = history[entity_id]
        gone = states.index(STATE_UNAVAILABLE)
        # While the topics vanished: the old value held (the advice's details may
        # still have moved with the cells before), then unavailable; coming back: the
        # value of the whole battery first, never one of the cells seen so far.
        assert set(states[:gone]) <= {before[entity_id]}, entity_id
        assert states[gone:] == [STATE_UNAVAILABLE, final[entity_id]], entity_id


async def test_a_battery_without_cell_voltages_shows_its_bms_summary(
    hass: HomeAssistant, init_integration: MockConfigEntry, mqtt_broker: MosquittoBroker
) -> None:
    """A BMS that publishes only its lowest/highest cell: complete as it is."""
    hass.config_entries.async_update_entry(
        init_integration, options={**init_integration.options, CONF_BATTERY_INSTANCE: "279"}
    )
    async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as sender:
        for path, value in (
            ("/Soc", 50),
            ("/System/MinCellVoltage", 3.281),
            ("/System/MinVoltageCellId", "C9"),
            ("/System/MaxCellVoltage", 3.402),
            ("/System/MaxVoltageCellId", "C2"),
        ):
            topic = f"N/{PORTAL_ID}/battery/279{path}"
            await sender.publish(topic, json.dumps({"value": value}))
    await wait_until(lambda: shown(hass, "sensor.battery_lowest_cell") == "9")
    assert shown(hass, "sensor.battery_lowest_cell_voltage") == "3.281"
    assert shown(hass, "sensor.battery_highest_cell") == "2"
    assert shown(hass, "sensor.battery_cell_voltage_spread") == "121.0"


@pytest.mark.default_update_interval
async def test_a_blast_keeps_the_link_alive_and_costs_few_writes(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
    mqtt_broker: MosquittoBroker,
) -> None:
    """20,000 messages as fast as the broker takes them, with entities live: none lost,
    no reconnect, the link never stale, and each cell written at most every 5 s."""
    runtime = init_integration.runtime_data
    link, session, state = runtime.link, runtime.session, runtime.link.state
    went_stale: list[bool] = []
    runtime.link.add_liveness_listener(lambda alive: went_stale.append(not alive))
    history = record(hass, tuple(f"sensor.battery_cell_{n}_voltage" for n in range(1, 17)))
    before, reconnects = state.messages, session.reconnects
    loop = hass.loop
    started = loop.time()
    async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as sender:
        for number in range(20_000):
            cell = number % 16 + 1
            volts = 3.300 + (number % 50) / 1000
            topic = f"N/{PORTAL_ID}/battery/512/Voltages/Cell{cell}"
            await sender.publish(topic, json.dumps({"value": round(volts, 3)}))
            if number % 2000 == 0:
                await sender.publish(f"N/{PORTAL_ID}/heartbeat", json.dumps({"value": number}))
    await wait_until(lambda: state.messages - before >= 20_000 + 10, timeout=60)
    seconds = loop.time() - started
    assert not any(went_stale)
    assert link.alive
    assert session.reconnects == reconnects
    await asyncio.sleep(0)
    most = max(len(states) for states in history.values())
    assert most <= seconds / 5.0 + 2


async def test_the_update_interval_option_applies_at_once(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    coordinator = init_integration.runtime_data.venus
    assert coordinator.writer.intervals[Pace.FAST] == 0.0  # Live (the tests' default)
    hass.config_entries.async_update_entry(
        init_integration,
        options={**init_integration.options, CONF_UPDATE_INTERVAL: UpdateInterval.FAST.value},
    )
    await hass.async_block_till_done()
    assert coordinator.writer.intervals == {
        Pace.CELL: 1.0,
        Pace.FAST: 1.0,
        Pace.SLOW: 1.0,
        Pace.EVENT: 0.0,
    }
