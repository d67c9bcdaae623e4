"""Every kind of bad input is logged (rate-limited), loses nothing, and the loop lives on."""

from __future__ import annotations

import logging

import pytest
from homeassistant.const import STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from simulator import VenusSimulator
from tests.helpers import PORTAL_ID, wait_until

CELL3 = f"N/{PORTAL_ID}/battery/512/Voltages/Cell3"
VOLTAGE = f"N/{PORTAL_ID}/battery/512/Dc/0/Voltage"


async def still_alive(hass: HomeAssistant, simulator: VenusSimulator) -> None:
    """A good message after the bad one still gets through."""
    simulator.set_value("battery", 512, "/Soc", 42.5)
    await wait_until(lambda: hass.states.get("sensor.battery_state_of_charge").state == "42.5")


@pytest.mark.parametrize(
    ("topic", "payload", "entity", "expected", "log"),
    [
        (CELL3, b"not json", "sensor.battery_cell_3_voltage", "keep", "not JSON"),
        (CELL3, b'{"val": 3.3}', "sensor.battery_cell_3_voltage", "keep", "no 'value'"),
        (CELL3, b'"3.3"', "sensor.battery_cell_3_voltage", "keep", "not a JSON object"),
        (
            CELL3,
            b'{"value": "3.3"}',
            "sensor.battery_cell_3_voltage",
            STATE_UNKNOWN,
            "expected a number",
        ),
        (
            CELL3,
            b'{"value": true}',
            "sensor.battery_cell_3_voltage",
            STATE_UNKNOWN,
            "expected a number",
        ),
        (CELL3, b'{"value": NaN}', "sensor.battery_cell_3_voltage", "keep", "non-finite"),
        (CELL3, b'{"value": 1e999}', "sensor.battery_cell_3_voltage", STATE_UNKNOWN, "non-finite"),
        (CELL3, b'{"value": 7.1}', "sensor.battery_cell_3_voltage", STATE_UNKNOWN, "outside"),
        (CELL3, b'{"value": -0.2}', "sensor.battery_cell_3_voltage", STATE_UNKNOWN, "outside"),
        (VOLTAGE, b'{"value": 512.0}', "sensor.battery_voltage", STATE_UNKNOWN, "outside"),
        (
            f"N/{PORTAL_ID}/battery/512/Voltages/Cell40",
            b'{"value": 3.3}',
            "sensor.battery_cell_3_voltage",
            "keep",
            "outside 1..32",
        ),
        (
            f"N/{PORTAL_ID}/battery/abc/Soc",
            b'{"value": 3}',
            "sensor.battery_state_of_charge",
            "keep",
            "not a number",
        ),
    ],
)
async def test_bad_payloads(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
    caplog: pytest.LogCaptureFixture,
    topic: str,
    payload: bytes,
    entity: str,
    expected: str,
    log: str,
) -> None:
    before = hass.states.get(entity).state
    rejected = init_integration.runtime_data.link.state.rejected
    with caplog.at_level(logging.WARNING):
        await simulator.publish_raw(topic, payload)
        await wait_until(lambda: init_integration.runtime_data.link.state.rejected > rejected)
        await hass.async_block_till_done()
    assert log in caplog.text
    assert hass.states.get(entity).state == (before if expected == "keep" else expected)
    await still_alive(hass, simulator)


async def test_bad_input_log_is_rate_limited(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = init_integration.runtime_data.link.state
    with caplog.at_level(logging.WARNING):
        for _ in range(20):
            await simulator.publish_raw(CELL3, b"garbage")
        await wait_until(lambda: state.rejected >= 20)
    assert caplog.text.count("payload is not JSON") == 1
    await still_alive(hass, simulator)


async def test_unknown_portal_is_ignored(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    """Another GX on the same broker does not leak into this entry."""
    await simulator.publish_raw("N/ffffffffffff/battery/512/Soc", b'{"value": 1}')
    await still_alive(hass, simulator)
    assert hass.states.get("sensor.battery_state_of_charge").state == "42.5"


async def test_other_battery_instance_does_not_change_the_followed_one(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    await simulator.publish_raw(f"N/{PORTAL_ID}/battery/999/Soc", b'{"value": 3}')
    await still_alive(hass, simulator)
    assert init_integration.runtime_data.link.state.instances("battery") == [512, 999]


async def test_invalid_value_becomes_unknown_then_recovers(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    """`{"value": null}` is Venus saying "invalid": unknown, not the last value."""
    temperature = f"N/{PORTAL_ID}/battery/512/Dc/0/Temperature"
    await simulator.publish_raw(temperature, b'{"value": null}')
    await wait_until(lambda: hass.states.get("sensor.battery_temperature").state == STATE_UNKNOWN)
    simulator.set_value("battery", 512, "/Dc/0/Temperature", 18.5)
    await wait_until(lambda: hass.states.get("sensor.battery_temperature").state == "18.5")


async def test_glitching_cell_reading(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    """A one-off absurd reading is unknown, never shown as a real voltage."""
    seen: list[str] = []
    hass.bus.async_listen(
        "state_changed",
        lambda event: (
            seen.append(event.data["new_state"].state)
            if event.data["entity_id"] == "sensor.battery_cell_3_voltage"
            else None
        ),
    )
    await simulator.publish_raw(CELL3, b'{"value": 65.535}')
    simulator.set_value("battery", 512, "/Voltages/Cell3", 3.333)
    await wait_until(lambda: hass.states.get("sensor.battery_cell_3_voltage").state == "3.333")
    assert "65.535" not in seen
    assert STATE_UNKNOWN in seen
