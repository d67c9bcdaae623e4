"""The virtual BMS: a dbus-mqtt-battery JSON that makes Venus follow our limits.

mr-manuel's dbus-mqtt-battery driver turns one JSON topic into a battery service on
the GX. When that service is the BMS DVCC follows, its `Info.MaxChargeVoltage` and
`Info.MaxChargeCurrent` steer every charger: what seed 000 did by hand with a dummy
D-Bus service and dbus-spy. The JSON carries the real battery's values (so the GX still
shows the true pack) with our limits; it must arrive at least once a second, and the
driver vanishes 60 s after the last one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .venus_state import BatteryView, VenusState
from .venus_topics import SYSTEM, ServiceKey
from .venus_values import BATTERY_ALARMS

DEFAULT_TOPIC = "enphase/battery"  # the driver's config.sample.ini default
DEFAULT_INSTANCE = 100
MQTT_BATTERY_PRODUCT_ID = 0xFFFF
MAX_JSON_CELLS = 24  # the driver publishes Cell1..Cell24


@dataclass(frozen=True, slots=True)
class VirtualLimits:
    """What the virtual BMS tells DVCC."""

    max_charge_voltage: float
    max_charge_current: float
    max_discharge_current: float
    allow_to_charge: bool
    allow_to_discharge: bool = True

    def __post_init__(self) -> None:
        for name in ("max_charge_voltage", "max_charge_current", "max_discharge_current"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite, non-negative number")


def _number(value: Any) -> float | None:
    return value if isinstance(value, float) else None


def build_battery_json(battery: BatteryView, limits: VirtualLimits) -> dict[str, Any]:
    """The driver's JSON: the real pack's readings with our limits and permissions."""
    voltage = _number(battery.value("/Dc/0/Voltage"))
    current = _number(battery.value("/Dc/0/Current"))
    power = _number(battery.value("/Dc/0/Power"))
    if power is None and voltage is not None and current is not None:
        power = round(voltage * current, 1)
    document: dict[str, Any] = {
        "Dc": {
            "Power": power,
            "Voltage": voltage,
            "Current": current,
            "Temperature": _number(battery.value("/Dc/0/Temperature")),
        },
        "Soc": _number(battery.value("/Soc")),
        "InstalledCapacity": _number(battery.value("/InstalledCapacity")),
        "ConsumedAmphours": _number(battery.value("/ConsumedAmphours")),
        "Info": {
            "MaxChargeVoltage": round(limits.max_charge_voltage, 3),
            "MaxChargeCurrent": round(limits.max_charge_current, 1),
            "MaxDischargeCurrent": round(limits.max_discharge_current, 1),
        },
        "Io": {
            "AllowToCharge": int(limits.allow_to_charge),
            "AllowToDischarge": int(limits.allow_to_discharge),
        },
        "Alarms": {
            name: alarm
            for name in BATTERY_ALARMS
            if isinstance(alarm := battery.value(f"/Alarms/{name}"), int)
        },
    }
    cells = {
        number: cell_voltage
        for number, cell_voltage in battery.cell_voltages().items()
        if cell_voltage is not None and number <= MAX_JSON_CELLS
    }
    if cells:
        document["Voltages"] = {f"Cell{number}": value for number, value in cells.items()}
        document["Balances"] = {
            f"Cell{number}": int(bool(battery.cell_balancing(number))) for number in cells
        }
        document["System"] = {"NrOfCellsPerBattery": len(cells)}
    # The driver needs Dc.Power, Dc.Voltage and Soc; without them it ignores the JSON.
    return document


def is_complete(document: dict[str, Any]) -> bool:
    """Whether the driver will accept this JSON (it needs power, voltage and SoC)."""
    dc = document.get("Dc", {})
    return all(value is not None for value in (dc.get("Power"), dc.get("Voltage"))) and (
        document.get("Soc") is not None
    )


@dataclass(frozen=True, slots=True)
class VirtualBmsStatus:
    """Whether the driver runs on the GX and whether DVCC follows it."""

    present: bool
    active: bool


def virtual_bms_status(state: VenusState, instance: int) -> VirtualBmsStatus:
    """Look for the driver's battery service and systemcalc's choice of BMS."""
    items = state.services.get(ServiceKey("battery", instance), {})
    present = items.get("/ProductId") == MQTT_BATTERY_PRODUCT_ID or (
        items.get("/ProductName") == "MQTT Battery"
    )
    active_service = state.value(SYSTEM, "/ActiveBmsService")
    active_instance = state.value(SYSTEM, "/ActiveBmsInstance")
    active = present and (
        (isinstance(active_service, str) and active_service.endswith(f"mqtt_battery_{instance}"))
        or active_instance == instance
    )
    return VirtualBmsStatus(present=present, active=active)
