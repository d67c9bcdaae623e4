"""Every blueprint: valid for HA's blueprint schema, and fired once in a real HA."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.blueprint.models import Blueprint, BlueprintInputs
from homeassistant.components.blueprint.schemas import BLUEPRINT_SCHEMA
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from homeassistant.util.yaml import load_yaml_dict
from pytest_homeassistant_custom_component.common import (
    async_fire_time_changed,
    async_mock_service,
)

BLUEPRINTS = Path(__file__).parent.parent / "blueprints" / "automation" / "victron_balance"


def fired(data: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return [{"action": "test.fired", "data": data or {}}]


async def use_blueprint(hass: HomeAssistant, name: str, inputs: dict[str, Any]) -> None:
    """Validate the blueprint and its inputs, then run it as an automation."""
    path = BLUEPRINTS / name
    blueprint = Blueprint(
        load_yaml_dict(str(path)), expected_domain="automation", schema=BLUEPRINT_SCHEMA
    )
    assert blueprint.metadata["source_url"].endswith(f"victron_balance/{name}")
    use = BlueprintInputs(blueprint, {"use_blueprint": {"path": name, "input": inputs}})
    use.validate()
    alias = name.removesuffix(".yaml")
    automation = {"id": alias, "alias": alias, **use.async_substitute()}
    assert await async_setup_component(hass, "automation", {"automation": [automation]})
    await hass.async_block_till_done()
    state = hass.states.get(f"automation.{alias}")
    assert state is not None
    assert state.state == "on", "the automation is valid and enabled"


async def set_state(hass: HomeAssistant, entity_id: str, state: str, **attributes: Any) -> None:
    hass.states.async_set(entity_id, state, attributes)
    await hass.async_block_till_done()


async def later(hass: HomeAssistant, freezer: FrozenDateTimeFactory, minutes: float) -> None:
    """Let time pass for the automations' `for:` timers."""
    freezer.tick(timedelta(minutes=minutes))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


@pytest.fixture
def calls(hass: HomeAssistant) -> list[ServiceCall]:
    return async_mock_service(hass, "test", "fired")


def test_every_blueprint_is_tested() -> None:
    tested = {
        "battery_alarm_alert.yaml",
        "cell_spread_alert.yaml",
        "top_balance_finished.yaml",
        "scheduled_top_balance.yaml",
        "ev_charging_by_schedule.yaml",
        "car_plugged_not_charging.yaml",
        "balancer_alert.yaml",
        "gx_offline.yaml",
        "cell_voltage_alert.yaml",
    }
    assert {path.name for path in BLUEPRINTS.glob("*.yaml")} == tested


async def test_alarm_fires_on_a_new_alarm_not_after_a_reconnect(
    hass: HomeAssistant, calls: list[ServiceCall]
) -> None:
    alarm = "binary_sensor.battery_high_voltage_alarm"
    await set_state(hass, alarm, "unavailable")
    await use_blueprint(hass, "battery_alarm_alert.yaml", {"alarms": [alarm], "actions": fired()})
    await set_state(hass, alarm, "on")  # back after a reconnect, alarm still on: no news
    assert calls == []
    await set_state(hass, alarm, "off")
    await set_state(hass, alarm, "on")
    assert len(calls) == 1


async def test_cell_spread(hass: HomeAssistant, calls: list[ServiceCall]) -> None:
    spread = "sensor.battery_cell_voltage_spread"
    await set_state(hass, spread, "10")
    await use_blueprint(
        hass,
        "cell_spread_alert.yaml",
        {"spread_sensor": spread, "threshold": 40, "duration": {"seconds": 0}, "actions": fired()},
    )
    await set_state(hass, spread, "60")
    assert len(calls) == 1


async def test_top_balance_finished_or_aborted(
    hass: HomeAssistant, calls: list[ServiceCall]
) -> None:
    sensor = "sensor.battery_top_balance"
    await set_state(hass, sensor, "unavailable")
    await use_blueprint(
        hass,
        "top_balance_finished.yaml",
        {"state_sensor": sensor, "actions": fired({"outcome": "{{ outcome }}"})},
    )
    await set_state(hass, sensor, "done")  # restored after a restart: no new outcome
    await set_state(hass, sensor, "bulk")
    await set_state(hass, sensor, "regulate")
    await set_state(hass, sensor, "done")
    assert [call.data["outcome"] for call in calls] == ["done"]
    await set_state(hass, sensor, "bulk")
    await set_state(hass, sensor, "aborted")
    assert [call.data["outcome"] for call in calls] == ["done", "aborted"]


async def test_scheduled_top_balance_waits_for_soc_or_forecast_and_n_days(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    presses = async_mock_service(hass, "button", "press")
    freezer.move_to(dt_util.now().replace(hour=9, minute=0, second=0, microsecond=0))
    await set_state(hass, "sensor.battery_state_of_charge", "40")
    await set_state(hass, "sensor.solar_remaining_today", "4.0")
    await use_blueprint(
        hass,
        "scheduled_top_balance.yaml",
        {
            "start_button": "button.battery_start_top_balance",
            "at": "10:00:00",
            "every_days": 7,
            "soc_sensor": "sensor.battery_state_of_charge",
            "min_soc": 80,
            "forecast_sensor": "sensor.solar_remaining_today",
            "min_forecast_kwh": 10,
        },
    )

    async def day(days: int) -> None:
        freezer.move_to((dt_util.now() + timedelta(days=days)).replace(hour=10, minute=0, second=1))
        async_fire_time_changed(hass)
        await hass.async_block_till_done()

    await day(0)  # too little SoC and forecast
    assert presses == []
    await set_state(hass, "sensor.solar_remaining_today", "12.5")
    await day(1)
    assert len(presses) == 1
    assert presses[0].data["entity_id"] == ["button.battery_start_top_balance"]
    await day(3)  # only three days later: not yet
    assert len(presses) == 1
    await day(5)
    assert len(presses) == 2
    await hass.services.async_call(  # its time trigger must not outlive the test
        "automation",
        "turn_off",
        {"entity_id": "automation.scheduled_top_balance"},
        blocking=True,
    )


async def test_ev_mode_follows_the_tariff(hass: HomeAssistant) -> None:
    selects = async_mock_service(hass, "select", "select_option")
    mode = "select.ev_charger_charging_mode"
    await set_state(hass, mode, "pv_surplus")
    await set_state(hass, "sensor.electricity_price", "0.31")
    await use_blueprint(
        hass,
        "ev_charging_by_schedule.yaml",
        {
            "mode_select": mode,
            "price_sensor": "sensor.electricity_price",
            "price_limit": 0.15,
            "cheap_mode": "fast_16",
            "normal_mode": "pv_surplus",
        },
    )
    await set_state(hass, "sensor.electricity_price", "0.12")
    assert [call.data["option"] for call in selects] == ["fast_16"]
    await set_state(hass, mode, "fast_16")
    await set_state(hass, "sensor.electricity_price", "0.40")
    assert [call.data["option"] for call in selects] == ["fast_16", "pv_surplus"]


async def test_ev_mode_follows_a_schedule(hass: HomeAssistant) -> None:
    selects = async_mock_service(hass, "select", "select_option")
    mode = "select.ev_charger_charging_mode"
    await set_state(hass, mode, "pv_surplus")
    await set_state(hass, "schedule.night", "off")
    await use_blueprint(
        hass,
        "ev_charging_by_schedule.yaml",
        {"mode_select": mode, "schedule": "schedule.night", "cheap_mode": "fast_32"},
    )
    await set_state(hass, "schedule.night", "on")
    assert [call.data["option"] for call in selects] == ["fast_32"]


async def test_car_plugged_in_but_not_charging(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, calls: list[ServiceCall]
) -> None:
    vehicle, power = "binary_sensor.ev_charger_vehicle_connected", "sensor.ev_charger_power"
    await set_state(hass, vehicle, "off")
    await set_state(hass, power, "0")
    await use_blueprint(
        hass,
        "car_plugged_not_charging.yaml",
        {
            "vehicle_sensor": vehicle,
            "power_sensor": power,
            "below_w": 100,
            "duration": {"minutes": 30},
            "actions": fired(),
        },
    )
    await set_state(hass, vehicle, "on")
    await later(hass, freezer, 10)
    assert calls == []
    await later(hass, freezer, 21)
    assert len(calls) == 1


async def test_balancer_fault_and_wear(hass: HomeAssistant, calls: list[ServiceCall]) -> None:
    fault, life = "binary_sensor.balancer_bal1_fault", "sensor.balancer_bal1_remaining_relay_life"
    await set_state(hass, fault, "off")
    await set_state(hass, life, "50.0")
    await use_blueprint(
        hass,
        "balancer_alert.yaml",
        {
            "fault_sensor": fault,
            "life_sensor": life,
            "life_below": 20,
            "actions": fired({"reason": "{{ reason }}"}),
        },
    )
    await set_state(hass, fault, "on")
    await set_state(hass, life, "12.0")
    assert [call.data["reason"] for call in calls] == ["fault", "wear"]


async def test_gx_offline_and_back(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, calls: list[ServiceCall]
) -> None:
    gx = "sensor.victron_gx_pv_power"
    await set_state(hass, gx, "1200")
    await use_blueprint(
        hass,
        "gx_offline.yaml",
        {
            "gx_entity": gx,
            "duration": {"minutes": 5},
            "offline_actions": fired({"what": "offline"}),
            "online_actions": fired({"what": "online"}),
        },
    )
    await set_state(hass, gx, "unavailable")
    await later(hass, freezer, 6)
    await set_state(hass, gx, "800")
    assert [call.data["what"] for call in calls] == ["offline", "online"]
    # A short blip (under the duration) reports neither.
    await set_state(hass, gx, "unavailable")
    await set_state(hass, gx, "900")
    assert len(calls) == 2


async def test_cell_above_or_below_a_voltage(hass: HomeAssistant, calls: list[ServiceCall]) -> None:
    cells = [f"sensor.battery_cell_{n}_voltage" for n in (1, 2)]
    for cell in cells:
        await set_state(hass, cell, "3.30", friendly_name=cell)
    await use_blueprint(
        hass,
        "cell_voltage_alert.yaml",
        {
            "cells": cells,
            "high": 3.6,
            "low": 2.9,
            "duration": {"seconds": 0},
            "actions": fired({"direction": "{{ direction }}", "cell": "{{ cell_name }}"}),
        },
    )
    await set_state(hass, cells[1], "3.65", friendly_name=cells[1])
    await set_state(hass, cells[0], "2.85", friendly_name=cells[0])
    assert [(c.data["direction"], c.data["cell"]) for c in calls] == [
        ("high", cells[1]),
        ("low", cells[0]),
    ]
