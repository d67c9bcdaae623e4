"""Diagnostics for victron_balance, with credentials and identifiers redacted."""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant

from .const import CONF_CA_CERTIFICATE, CONF_PORTAL_ID
from .coordinator import VictronBalanceConfigEntry

TO_REDACT = {
    CONF_HOST,
    CONF_PASSWORD,
    CONF_USERNAME,
    CONF_CA_CERTIFICATE,
    CONF_PORTAL_ID,
    "/Serial",
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: VictronBalanceConfigEntry
) -> dict[str, Any]:
    """Connection health, counters and the raw Venus values the integration holds."""
    runtime = entry.runtime_data
    link, session, coordinator = runtime.link, runtime.session, runtime.venus
    state = link.state
    return {
        "entry": {
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            # The openEVSE's own broker (host, credentials) sits in the options.
            "options": async_redact_data(dict(entry.options), TO_REDACT),
        },
        "session": {
            "connected": session.connected,
            "reconnects": session.reconnects,
            "publish_failures": session.publish_failures,
            "last_error": session.last_error,
        },
        "link": {
            "alive": link.alive,
            "keepalives_sent": link.keepalives_sent,
            "full_publishes_seen": link.full_publishes_seen,
            "messages": state.messages,
            "rejected_messages": state.rejected,
            "ignored_messages": state.ignored,
        },
        "entity_writes": {
            "update_interval": coordinator.update_interval_option.value,
            "intervals_s": {pace.value: s for pace, s in coordinator.writer.intervals.items()},
            "flushes": coordinator.writer.flushes,
            "writes": coordinator.writer.writes,
        },
        "battery_instance": coordinator.battery_instance,
        "charge": runtime.charge.diagnostics(),
        "evse": None if runtime.evse is None else runtime.evse.diagnostics(),
        "balancers": runtime.balancer.diagnostics(),
        "services": {
            f"{key.service}/{key.instance}": async_redact_data(dict(items), TO_REDACT)
            for key, items in sorted(
                state.services.items(), key=lambda item: (item[0].service, item[0].instance)
            )
        },
    }
