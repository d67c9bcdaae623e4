"""The virtual BMS on the wire: a dbus-mqtt-battery JSON that makes Venus follow our limits.

mr-manuel's dbus-mqtt-battery driver turns one JSON topic into a battery service on
the GX. When that service is the BMS DVCC follows, its `Info.MaxChargeVoltage` and
`Info.MaxChargeCurrent` steer every charger: what seed 000 did by hand with a dummy
D-Bus service and dbus-spy. The JSON carries the real battery's readings (so the GX
still shows the true pack) with the limits that `logic.safety` decided; the driver
vanishes 60 s after the last one.

The driver copies only keys it knows (strings and numbers; it keeps the previous value
for a null), so the alarms it cannot carry are mapped onto the nearest one it has.
Nothing here decides a limit: `logic.safety.envelope` does, and is the only caller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .venus_state import VenusState
from .venus_topics import SYSTEM, ServiceKey

DEFAULT_TOPIC = "enphase/battery"  # the driver's config.sample.ini default
DEFAULT_INSTANCE = 100
MQTT_BATTERY_PRODUCT_ID = 0xFFFF
MQTT_BATTERY_PRODUCT_NAME = "MQTT Battery"
MAX_JSON_CELLS = 24  # the driver publishes Cell1..Cell24

# The alarm paths dbus-mqtt-battery has (its battery_dict).
DRIVER_ALARMS: tuple[str, ...] = (
    "LowVoltage",
    "HighVoltage",
    "LowSoc",
    "HighChargeCurrent",
    "HighDischargeCurrent",
    "HighCurrent",
    "CellImbalance",
    "HighChargeTemperature",
    "LowChargeTemperature",
    "LowCellVoltage",
    "LowTemperature",
    "HighTemperature",
    "FuseBlown",
)
# Alarms the driver lacks, carried as the nearest one it has (the worse level wins).
ALARM_CARRIED_AS: dict[str, str] = {
    "HighCellVoltage": "HighVoltage",
    "HighInternalTemperature": "HighTemperature",
    "BatteryTemperatureSensor": "HighTemperature",
}


@dataclass(frozen=True, slots=True)
class WireLimits:
    """The limits and permissions one document carries (decided by the envelope)."""

    max_charge_voltage: float
    max_charge_current: float
    max_discharge_current: float
    allow_to_charge: bool
    allow_to_discharge: bool

    def __post_init__(self) -> None:
        for name in ("max_charge_voltage", "max_charge_current", "max_discharge_current"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite, non-negative number")


def carried_alarms(alarms: dict[str, int]) -> dict[str, int]:
    """The real BMS's alarms as the driver can carry them."""
    carried: dict[str, int] = {}
    for name, level in alarms.items():
        target = name if name in DRIVER_ALARMS else ALARM_CARRIED_AS.get(name)
        if target is not None:
            carried[target] = max(level, carried.get(target, 0))
    return carried


def battery_json(
    *,
    voltage: float,
    current: float | None,
    power: float | None,
    soc: float,
    temperature: float | None,
    installed_ah: float | None,
    consumed_ah: float | None,
    cells: list[float],
    balancing: list[bool],
    alarms: dict[str, int],
    limits: WireLimits,
) -> dict[str, Any]:
    """The driver's JSON from plain values (all finite; the caller checked them)."""
    if power is None and current is not None:
        power = round(voltage * current, 1)
    dc: dict[str, Any] = {"Power": power if power is not None else 0.0, "Voltage": voltage}
    if current is not None:
        dc["Current"] = current
    if temperature is not None:
        dc["Temperature"] = temperature
    document: dict[str, Any] = {"Dc": dc, "Soc": soc}
    if installed_ah is not None:
        document["InstalledCapacity"] = installed_ah
    if consumed_ah is not None:
        document["ConsumedAmphours"] = consumed_ah
    document["Info"] = {
        "MaxChargeVoltage": round(limits.max_charge_voltage, 3),
        "MaxChargeCurrent": round(limits.max_charge_current, 1),
        "MaxDischargeCurrent": round(limits.max_discharge_current, 1),
    }
    document["Io"] = {
        "AllowToCharge": int(limits.allow_to_charge),
        "AllowToDischarge": int(limits.allow_to_discharge),
    }
    document["Alarms"] = {name: carried_alarms(alarms).get(name, 0) for name in DRIVER_ALARMS}
    shown = cells[:MAX_JSON_CELLS]
    if shown:
        document["Voltages"] = {f"Cell{n}": volts for n, volts in enumerate(shown, start=1)}
        document["Balances"] = {
            f"Cell{n}": int(flag) for n, flag in enumerate(balancing[: len(shown)], start=1)
        }
        document["System"] = {"NrOfCellsPerBattery": len(shown)}
    return document


def is_complete(document: dict[str, Any]) -> bool:
    """Whether the driver accepts this JSON (it needs Dc.Power, Dc.Voltage and Soc)."""
    dc = document.get("Dc", {})
    return all(
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        for value in (dc.get("Power"), dc.get("Voltage"), document.get("Soc"))
    )


@dataclass(frozen=True, slots=True)
class VirtualBmsStatus:
    """Whether the driver runs on the GX and whether DVCC follows it."""

    present: bool  # the service exists
    is_bms: bool  # ... and publishes a charge voltage limit (systemcalc's test)
    active: bool  # DVCC follows it


def is_mqtt_battery(items: dict[str, Any]) -> bool:
    """Whether a battery service is a dbus-mqtt-battery driver (ours or another one)."""
    return (
        items.get("/ProductId") == MQTT_BATTERY_PRODUCT_ID
        or items.get("/ProductName") == MQTT_BATTERY_PRODUCT_NAME
    )


def virtual_bms_status(state: VenusState, instance: int) -> VirtualBmsStatus:
    """Look for the driver's battery service and systemcalc's choice of BMS."""
    items = state.services.get(ServiceKey("battery", instance), {})
    present = is_mqtt_battery(items)
    active_service = state.value(SYSTEM, "/ActiveBmsService")
    active_instance = state.value(SYSTEM, "/ActiveBmsInstance")
    active = present and (
        (isinstance(active_service, str) and active_service.endswith(f"mqtt_battery_{instance}"))
        or active_instance == instance
    )
    return VirtualBmsStatus(
        present=present,
        is_bms=present and isinstance(items.get("/Info/MaxChargeVoltage"), float),
        active=active,
    )
