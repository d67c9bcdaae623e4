"""Turning config entry data into broker settings and connected sessions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant

from .const import CONF_CA_CERTIFICATE, CONF_TLS, CONF_VERIFY_TLS, DEFAULT_PORT
from .transport.mqtt_session import (
    BrokerSettings,
    MqttSession,
    SessionWill,
    TaskFactory,
    build_tls_context,
)

STATUS_PREFIX = "victron_balance"


def status_will(*parts: str) -> SessionWill:
    """Our Last Will on `victron_balance/<parts>/status` (e.g. the portal id)."""
    return SessionWill("/".join((STATUS_PREFIX, *parts, "status")))


def broker_settings(data: Mapping[str, Any]) -> BrokerSettings:
    """Broker settings from config entry data."""
    return BrokerSettings(
        host=data[CONF_HOST],
        port=int(data.get(CONF_PORT, DEFAULT_PORT)),
        username=data.get(CONF_USERNAME) or None,
        password=data.get(CONF_PASSWORD) or None,
        tls=bool(data.get(CONF_TLS, False)),
        verify_tls=bool(data.get(CONF_VERIFY_TLS, True)),
        ca_certificate=data.get(CONF_CA_CERTIFICATE) or None,
    )


async def async_create_session(
    hass: HomeAssistant,
    data: Mapping[str, Any],
    *,
    name: str,
    task_factory: TaskFactory | None = None,
    will: SessionWill | None = None,
) -> MqttSession:
    """Build a session (TLS context loaded off the event loop) without connecting.

    Raises ssl.SSLError or ValueError when the CA certificate cannot be loaded.
    """
    settings = broker_settings(data)
    tls_context = await hass.async_add_executor_job(build_tls_context, settings)
    if task_factory is None:
        return MqttSession(settings, name=name, tls_context=tls_context, will=will)
    return MqttSession(
        settings, name=name, tls_context=tls_context, task_factory=task_factory, will=will
    )
