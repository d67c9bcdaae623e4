"""Setup, unload, and the link's life: broker loss, heartbeat loss, GX restart."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest.mock import patch

import aiomqtt
import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_PORT,
    CONF_USERNAME,
    EVENT_HOMEASSISTANT_STOP,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.frame import report_usage
from pytest_homeassistant_custom_component.common import MockConfigEntry

import custom_components.victron_balance as integration
from custom_components.victron_balance import broker as broker_module
from custom_components.victron_balance.const import (
    CONF_CA_CERTIFICATE,
    CONF_PORTAL_ID,
    CONF_TLS,
    DOMAIN,
)
from custom_components.victron_balance.transport.mqtt_session import SessionClient
from custom_components.victron_balance.transport.venus_link import HEARTBEAT_TIMEOUT
from simulator import VenusSimulator
from tests.broker import MosquittoBroker
from tests.conftest import FrameReports
from tests.helpers import PORTAL_ID, advance, wait_until

SOC = "sensor.battery_state_of_charge"


def link_messages(entry: MockConfigEntry) -> int:
    """How many messages the integration has received (for settling the broker)."""
    return int(entry.runtime_data.link.state.messages)


PV = "sensor.victron_gx_pv_power"


async def test_setup_and_unload(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    """Setup reaches LOADED with live values; unload closes everything."""
    assert init_integration.state is ConfigEntryState.LOADED
    assert hass.states.get(SOC).state == str(simulator.get_value("battery", 512, "/Soc"))
    runtime = init_integration.runtime_data
    assert runtime.session.connected and runtime.link.alive
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.NOT_LOADED
    assert not runtime.session.connected


async def test_setup_retries_when_broker_is_down(
    hass: HomeAssistant, config_entry: MockConfigEntry, mqtt_broker: MosquittoBroker
) -> None:
    mqtt_broker.stop()
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY


async def test_setup_retries_when_venus_is_silent(
    hass: HomeAssistant, config_entry: MockConfigEntry, mqtt_broker: MosquittoBroker
) -> None:
    """A broker without a GX behind it: not ready, nothing left running."""
    config_entry.add_to_hass(hass)
    with patch("custom_components.victron_balance.transport.venus_link.FIRST_DATA_TIMEOUT", 0.3):
        await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY


async def test_setup_with_rejected_credentials_starts_reauth(
    hass: HomeAssistant, auth_broker: MosquittoBroker
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=PORTAL_ID,
        data={
            CONF_HOST: auth_broker.host,
            CONF_PORT: auth_broker.port,
            CONF_USERNAME: "venus",
            CONF_PASSWORD: "changed on the GX",
            CONF_PORTAL_ID: PORTAL_ID,
        },
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress()
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]


async def test_setup_fails_on_unreadable_ca_certificate(
    hass: HomeAssistant, mqtt_broker: MosquittoBroker
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=PORTAL_ID,
        data={
            CONF_HOST: mqtt_broker.host,
            CONF_PORT: mqtt_broker.port,
            CONF_TLS: True,
            CONF_CA_CERTIFICATE: "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----",
            CONF_PORTAL_ID: PORTAL_ID,
        },
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.reason is not None


@pytest.mark.usefixtures("tolerate_aiomqtt_socket_race")
async def test_broker_restart_makes_entities_unavailable_then_recovers(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    mqtt_broker: MosquittoBroker,
    simulator: VenusSimulator,
) -> None:
    """No reload needed: the session reconnects, resubscribes and asks for a full publish."""
    link = init_integration.runtime_data.link
    mqtt_broker.stop()
    await wait_until(lambda: hass.states.get(SOC).state == STATE_UNAVAILABLE)
    assert hass.states.get(PV).state == STATE_UNAVAILABLE
    mqtt_broker.start()
    simulator.set_value("battery", 512, "/Soc", 77.5)  # changed while we were away
    await wait_until(lambda: hass.states.get(SOC).state == "77.5", timeout=20)
    assert link.alive
    assert init_integration.runtime_data.session.reconnects >= 1


async def test_heartbeat_lost_makes_entities_unavailable(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    """A silent GX (heartbeat stopped, broker fine) is unavailable, not stale."""
    await advance(
        hass,
        freezer,
        HEARTBEAT_TIMEOUT - 1,
    )
    assert hass.states.get(SOC).state != STATE_UNAVAILABLE  # heartbeats keep it alive
    simulator.pause_heartbeat()
    await advance(
        hass,
        freezer,
        HEARTBEAT_TIMEOUT + 1,
    )
    assert hass.states.get(SOC).state == STATE_UNAVAILABLE
    assert hass.states.get(PV).state == STATE_UNAVAILABLE
    simulator.set_value("battery", 512, "/Soc", 12.5)
    simulator.resume_heartbeat()
    await advance(hass, freezer, 3)
    # Back: the link asks for a full publish, so values changed meanwhile arrive too.
    await wait_until(lambda: hass.states.get(SOC).state == "12.5")


async def test_device_vanishing_and_returning(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    """Zero-byte payloads: the battery device goes unavailable, the GX stays."""
    battery = simulator.batteries[512]
    simulator.remove_service("battery", 512)
    await wait_until(lambda: hass.states.get(SOC).state == STATE_UNAVAILABLE)
    assert hass.states.get("sensor.battery_cell_1_voltage").state == STATE_UNAVAILABLE
    assert hass.states.get(PV).state not in (STATE_UNAVAILABLE, STATE_UNKNOWN)
    simulator.add_battery(battery)
    await wait_until(lambda: hass.states.get(SOC).state not in (STATE_UNAVAILABLE,))
    await wait_until(
        lambda: hass.states.get("sensor.battery_cell_1_voltage").state != STATE_UNAVAILABLE
    )


async def test_gx_restart_triggers_full_publish(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    """dbus-flashmq announces its start with a plain `1`; we ask for everything again."""
    before = simulator.full_publish_count
    await simulator.publish_raw("N/02fc00000001/keepalive", b"1")
    await wait_until(lambda: simulator.full_publish_count > before)


async def test_keepalive_cadence(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    """One empty keepalive at start, then one every 30 s without a full publish."""
    link = init_integration.runtime_data.link
    sent_at_start = link.keepalives_sent
    full_before = simulator.full_publish_count
    for cycle in range(1, 4):
        await advance(hass, freezer, 29)
        assert link.keepalives_sent == sent_at_start + cycle - 1  # not yet
        await advance(hass, freezer, 1)
        assert link.keepalives_sent == sent_at_start + cycle
        await wait_until(lambda: simulator.keepalive_count == link.keepalives_sent)
    assert simulator.full_publish_count == full_before  # suppress-republish
    assert simulator.alive


async def test_keepalive_interval_option_applies_without_reload(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    hass.config_entries.async_update_entry(
        init_integration,
        options={"battery_instance": "auto", "chemistry": "lifepo4_355", "keepalive_interval": 10},
    )
    link = init_integration.runtime_data.link
    sent_at_start = link.keepalives_sent
    # The sleep already running finishes first; the next one uses the new interval.
    await advance(hass, freezer, 30)
    assert link.keepalives_sent == sent_at_start + 1
    await advance(hass, freezer, 10)
    assert link.keepalives_sent == sent_at_start + 2
    await wait_until(lambda: simulator.keepalive_count == link.keepalives_sent)


@pytest.mark.long_run
async def test_periodic_full_republish(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    """Every tenth keepalive asks for a full publish, to resynchronise lost values."""
    link = init_integration.runtime_data.link
    before = link.full_publishes_seen
    await advance(hass, freezer, 30 * 9)
    assert link.full_publishes_seen == before
    await advance(hass, freezer, 30)
    await wait_until(lambda: link.full_publishes_seen == before + 1)
    assert link.alive


async def test_home_assistant_stop_closes_the_connection(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    runtime = init_integration.runtime_data
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert not runtime.session.connected
    assert runtime.link._watchdog is None


async def test_keepalive_survives_a_failed_publish(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A keepalive that cannot be sent is logged; the loop goes on and the next one works."""
    link = init_integration.runtime_data.link
    sent = link.keepalives_sent
    with patch.object(SessionClient, "publish", side_effect=aiomqtt.MqttError("socket gone")):
        await advance(hass, freezer, 30)
    assert link.keepalives_sent == sent
    await advance(hass, freezer, 30)
    assert link.keepalives_sent == sent + 1


async def test_the_stop_job_and_the_stop_event_close_once(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    """Home Assistant runs the shutdown job, then fires the stop event: one close."""
    runtime = init_integration.runtime_data
    calls: list[str] = []
    original = runtime.charge.async_shutdown

    async def counting(reason: str) -> None:
        calls.append(reason)
        await original(reason)

    with patch.object(runtime.charge, "async_shutdown", counting):
        await asyncio.gather(runtime.close("home_assistant_stop"), runtime.close("unload"))
        hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
        await hass.async_block_till_done()
    assert calls == ["home_assistant_stop"]
    assert not runtime.session.connected


async def test_a_setup_that_fails_late_leaves_nothing_running(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    simulator: VenusSimulator,
    mqtt_broker: MosquittoBroker,
) -> None:
    """An unexpected error after the session, link and control exist: all of it closed."""
    sessions: list[Any] = []
    original = broker_module.async_create_session

    async def recording(*args: Any, **kwargs: Any) -> Any:
        session = await original(*args, **kwargs)
        sessions.append(session)
        return session

    config_entry.add_to_hass(hass)
    with (
        patch.object(integration, "async_create_session", recording),
        patch(
            "custom_components.victron_balance.charge_runner.ChargeRunner.async_load",
            side_effect=RuntimeError("boom"),
        ),
    ):
        assert not await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.SETUP_ERROR
    assert len(sessions) == 1
    assert not sessions[0].connected
    assert sessions[0]._task is None  # no reconnect loop left behind


async def test_a_deprecated_call_fails_its_test(
    hass: HomeAssistant, init_integration: MockConfigEntry, no_deprecated_calls: FrameReports
) -> None:
    """What the frame helper reports about the integration reaches the autouse fixture."""
    report_usage("calls an old API", breaks_in_ha_version="2099.1.0", integration_domain=DOMAIN)
    assert len(no_deprecated_calls.reports) == 1
    assert no_deprecated_calls.reports[0].startswith(
        "Detected that custom integration 'victron_balance' calls an old API"
    )
    no_deprecated_calls.reports.clear()  # expected here; any other one fails the test
