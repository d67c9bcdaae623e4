"""Config, reauth, reconfigure and options flows, against a real broker and the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from unittest.mock import patch

import pytest
from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.victron_balance.const import (
    CONF_BATTERY_INSTANCE,
    CONF_CA_CERTIFICATE,
    CONF_KEEPALIVE_INTERVAL,
    CONF_PORTAL_ID,
    CONF_TLS,
    CONF_VERIFY_TLS,
    DOMAIN,
)
from custom_components.victron_balance.logic.update_interval import Pace
from simulator import VenusSimulator
from tests.broker import MosquittoBroker
from tests.certs import TlsCertificates
from tests.helpers import PORTAL_ID, form_default

SHORT_DISCOVERY = patch("custom_components.victron_balance.config_flow.DISCOVERY_TIMEOUT", 0.5)


def connection(broker: MosquittoBroker, **extra: object) -> dict[str, object]:
    return {
        CONF_HOST: broker.host,
        CONF_PORT: broker.port,
        CONF_TLS: False,
        CONF_VERIFY_TLS: True,
        **extra,
    }


async def start_flow(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}
    return str(result["flow_id"])


async def test_user_flow_discovers_the_portal(
    hass: HomeAssistant, mqtt_broker: MosquittoBroker, simulator: VenusSimulator
) -> None:
    flow_id = await start_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, connection(mqtt_broker, **{CONF_USERNAME: "  ", CONF_PORTAL_ID: ""})
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Venus OS {PORTAL_ID}"
    assert result["result"].unique_id == PORTAL_ID
    assert result["data"] == connection(mqtt_broker, **{CONF_PORTAL_ID: PORTAL_ID})


async def test_user_flow_with_explicit_portal_id(
    hass: HomeAssistant, mqtt_broker: MosquittoBroker, simulator: VenusSimulator
) -> None:
    flow_id = await start_flow(hass)
    with SHORT_DISCOVERY:
        result = await hass.config_entries.flow.async_configure(
            flow_id, connection(mqtt_broker, **{CONF_PORTAL_ID: "c0ffee000000"})
        )
    assert result["errors"] == {CONF_PORTAL_ID: "portal_not_found"}
    result = await hass.config_entries.flow.async_configure(
        flow_id, connection(mqtt_broker, **{CONF_PORTAL_ID: PORTAL_ID})
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_PORTAL_ID] == PORTAL_ID


async def test_user_flow_recovers_from_cannot_connect(
    hass: HomeAssistant, mqtt_broker: MosquittoBroker, simulator: VenusSimulator
) -> None:
    flow_id = await start_flow(hass)
    wrong = connection(mqtt_broker)
    wrong[CONF_PORT] = mqtt_broker.port + 1 if mqtt_broker.port < 65535 else 1
    result = await hass.config_entries.flow.async_configure(flow_id, wrong)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}
    result = await hass.config_entries.flow.async_configure(flow_id, connection(mqtt_broker))
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_user_flow_recovers_from_no_venus(
    hass: HomeAssistant, mqtt_broker: MosquittoBroker
) -> None:
    """A broker with no GX behind it, then the GX appears."""
    flow_id = await start_flow(hass)
    with SHORT_DISCOVERY:
        result = await hass.config_entries.flow.async_configure(flow_id, connection(mqtt_broker))
    assert result["errors"] == {"base": "no_venus_found"}
    sim = VenusSimulator(mqtt_broker.host, mqtt_broker.port, portal_id=PORTAL_ID)
    await sim.start()
    try:
        result = await hass.config_entries.flow.async_configure(flow_id, connection(mqtt_broker))
    finally:
        await sim.stop()
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.fixture
async def auth_simulator(auth_broker: MosquittoBroker) -> AsyncIterator[VenusSimulator]:
    sim = VenusSimulator(
        auth_broker.host, auth_broker.port, portal_id=PORTAL_ID, username="venus", password="secret"
    )
    await sim.start()
    yield sim
    await sim.stop()


async def test_user_flow_recovers_from_invalid_auth(
    hass: HomeAssistant, auth_broker: MosquittoBroker, auth_simulator: VenusSimulator
) -> None:
    flow_id = await start_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, connection(auth_broker, **{CONF_USERNAME: "venus", CONF_PASSWORD: "wrong"})
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        flow_id, connection(auth_broker, **{CONF_USERNAME: "venus", CONF_PASSWORD: "secret"})
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_PASSWORD] == "secret"


async def test_user_flow_over_tls_with_ca_verification(
    hass: HomeAssistant,
    tls_broker: MosquittoBroker,
    tls_certificates: TlsCertificates,
) -> None:
    sim = VenusSimulator(tls_broker.host, tls_broker.port, portal_id=PORTAL_ID)
    await sim.start()
    try:
        tls = {CONF_HOST: tls_broker.host, CONF_PORT: tls_broker.tls_port, CONF_TLS: True}
        flow_id = await start_flow(hass)
        # Verification is on by default: the system CAs do not know the test CA.
        result = await hass.config_entries.flow.async_configure(
            flow_id, {**tls, CONF_VERIFY_TLS: True}
        )
        assert result["errors"] == {"base": "cannot_connect"}
        result = await hass.config_entries.flow.async_configure(
            flow_id, {**tls, CONF_VERIFY_TLS: True, CONF_CA_CERTIFICATE: "not a certificate"}
        )
        assert result["errors"] == {CONF_CA_CERTIFICATE: "invalid_ca_certificate"}
        result = await hass.config_entries.flow.async_configure(
            flow_id,
            {**tls, CONF_VERIFY_TLS: True, CONF_CA_CERTIFICATE: tls_certificates.ca_pem},
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["data"][CONF_CA_CERTIFICATE] == tls_certificates.ca_pem.strip()
    finally:
        await sim.stop()


async def test_tls_without_verification(hass: HomeAssistant, tls_broker: MosquittoBroker) -> None:
    """A GX with its self-signed certificate: the user may switch verification off."""
    sim = VenusSimulator(tls_broker.host, tls_broker.port, portal_id=PORTAL_ID)
    await sim.start()
    try:
        flow_id = await start_flow(hass)
        result = await hass.config_entries.flow.async_configure(
            flow_id,
            {
                CONF_HOST: tls_broker.host,
                CONF_PORT: tls_broker.tls_port,
                CONF_TLS: True,
                CONF_VERIFY_TLS: False,
            },
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
    finally:
        await sim.stop()


async def test_user_flow_unexpected_error(
    hass: HomeAssistant, mqtt_broker: MosquittoBroker, simulator: VenusSimulator
) -> None:
    flow_id = await start_flow(hass)
    with patch("aiomqtt.Client.subscribe", side_effect=RuntimeError("boom")):
        result = await hass.config_entries.flow.async_configure(flow_id, connection(mqtt_broker))
    assert result["errors"] == {"base": "unknown"}
    result = await hass.config_entries.flow.async_configure(flow_id, connection(mqtt_broker))
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_user_flow_aborts_when_already_configured(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    mqtt_broker: MosquittoBroker,
    simulator: VenusSimulator,
) -> None:
    config_entry.add_to_hass(hass)
    flow_id = await start_flow(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, connection(mqtt_broker))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_reauth(
    hass: HomeAssistant, auth_broker: MosquittoBroker, auth_simulator: VenusSimulator
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=PORTAL_ID,
        data=connection(
            auth_broker, **{CONF_USERNAME: "venus", CONF_PASSWORD: "old", CONF_PORTAL_ID: PORTAL_ID}
        ),
    )
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_USERNAME: "venus", CONF_PASSWORD: "still wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_USERNAME: "venus", CONF_PASSWORD: "secret"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_PASSWORD] == "secret"
    await hass.async_block_till_done()
    assert entry.runtime_data.link.alive
    await hass.config_entries.async_unload(entry.entry_id)


async def test_reauth_keeps_a_password_left_empty_and_clearing_the_username_clears_both(
    hass: HomeAssistant, auth_broker: MosquittoBroker, auth_simulator: VenusSimulator
) -> None:
    """The stored password never goes to the form; left empty, it stays."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=PORTAL_ID,
        data=connection(
            auth_broker,
            **{CONF_USERNAME: "old name", CONF_PASSWORD: "secret", CONF_PORTAL_ID: PORTAL_ID},
        ),
    )
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    assert form_default(result, CONF_USERNAME) == "old name"
    assert form_default(result, CONF_PASSWORD) is None
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_USERNAME: "venus"}
    )
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_USERNAME] == "venus"
    assert entry.data[CONF_PASSWORD] == "secret"
    await hass.async_block_till_done()
    await hass.config_entries.async_unload(entry.entry_id)

    # The GX's own broker takes anonymous clients: no username, no password either.
    result = await entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["errors"] == {"base": "invalid_auth"}  # this broker does want them
    assert entry.data[CONF_PASSWORD] == "secret"


async def test_reauth_on_an_anonymous_broker_may_clear_the_credentials(
    hass: HomeAssistant, mqtt_broker: MosquittoBroker, simulator: VenusSimulator
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=PORTAL_ID,
        data=connection(
            mqtt_broker, **{CONF_USERNAME: "x", CONF_PASSWORD: "y", CONF_PORTAL_ID: PORTAL_ID}
        ),
    )
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["reason"] == "reauth_successful"
    assert entry.data.get(CONF_USERNAME) is None
    assert entry.data.get(CONF_PASSWORD) is None
    await hass.async_block_till_done()
    await hass.config_entries.async_unload(entry.entry_id)


async def test_reconfigure(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    mqtt_broker: MosquittoBroker,
) -> None:
    result = await init_integration.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    assert form_default(result, CONF_HOST) == mqtt_broker.host
    bad = connection(mqtt_broker)
    bad[CONF_PORT] = mqtt_broker.port + 1
    result = await hass.config_entries.flow.async_configure(result["flow_id"], bad)
    assert result["errors"] == {"base": "cannot_connect"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], connection(mqtt_broker, **{CONF_USERNAME: "someone"})
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert init_integration.data[CONF_USERNAME] == "someone"
    assert init_integration.data[CONF_PORTAL_ID] == PORTAL_ID
    await hass.async_block_till_done()
    # Reloaded (by its update listener) with the new connection data.
    assert init_integration.runtime_data.session.settings.username == "someone"


async def test_reconfigure_never_shows_the_password_and_keeps_it_when_left_empty(
    hass: HomeAssistant, auth_broker: MosquittoBroker, auth_simulator: VenusSimulator
) -> None:
    ca_pem = "-----BEGIN CERTIFICATE-----\nnot needed here\n-----END CERTIFICATE-----"
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=PORTAL_ID,
        data=connection(
            auth_broker,
            **{
                CONF_USERNAME: "venus",
                CONF_PASSWORD: "secret",
                CONF_CA_CERTIFICATE: ca_pem,
                CONF_PORTAL_ID: PORTAL_ID,
            },
        ),
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert form_default(result, CONF_USERNAME) == "venus"
    assert form_default(result, CONF_CA_CERTIFICATE) == ca_pem
    assert form_default(result, CONF_PASSWORD) is None
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], connection(auth_broker, **{CONF_USERNAME: "someone else"})
    )
    assert result["errors"] == {"base": "invalid_auth"}  # the stored password was tried
    assert form_default(result, CONF_PASSWORD) is None  # nor is a typed one sent back
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], connection(auth_broker, **{CONF_USERNAME: "venus"})
    )
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_PASSWORD] == "secret"
    assert entry.data.get(CONF_CA_CERTIFICATE) is None  # cleared in the form: gone
    assert entry.data[CONF_PORTAL_ID] == PORTAL_ID
    await hass.async_block_till_done()
    await hass.config_entries.async_unload(entry.entry_id)


async def test_reconfigure_to_another_gx_is_refused(
    hass: HomeAssistant, mqtt_broker: MosquittoBroker
) -> None:
    other = VenusSimulator(mqtt_broker.host, mqtt_broker.port, portal_id="0badc0de0001")
    await other.start()
    try:
        entry = MockConfigEntry(
            domain=DOMAIN,
            unique_id=PORTAL_ID,
            data=connection(mqtt_broker, **{CONF_PORTAL_ID: PORTAL_ID}),
        )
        entry.add_to_hass(hass)
        result = await entry.start_reconfigure_flow(hass)
        with SHORT_DISCOVERY:
            result = await hass.config_entries.flow.async_configure(
                result["flow_id"], connection(mqtt_broker)
            )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "wrong_portal"
    finally:
        await other.stop()


async def test_options_flow(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["type"] is FlowResultType.FORM
    schema = result["data_schema"].schema
    battery_key = next(key for key in schema if key == CONF_BATTERY_INSTANCE)
    assert schema[battery_key].config["options"] == ["auto", "512"]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_BATTERY_INSTANCE: "512",
            "chemistry": "calb_360",
            "virtual_bms_topic": " custom/vbms ",
            "virtual_bms_instance": 101.0,
            CONF_KEEPALIVE_INTERVAL: 20.0,
            "update_interval": "economy",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options == {
        CONF_BATTERY_INSTANCE: "512",
        "chemistry": "calb_360",
        "virtual_bms_topic": "custom/vbms",
        "virtual_bms_instance": 101,
        CONF_KEEPALIVE_INTERVAL: 20,
        "update_interval": "economy",
    }
    # The update interval applies at once: slow values every 5 minutes now.
    coordinator = init_integration.runtime_data.venus
    assert coordinator.update_interval_option == "economy"
    assert coordinator.writer.intervals[Pace.SLOW] == 300.0
    runner = init_integration.runtime_data.charge
    assert (runner.topic, runner.virtual_instance) == ("custom/vbms", 101)
    # The chemistry sets the windows at once: CALB tops out at 3.60 V per cell.
    bounds = runner.bounds()
    assert bounds is not None
    assert bounds.voltage_max_v == 57.6
    assert runner.preset.key == "calb_360"
    assert init_integration.runtime_data.venus.battery_instance == 512


async def test_options_flow_when_not_loaded(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    config_entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    schema = result["data_schema"].schema
    battery_key = next(key for key in schema if key == CONF_BATTERY_INSTANCE)
    assert schema[battery_key].config["options"] == ["auto"]
