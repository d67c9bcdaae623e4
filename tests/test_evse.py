"""The EV charger device on the simulated openEVSE and Venus OS, over a real broker."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from unittest.mock import ANY, patch

import aiomqtt
import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.victron_balance.const import (
    CONF_EVSE_BASE_TOPIC,
    CONF_EVSE_IN_VENUS,
    CONF_SOLAR_FORECAST_ENTITY,
    DOMAIN,
)
from custom_components.victron_balance.evse import EvseControl
from custom_components.victron_balance.logic.ev_charger_json import (
    DEFAULT_TOPIC,
    VenusEvStatus,
    station_state_known,
)
from custom_components.victron_balance.logic.evse_control import (
    SolarForecast,
    battery_capacity_wh,
)
from custom_components.victron_balance.logic.log_limiter import RateLimitedLogger
from custom_components.victron_balance.transport.mqtt_session import SessionClient
from simulator import (
    BalancerConfig,
    BalancerSimulator,
    EvModel,
    OpenEvseSimulator,
    VenusSimulator,
)
from simulator.evse_claims import CLIENT_MQTT
from simulator.mqtt_ev_charger import MqttEvChargerConfig
from tests.broker import MosquittoBroker
from tests.helpers import PORTAL_ID, advance, find_device, settle, wait_until
from tests.simulator.helpers import Observer

BASE = "openevse-1a2b"
BATTERY = ("battery", 512)
SYSTEM = ("system", 0)


@pytest.fixture
async def simulator(mqtt_broker: MosquittoBroker) -> AsyncIterator[VenusSimulator]:
    """Venus with the dbus-mqtt-ev-charger driver, so the EVSE can show in the GUI."""
    sim = VenusSimulator(
        mqtt_broker.host,
        mqtt_broker.port,
        portal_id=PORTAL_ID,
        seed=1,
        mqtt_ev_charger=MqttEvChargerConfig(),
    )
    await sim.start()
    await settle()
    yield sim
    await sim.stop()


@pytest.fixture
async def evse(mqtt_broker: MosquittoBroker) -> AsyncIterator[OpenEvseSimulator]:
    """An openEVSE with a car plugged in; its clock is driven by the tests."""
    sim = OpenEvseSimulator(
        mqtt_broker.host,
        mqtt_broker.port,
        evse_id=BASE,
        ev=EvModel(battery_kwh=60, soc=40, plugged=True),
        tick_interval=None,
        status_interval=5.0,
    )
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
def config_entry(mqtt_broker: MosquittoBroker, config_entry: MockConfigEntry) -> MockConfigEntry:
    """The Venus entry with the openEVSE on the same broker."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=config_entry.title,
        unique_id=config_entry.unique_id,
        data=dict(config_entry.data),
        options={CONF_EVSE_BASE_TOPIC: BASE},
    )


@pytest.fixture
async def init_integration(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    simulator: VenusSimulator,
    evse: OpenEvseSimulator,
) -> AsyncIterator[MockConfigEntry]:
    """The integration with the EVSE, once the station's readings arrived."""
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    await wait_until(lambda: control(config_entry).link.online)
    yield config_entry
    if config_entry.state.recoverable:
        await hass.config_entries.async_unload(config_entry.entry_id)
        await hass.async_block_till_done()


def control(entry: MockConfigEntry) -> EvseControl:
    evse = entry.runtime_data.evse
    assert evse is not None
    return evse


def state(hass: HomeAssistant, entity_id: str) -> str:
    current = hass.states.get(entity_id)
    assert current is not None, entity_id
    return current.state


def our_claim(evse: OpenEvseSimulator) -> dict[str, Any] | None:
    for claim in evse.active_claims:
        if claim.client == CLIENT_MQTT:
            return claim.props.to_json()
    return None


def claimed(evse: OpenEvseSimulator, current: int | None) -> bool:
    claim = our_claim(evse)
    if claim is None:
        return False
    if current is None:
        return claim.get("state") == "disabled"
    return claim.get("state") == "active" and claim.get("charge_current") == current


async def select_mode(hass: HomeAssistant, mode: str) -> None:
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.ev_charger_charging_mode", "option": mode},
        blocking=True,
    )


async def set_number(hass: HomeAssistant, entity_id: str, value: float) -> None:
    await hass.services.async_call(
        "number", "set_value", {"entity_id": entity_id, "value": value}, blocking=True
    )


async def test_readings_and_device(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    evse: OpenEvseSimulator,
    device_registry: dr.DeviceRegistry,
) -> None:
    # Default mode Off: hands off, the station charges as it is set up.
    evse.step(2.0)
    await wait_until(lambda: state(hass, "sensor.ev_charger_status") == "charging")
    # Status topics are not retained: they come on change and every status interval.
    await wait_until(lambda: state(hass, "binary_sensor.ev_charger_vehicle_connected") == "on")
    assert float(state(hass, "sensor.ev_charger_temperature")) == pytest.approx(
        evse.model.temperature, abs=0.1
    )
    total = hass.states.get("sensor.ev_charger_total_energy")
    assert total is not None
    assert total.attributes["state_class"] == "total_increasing"
    assert total.attributes["unit_of_measurement"] == "kWh"
    device = find_device(
        device_registry, init_integration.entry_id, (DOMAIN, f"{PORTAL_ID}_evse_{BASE}")
    )
    assert device is not None
    assert device.manufacturer == "OpenEVSE"
    assert device.serial_number == evse.device_id
    assert our_claim(evse) is None
    assert state(hass, "sensor.ev_charger_control_reason") == "off"


async def test_fixed_modes_switch_and_maximum(
    hass: HomeAssistant, init_integration: MockConfigEntry, evse: OpenEvseSimulator
) -> None:
    await select_mode(hass, "fast_32")
    await wait_until(lambda: claimed(evse, 32))
    evse.step(5.0)
    await wait_until(lambda: state(hass, "sensor.ev_charger_status") == "charging")
    assert evse.pilot == 32
    await select_mode(hass, "fast_16")
    await wait_until(lambda: claimed(evse, 16))
    # The maximum current caps every mode.
    await set_number(hass, "number.ev_charger_maximum_current", 10)
    await wait_until(lambda: claimed(evse, 10))
    assert state(hass, "sensor.ev_charger_target_current") == "10"
    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": "switch.ev_charger_charging"}, blocking=True
    )
    await wait_until(lambda: claimed(evse, None))
    assert state(hass, "sensor.ev_charger_control_reason") == "stopped"
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.ev_charger_charging"}, blocking=True
    )
    await wait_until(lambda: claimed(evse, 10))
    await set_number(hass, "number.ev_charger_manual_current", 8)
    await select_mode(hass, "manual")
    await wait_until(lambda: claimed(evse, 8))


async def test_settings_are_checked_and_kept(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    await set_number(hass, "number.ev_charger_battery_upper_soc", 90)
    with pytest.raises(ServiceValidationError) as err:
        await set_number(hass, "number.ev_charger_battery_lower_soc", 95)
    assert err.value.translation_key == "invalid_soc_thresholds"
    with pytest.raises(ServiceValidationError) as err:
        await set_number(hass, "number.ev_charger_pv_minimum_current", 25)
    assert err.value.translation_key == "invalid_pv_current_range"
    with pytest.raises(ServiceValidationError):
        await set_number(hass, "number.ev_charger_maximum_current", 200)
    await select_mode(hass, "pv_surplus")
    # Kept across a reload.
    await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    settings = control(init_integration).settings
    assert settings.battery_upper_soc == 90
    assert settings.mode.value == "pv_surplus"
    assert state(hass, "number.ev_charger_battery_upper_soc") == "90.0"


def set_system(
    sim: VenusSimulator, *, pv: float, grid: float, battery_a: float, soc: float
) -> None:
    sim.set_value(*SYSTEM, "/Dc/Pv/Power", pv)
    sim.set_value(*SYSTEM, "/Ac/Grid/L1/Power", grid)
    sim.set_value(*BATTERY, "/Dc/0/Current", battery_a)
    sim.set_value(*BATTERY, "/Soc", soc)


@pytest.mark.long_run
async def test_pv_surplus_follows_the_sun_and_the_battery(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
    evse: OpenEvseSimulator,
) -> None:
    # Sunny: the ESS battery soaks up ~2.6 kW (50 A at ~52 V), nothing from the grid.
    set_system(simulator, pv=4000.0, grid=0.0, battery_a=50.0, soc=90.0)
    await select_mode(hass, "pv_surplus")
    await advance(hass, freezer, 3)
    assert claimed(evse, None)  # a start waits until the surplus held for a while
    await advance(hass, freezer, 90)
    claim = our_claim(evse)
    assert claim is not None and claim["state"] == "active"
    assert 6 <= claim["charge_current"] <= 20
    assert state(hass, "sensor.ev_charger_control_reason") in ("surplus", "min_run_time")

    # The home battery runs low: the EVSE sleeps, and stays asleep until the upper SoC.
    set_system(simulator, pv=300.0, grid=0.0, battery_a=-40.0, soc=25.0)
    await advance(hass, freezer, 400)
    assert claimed(evse, None)
    assert state(hass, "sensor.ev_charger_control_reason") in ("low_soc_pause", "min_pause_time")
    set_system(simulator, pv=4000.0, grid=0.0, battery_a=50.0, soc=60.0)
    await advance(hass, freezer, 400)
    assert claimed(evse, None)
    assert state(hass, "sensor.ev_charger_control_reason") == "low_soc_pause"
    set_system(simulator, pv=4000.0, grid=0.0, battery_a=50.0, soc=85.0)
    await advance(hass, freezer, 120)
    assert our_claim(evse) is not None and our_claim(evse)["state"] == "active"  # type: ignore[index]


async def test_the_evse_shows_in_venus_and_follows_the_gui(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
    evse: OpenEvseSimulator,
) -> None:
    await select_mode(hass, "fast_16")
    driver = simulator.mqtt_ev_charger
    assert driver is not None

    def shown(path: str) -> Any:
        try:
            return simulator.get_value("evcharger", 100, path)
        except KeyError:
            return None

    await wait_until(
        lambda: shown("/SetCurrent") == 16 and shown("/Mode") == 0 and shown("/StartStop") == 1
    )
    assert shown("/MaxCurrent") == 32

    # Someone sets 10 A in the Victron GUI: the driver echoes it, we adopt it.
    await simulator.publish_raw(
        f"W/{PORTAL_ID}/evcharger/100/SetCurrent", json.dumps({"value": 10}).encode()
    )
    await wait_until(lambda: claimed(evse, 10))
    assert control(init_integration).settings.mode.value == "manual"
    assert state(hass, "select.ev_charger_charging_mode") == "manual"
    await wait_until(lambda: driver.values["/SetCurrent"] == 10)  # carried in our JSON

    # Auto in the GUI means PV surplus; StartStop 0 pauses.
    await simulator.publish_raw(
        f"W/{PORTAL_ID}/evcharger/100/Mode", json.dumps({"value": 1}).encode()
    )
    await wait_until(lambda: state(hass, "select.ev_charger_charging_mode") == "pv_surplus")
    await simulator.publish_raw(
        f"W/{PORTAL_ID}/evcharger/100/StartStop", json.dumps({"value": 0}).encode()
    )
    await wait_until(lambda: state(hass, "switch.ev_charger_charging") == "off")
    await wait_until(lambda: claimed(evse, None))
    await wait_until(lambda: driver.values["/StartStop"] == 0)
    assert control(init_integration).gui_changes == 3


async def test_station_offline_and_back(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    evse: OpenEvseSimulator,
) -> None:
    await select_mode(hass, "fast_16")
    await wait_until(lambda: claimed(evse, 16))
    evse.go_offline()  # the broker sends the Last Will
    await wait_until(lambda: state(hass, "sensor.ev_charger_charging_power") == STATE_UNAVAILABLE)
    assert state(hass, "sensor.ev_charger_control_reason") == STATE_UNAVAILABLE
    assert state(hass, "select.ev_charger_charging_mode") == "fast_16"  # settings stay usable
    evse.model.release(CLIENT_MQTT)  # it lost our claim while away
    await evse.come_online()
    await wait_until(lambda: state(hass, "sensor.ev_charger_charging_power") != STATE_UNAVAILABLE)
    await wait_until(lambda: claimed(evse, 16), timeout=15)


async def test_venus_lost_pauses_the_car(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
    evse: OpenEvseSimulator,
) -> None:
    await select_mode(hass, "fast_32")
    await advance(hass, freezer, 2)
    assert claimed(evse, 32)
    simulator.pause_heartbeat()
    await advance(hass, freezer, 15)
    assert claimed(evse, None)
    assert state(hass, "sensor.ev_charger_control_reason") == "venus_unavailable"
    simulator.resume_heartbeat()
    await advance(hass, freezer, 8)
    assert claimed(evse, 32)


async def test_bad_status_values_are_logged_and_ignored(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
    evse: OpenEvseSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    readings = control(init_integration).link.readings
    await select_mode(hass, "fast_16")  # the station publishes what changes
    await wait_until(lambda: claimed(evse, 16) and readings.claim is not None)
    await wait_until(lambda: None not in (readings.power_w, readings.state_code))
    before = (readings.power_w, readings.state_code, readings.temperature_c, readings.claim)
    caplog.set_level(logging.WARNING)
    for key, payload in [
        ("power", b"lots"),
        ("state", b"99"),
        ("temp", b"nan"),
        ("amp", b"-5"),
        ("vehicle", b"2"),
        ("status", b"maybe"),
        ("claim", b"{not json"),
    ]:
        await simulator.publish_raw(f"{BASE}/{key}", payload)
    await simulator.publish_raw("openevse/announce/1a2b", b"garbage")
    await wait_until(lambda: control(init_integration).link.rejected >= 8)
    assert (readings.power_w, readings.state_code, readings.temperature_c, readings.claim) == before
    assert f"openEVSE {BASE}/state: unknown state code" in caplog.text
    assert "openEVSE announce on openevse/announce/1a2b" in caplog.text
    assert control(init_integration).link.online


async def test_unload_hands_the_station_back(
    hass: HomeAssistant, init_integration: MockConfigEntry, evse: OpenEvseSimulator
) -> None:
    await select_mode(hass, "fast_16")
    await wait_until(lambda: claimed(evse, 16))
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await wait_until(lambda: our_claim(evse) is None)


async def test_off_hands_the_station_back_and_the_switch_still_pauses(
    hass: HomeAssistant, init_integration: MockConfigEntry, evse: OpenEvseSimulator
) -> None:
    await select_mode(hass, "fast_32")
    await wait_until(lambda: claimed(evse, 32))
    await select_mode(hass, "off")
    await wait_until(lambda: our_claim(evse) is None)
    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": "switch.ev_charger_charging"}, blocking=True
    )
    await wait_until(lambda: claimed(evse, None))


async def test_diagnostics_show_the_control_state(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    evse: OpenEvseSimulator,
) -> None:
    await select_mode(hass, "fast_16")
    await wait_until(lambda: claimed(evse, 16))
    await wait_until(lambda: control(init_integration).link.readings.claim is not None)
    # The JSON to Venus goes out once the station's (unretained) status arrived.
    await wait_until(lambda: control(init_integration).diagnostics()["venus_json"] is not None)
    data = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    evse_data = data["evse"]
    assert evse_data["base_topic"] == BASE
    assert evse_data["online"] is True
    assert evse_data["target"] == {"current_a": 16, "claim": True, "reason": "fast_16"}
    assert evse_data["settings"]["mode"] == "fast_16"
    assert evse_data["claims_sent"] >= 1
    assert evse_data["venus_json"]["SetCurrent"] == 16


async def test_home_assistant_stop_hands_the_station_back(
    hass: HomeAssistant, init_integration: MockConfigEntry, evse: OpenEvseSimulator
) -> None:
    await select_mode(hass, "fast_16")
    await wait_until(lambda: claimed(evse, 16))
    await hass.async_stop()
    await wait_until(lambda: our_claim(evse) is None)


async def test_shipped_dashboard_uses_only_real_entities(
    hass: HomeAssistant, init_integration: MockConfigEntry, mqtt_broker: MosquittoBroker
) -> None:
    """The dashboard in dashboards/ (also used by the demo) matches the entity ids."""
    balancer = BalancerSimulator(
        mqtt_broker.host,
        mqtt_broker.port,
        balancer_id="bal1",
        config=BalancerConfig.lifepo4(relays=16),
    )
    await balancer.start()
    try:
        await wait_until(lambda: hass.states.get("switch.balancer_bal1_balancing") is not None)
        text = (Path(__file__).parent.parent / "dashboards" / "victron_balance.yaml").read_text()
        pattern = r"\b(?:sensor|binary_sensor|number|select|switch)\.[a-z0-9_]+"
        referenced = set(re.findall(pattern, text))
        assert len(referenced) > 80
        missing = sorted(
            entity_id for entity_id in referenced if hass.states.get(entity_id) is None
        )
        assert missing == []
    finally:
        await balancer.stop()


async def test_publish_failures_are_logged_and_retried(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    evse: OpenEvseSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    evse_control = control(init_integration)
    # The JSON to Venus waits for the station's first status (not retained).
    await wait_until(lambda: station_state_known(evse_control.link.readings))
    # The user is told at once (the action fails), the log says what was not sent.
    with (
        patch.object(SessionClient, "publish", side_effect=aiomqtt.MqttError("socket gone")),
        pytest.raises(HomeAssistantError, match="socket gone") as refused,
    ):
        await select_mode(hass, "fast_32")
    assert refused.value.translation_key == "communication_error"
    assert "openEVSE claim not sent: publish to" in caplog.text
    assert "EV charger JSON not published" in caplog.text  # SetCurrent 16 -> 32
    assert our_claim(evse) is None
    await wait_until(lambda: claimed(evse, 32))  # the wish is kept: the next tick sends it
    with (
        patch.object(SessionClient, "publish", side_effect=aiomqtt.MqttError("socket gone")),
        pytest.raises(HomeAssistantError, match="socket gone"),
    ):
        await select_mode(hass, "off")
    assert "openEVSE claim not released" in caplog.text
    assert claimed(evse, 32)
    await wait_until(lambda: our_claim(evse) is None)  # released on a later tick
    assert evse_control.target is not None and evse_control.target.reason == "off"


async def test_unreadable_stored_settings_fall_back_to_off(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    config_entry: MockConfigEntry,
    simulator: VenusSimulator,
    evse: OpenEvseSimulator,
) -> None:
    hass_storage[f"{DOMAIN}.{config_entry.entry_id}.evse"] = {
        "version": 1,
        "data": {"mode": "fast_32", "charging_enabled": True, "max_current_a": "lots"},
    }
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    settings = control(config_entry).settings
    assert settings.mode.value == "off"
    assert our_claim(evse) is None
    await hass.config_entries.async_unload(config_entry.entry_id)


async def test_not_shown_in_venus_when_switched_off(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    simulator: VenusSimulator,
    evse: OpenEvseSimulator,
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=config_entry.unique_id,
        data=dict(config_entry.data),
        options={**config_entry.options, CONF_EVSE_IN_VENUS: False},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await wait_until(lambda: control(entry).link.online)
    await select_mode(hass, "fast_16")
    await wait_until(lambda: claimed(evse, 16))
    # No JSON: the driver never creates its service, and GUI topics are not looked at.
    await simulator.publish_raw(
        f"W/{PORTAL_ID}/evcharger/100/SetCurrent", json.dumps({"value": 10}).encode()
    )
    await settle()
    assert simulator.mqtt_ev_charger is not None
    assert simulator.mqtt_ev_charger.service is None
    assert control(entry).gui_changes == 0
    await hass.config_entries.async_unload(entry.entry_id)


async def test_pv_surplus_reads_the_solar_forecast_and_the_timing_options(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime = init_integration.runtime_data
    set_system(simulator, pv=4000.0, grid=0.0, battery_a=50.0, soc=60.0)
    venus = control(init_integration).venus
    readings = control(init_integration).link.readings
    await wait_until(lambda: battery_capacity_wh(venus.battery()) is not None)
    await wait_until(lambda: readings.plugged_in and readings.power_w is not None)
    await select_mode(hass, "pv_surplus")
    hass.states.async_set(
        "sensor.energy_production_today_remaining", "12.5", {"unit_of_measurement": "kWh"}
    )
    hass.config_entries.async_update_entry(
        init_integration,
        options={
            **init_integration.options,
            CONF_SOLAR_FORECAST_ENTITY: "sensor.energy_production_today_remaining",
            "pv_start_delay": 10.0,
            "pv_min_run": 600.0,
        },
    )
    await hass.async_block_till_done()
    evse_control = control(init_integration)
    assert init_integration.runtime_data is runtime  # applied without a reload
    forecast = evse_control.solar_forecast()
    assert forecast is not None and forecast.remaining_wh == 12500.0
    assert forecast.daylight_s is not None and 8 * 3600 < forecast.daylight_s < 16 * 3600
    await evse_control.async_tick()
    settings = evse_control.surplus.settings
    assert (settings.start_delay_s, settings.min_run_s, settings.stop_delay_s) == (10, 600, 120)
    diagnostics = evse_control.surplus.diagnostics()
    assert diagnostics["forecast_needed_wh"] is not None  # capacity from InstalledCapacity
    assert diagnostics["forecast_needed_wh"] > 0

    # Unavailable, or not an energy: no forecast (the rules without one), and a log line.
    hass.states.async_set("sensor.energy_production_today_remaining", STATE_UNAVAILABLE)
    await evse_control.async_tick()
    assert evse_control.surplus.diagnostics()["forecast_needed_wh"] is None
    assert "energy_production_today_remaining unavailable" in caplog.text
    evse_control._errors = RateLimitedLogger(logging.getLogger(__name__))
    hass.states.async_set(
        "sensor.energy_production_today_remaining", "12.5", {"unit_of_measurement": "W"}
    )
    assert evse_control.solar_forecast() == SolarForecast(None, ANY, forecast.daylight_s)
    assert "is not an energy: '12.5' W" in caplog.text

    # Where the sun does not set today there is no arc to spread the forecast on.
    with patch("custom_components.victron_balance.evse.get_astral_event_date", return_value=None):
        assert evse_control.solar_forecast() == SolarForecast(None, None, None)


async def test_a_station_limit_below_six_amps_pauses_the_car(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
    evse: OpenEvseSimulator,
) -> None:
    """E3 end to end: a current below the pilot's 6 A is a pause, never a raise."""
    readings = control(init_integration).link.readings
    await select_mode(hass, "fast_32")
    await advance(hass, freezer, 2)
    assert claimed(evse, 32)
    await simulator.publish_raw(f"{BASE}/max_current", b"3")
    await wait_until(lambda: readings.max_current_a == 3)
    await advance(hass, freezer, 2)
    assert claimed(evse, None)
    evse.model.max_current = 16  # the station's own setting: what it reports next
    await advance(hass, freezer, 6)  # its next status
    assert readings.max_current_a == 16
    await advance(hass, freezer, 2)
    assert claimed(evse, 16)  # lowered to the station's limit


async def test_first_venus_json_waits_for_the_station_state(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    simulator: VenusSimulator,
    evse: OpenEvseSimulator,
    mqtt_broker: MosquittoBroker,
) -> None:
    """The station's status topics are not retained: right after setup nothing says what
    it does. No JSON goes to Venus until its status round; then it says charging."""
    evse.step(2.0)  # the car charges (mode Off: the station runs on its own)
    assert evse.model.power > 0
    observer = Observer(mqtt_broker.host, mqtt_broker.port, topics=(DEFAULT_TOPIC,))
    await observer.start()
    try:
        config_entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
        await wait_until(lambda: bool(observer.on(DEFAULT_TOPIC)), timeout=20)
        first = observer.on(DEFAULT_TOPIC)[0].json()
        assert first["Status"] == VenusEvStatus.CHARGING
        assert first["Ac"]["Power"] > 0
    finally:
        await observer.stop()
        await hass.config_entries.async_unload(config_entry.entry_id)
