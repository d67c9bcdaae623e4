"""A simulated Victron Venus OS GX speaking the FlashMQ/dbus-flashmq MQTT dialect.

Standalone: imports only the standard library and aiomqtt, never the integration.
"""

from simulator.battery import BatteryConfig
from simulator.venus import DEFAULT_PORTAL_ID, VenusSimulator

__all__ = ["DEFAULT_PORTAL_ID", "BatteryConfig", "VenusSimulator"]

# Standalone device simulators (openEVSE WiFi, relay balancer); see docs/balancer-mqtt.md.
from simulator.balancer_hw import (
    BalancerConfig,
    BalancerHardware,
    CellSink,
    Fault,
    MemoryCells,
)
from simulator.balancer_sim import BalancerSimulator
from simulator.ev import EvModel
from simulator.evse_claims import ClaimProps
from simulator.evse_model import OpenEvseModel
from simulator.openevse import OpenEvseSimulator

__all__ += [
    "BalancerConfig",
    "BalancerHardware",
    "BalancerSimulator",
    "CellSink",
    "ClaimProps",
    "EvModel",
    "Fault",
    "MemoryCells",
    "OpenEvseModel",
    "OpenEvseSimulator",
]
