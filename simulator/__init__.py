"""A simulated Victron Venus OS GX speaking the FlashMQ/dbus-flashmq MQTT dialect.

Standalone: imports only the standard library and aiomqtt, never the integration.
"""

from simulator.battery import BatteryConfig
from simulator.venus import DEFAULT_PORTAL_ID, VenusSimulator

__all__ = ["DEFAULT_PORTAL_ID", "BatteryConfig", "VenusSimulator"]
