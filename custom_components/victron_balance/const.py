"""Constants for victron_balance."""

from __future__ import annotations

import logging
from typing import Final

DOMAIN: Final = "victron_balance"
LOGGER = logging.getLogger(__package__)

MANUFACTURER: Final = "Victron Energy"

CONF_PORTAL_ID: Final = "portal_id"
CONF_TLS: Final = "tls"
CONF_VERIFY_TLS: Final = "verify_tls"
CONF_CA_CERTIFICATE: Final = "ca_certificate"

CONF_BATTERY_INSTANCE: Final = "battery_instance"
BATTERY_AUTO: Final = "auto"
CONF_KEEPALIVE_INTERVAL: Final = "keepalive_interval"
CONF_UPDATE_INTERVAL: Final = "update_interval"
CONF_CHEMISTRY: Final = "chemistry"
CONF_VIRTUAL_BMS_TOPIC: Final = "virtual_bms_topic"
CONF_VIRTUAL_BMS_INSTANCE: Final = "virtual_bms_instance"
DEFAULT_CHEMISTRY: Final = "lifepo4_355"
KEEPALIVE_MIN: Final = 5
KEEPALIVE_MAX: Final = 55  # Venus stops publishing 60 s after the last keepalive

DEFAULT_PORT: Final = 1883
DISCOVERY_TIMEOUT: Final = 10.0

# openEVSE (options): its base topic (none: no EVSE), and a broker of its own if not Venus's.
CONF_EVSE_BASE_TOPIC: Final = "evse_base_topic"
CONF_EVSE_BROKER: Final = "evse_broker"
CONF_EVSE_IN_VENUS: Final = "evse_in_venus"
CONF_EV_CHARGER_TOPIC: Final = "ev_charger_topic"
CONF_EV_CHARGER_INSTANCE: Final = "ev_charger_instance"
# The relay balancer is this project's own open hardware (docs/balancer-mqtt.md).
BALANCER_MAKER: Final = "Victron Balance project"
# PV surplus (options, applied while running): a solar-forecast sensor (energy still to
# come today) and the controller's timing constants (logic.evse_control.PV_TIMING_OPTIONS).
CONF_SOLAR_FORECAST_ENTITY: Final = "solar_forecast_entity"
