"""The openEVSE steps of the config and options flows, and a station on its own broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from unittest.mock import patch

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.victron_balance.const import (
    CONF_BATTERY_INSTANCE,
    CONF_CA_CERTIFICATE,
    CONF_EV_CHARGER_INSTANCE,
    CONF_EV_CHARGER_TOPIC,
    CONF_EVSE_BASE_TOPIC,
    CONF_EVSE_BROKER,
    CONF_EVSE_IN_VENUS,
    CONF_KEEPALIVE_INTERVAL,
    CONF_SOLAR_FORECAST_ENTITY,
    CONF_TLS,
    CONF_VERIFY_TLS,
    DOMAIN,
)
from simulator import OpenEvseSimulator, VenusSimulator
from tests.broker import MosquittoBroker
from tests.helpers import PORTAL_ID, form_default, wait_until

FAST = patch("custom_components.victron_balance.config_flow.EVSE_DISCOVERY_WAIT", 0.3)
EVSE_FORM = {
    CONF_EVSE_IN_VENUS: True,
    CONF_EV_CHARGER_TOPIC: " custom/ev-charger ",
    CONF_EV_CHARGER_INSTANCE: 100.0,
}
INIT_FORM = {
    CONF_BATTERY_INSTANCE: "auto",
    "chemistry": "lifepo4_355",
    "virtual_bms_topic": "enphase/battery",
    "virtual_bms_instance": 100,
    CONF_KEEPALIVE_INTERVAL: 30,
}


def connection(broker: MosquittoBroker, **extra: object) -> dict[str, object]:
    return {
        CONF_HOST: broker.host,
        CONF_PORT: broker.port,
        CONF_TLS: False,
        CONF_VERIFY_TLS: True,
        **extra,
    }


@pytest.fixture
async def station(mqtt_broker: MosquittoBroker) -> AsyncIterator[OpenEvseSimulator]:
    """An openEVSE announcing itself on the Venus broker."""
    sim = OpenEvseSimulator(mqtt_broker.host, mqtt_broker.port, evse_id="openevse-1a2b")
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def far_station(auth_broker: MosquittoBroker) -> AsyncIterator[OpenEvseSimulator]:
    """An openEVSE on a broker of its own, with a password."""
    sim = OpenEvseSimulator(
        auth_broker.host,
        auth_broker.port,
        evse_id="openevse-9f9f",
        username="venus",
        password="secret",
    )
    await sim.start()
    yield sim
    await sim.stop()


async def test_user_flow_offers_the_announced_station(
    hass: HomeAssistant,
    mqtt_broker: MosquittoBroker,
    simulator: VenusSimulator,
    station: OpenEvseSimulator,
) -> None:
    # Junk and incomplete announcements on the broker are not offered.
    await simulator.publish_raw("openevse/announce/junk", b"junk", retain=True)
    await simulator.publish_raw("openevse/announce/nobase", b'{"state":"connected"}', retain=True)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], connection(mqtt_broker)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "openevse"
    assert result["description_placeholders"] == {"stations": "openevse-1a2b"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_EVSE_BASE_TOPIC: "openevse-1a2b/", **EVSE_FORM}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].options == {
        CONF_EVSE_BASE_TOPIC: "openevse-1a2b",
        CONF_EVSE_IN_VENUS: True,
        CONF_EV_CHARGER_TOPIC: "custom/ev-charger",
        CONF_EV_CHARGER_INSTANCE: 100,
    }
    await hass.async_block_till_done()
    entry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.evse is not None
    await hass.config_entries.async_unload(entry.entry_id)


async def test_user_flow_can_skip_the_station(
    hass: HomeAssistant,
    mqtt_broker: MosquittoBroker,
    simulator: VenusSimulator,
    station: OpenEvseSimulator,
) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], connection(mqtt_broker)
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_EVSE_BASE_TOPIC: "  ", **EVSE_FORM}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].options == {}
    await hass.async_block_till_done()
    await hass.config_entries.async_unload(result["result"].entry_id)


async def test_options_add_change_and_remove_the_station(
    hass: HomeAssistant, init_integration: MockConfigEntry, station: OpenEvseSimulator
) -> None:
    assert init_integration.runtime_data.evse is None
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    with FAST:
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {**INIT_FORM, "configure_evse": True}
        )
    assert result["step_id"] == "openevse"
    assert result["description_placeholders"] == {"stations": "openevse-1a2b"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_EVSE_BASE_TOPIC: "openevse-1a2b", "evse_separate_broker": False, **EVSE_FORM},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options[CONF_EVSE_BASE_TOPIC] == "openevse-1a2b"
    assert init_integration.options[CONF_KEEPALIVE_INTERVAL] == 30
    # A new station reloads the entry, which then has the EVSE.
    await hass.async_block_till_done()
    await wait_until(lambda: getattr(init_integration.runtime_data, "evse", None) is not None)
    assert hass.states.get("select.ev_charger_charging_mode") is not None

    # Other options keep the station and apply without a reload.
    runtime = init_integration.runtime_data
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**INIT_FORM, CONF_KEEPALIVE_INTERVAL: 20}
    )
    await hass.async_block_till_done()
    assert init_integration.options[CONF_EVSE_BASE_TOPIC] == "openevse-1a2b"
    assert init_integration.runtime_data is runtime

    # An empty base topic removes it.
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    with FAST:
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {**INIT_FORM, "configure_evse": True}
        )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"evse_separate_broker": False, **EVSE_FORM}
    )
    assert CONF_EVSE_BASE_TOPIC not in init_integration.options
    await hass.async_block_till_done()
    await wait_until(lambda: getattr(init_integration.runtime_data, "evse", 1) is None)


async def test_options_station_on_its_own_broker(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    auth_broker: MosquittoBroker,
    far_station: OpenEvseSimulator,
) -> None:
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    with FAST:
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {**INIT_FORM, "configure_evse": True}
        )
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {"evse_separate_broker": True, **EVSE_FORM}
        )
        assert result["step_id"] == "openevse_broker"
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], connection(auth_broker)
        )
        assert result["errors"] == {"base": "invalid_auth"}
        result = await hass.config_entries.options.async_configure(
            result["flow_id"],
            connection(auth_broker, **{CONF_TLS: True, CONF_CA_CERTIFICATE: "not a cert"}),
        )
        assert result["errors"] == {CONF_CA_CERTIFICATE: "invalid_ca_certificate"}
        result = await hass.config_entries.options.async_configure(
            result["flow_id"],
            connection(auth_broker, **{CONF_USERNAME: "venus", CONF_PASSWORD: "secret"}),
        )
    # No base topic given: the station announced there is taken.
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options[CONF_EVSE_BASE_TOPIC] == "openevse-9f9f"
    assert init_integration.options[CONF_EVSE_BROKER][CONF_PORT] == auth_broker.port
    await hass.async_block_till_done()
    await wait_until(lambda: getattr(init_integration.runtime_data, "evse", None) is not None)
    control = init_integration.runtime_data.evse
    assert control.own_session is not None
    await wait_until(lambda: control.link.online)

    # The options form for the station remembers the broker (no discovery on Venus's),
    # all but its password, which stays when left empty.
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    with FAST:
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {**INIT_FORM, "configure_evse": True}
        )
        assert result["description_placeholders"] == {"stations": "-"}
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {"evse_separate_broker": True, **EVSE_FORM}
        )
        assert form_default(result, CONF_USERNAME) == "venus"
        assert form_default(result, CONF_PASSWORD) is None
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], connection(auth_broker, **{CONF_USERNAME: "venus"})
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options[CONF_EVSE_BROKER][CONF_PASSWORD] == "secret"
    await hass.async_block_till_done()


async def test_options_own_broker_without_a_station(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    auth_broker: MosquittoBroker,
) -> None:
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    with FAST:
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {**INIT_FORM, "configure_evse": True}
        )
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {"evse_separate_broker": True, **EVSE_FORM}
        )
        creds = {CONF_USERNAME: "venus", CONF_PASSWORD: "secret"}
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], connection(auth_broker, **creds)
        )
    assert result["errors"] == {"base": "no_openevse_found"}


async def test_options_when_not_loaded_skip_discovery(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    config_entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**INIT_FORM, "configure_evse": True}
    )
    assert result["step_id"] == "openevse"
    assert result["description_placeholders"] == {"stations": "-"}


async def test_own_broker_down_or_refusing(
    hass: HomeAssistant,
    mqtt_broker: MosquittoBroker,
    auth_broker: MosquittoBroker,
    simulator: VenusSimulator,
    config_entry: MockConfigEntry,
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=PORTAL_ID,
        data=dict(config_entry.data),
        options={CONF_EVSE_BASE_TOPIC: "openevse-9f9f", CONF_EVSE_BROKER: connection(auth_broker)},
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR  # wrong credentials: fix in options
    assert entry.reason is not None and "refused" in entry.reason
    await hass.config_entries.async_unload(entry.entry_id)

    down = connection(auth_broker)
    down[CONF_PORT] = auth_broker.port + 1 if auth_broker.port < 65535 else 1
    hass.config_entries.async_update_entry(entry, options={**entry.options, CONF_EVSE_BROKER: down})
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY

    bad_ca = connection(auth_broker, **{CONF_TLS: True, CONF_CA_CERTIFICATE: "nope"})
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_EVSE_BROKER: bad_ca}
    )
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR


async def test_options_pv_surplus_forecast_and_timing(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    runtime = init_integration.runtime_data
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**INIT_FORM, "configure_pv_surplus": True}
    )
    assert result["step_id"] == "pv_surplus"
    defaults = {
        k.schema: k.default() for k in result["data_schema"].schema if k != "solar_forecast_entity"
    }
    assert defaults["pv_start_delay"] == 60.0 and defaults["pv_min_run"] == 300.0
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_SOLAR_FORECAST_ENTITY: "sensor.solcast_forecast_remaining_today",
            "pv_stop_delay": 240,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    options = init_integration.options
    assert options[CONF_SOLAR_FORECAST_ENTITY] == "sensor.solcast_forecast_remaining_today"
    assert (options["pv_stop_delay"], options["pv_start_delay"]) == (240.0, 60.0)
    assert options[CONF_KEEPALIVE_INTERVAL] == 30
    await hass.async_block_till_done()
    assert init_integration.runtime_data is runtime  # applied while running

    # The form shows the choices; leaving the entity empty removes the forecast.
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**INIT_FORM, "configure_pv_surplus": True}
    )
    defaults = {
        k.schema: k.default() for k in result["data_schema"].schema if k != "solar_forecast_entity"
    }
    assert defaults["pv_stop_delay"] == 240.0
    result = await hass.config_entries.options.async_configure(result["flow_id"], {})
    assert CONF_SOLAR_FORECAST_ENTITY not in init_integration.options
    assert init_integration.options["pv_stop_delay"] == 240.0


async def test_options_station_then_pv_surplus(
    hass: HomeAssistant, init_integration: MockConfigEntry, station: OpenEvseSimulator
) -> None:
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    with FAST:
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {**INIT_FORM, "configure_evse": True, "configure_pv_surplus": True}
        )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_EVSE_BASE_TOPIC: "openevse-1a2b", "evse_separate_broker": False, **EVSE_FORM},
    )
    assert result["step_id"] == "pv_surplus"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SOLAR_FORECAST_ENTITY: "sensor.energy_production_today_remaining"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options[CONF_EVSE_BASE_TOPIC] == "openevse-1a2b"
    assert init_integration.options[CONF_SOLAR_FORECAST_ENTITY].startswith("sensor.energy")
    await hass.async_block_till_done()
    await wait_until(lambda: getattr(init_integration.runtime_data, "evse", None) is not None)
