"""Decoding Venus payloads and checking values defensively.

Observed on real Venus OS (see venus-observed.md): values come as `{"value": X}`,
invalid ones as `{"value": null}`, a vanished device as a zero-byte payload, and types
drift (bools as ints, ints as floats, JSON inside JSON strings). Nothing here trusts the
wire: each known path has a spec with a type and a plausible range.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any


class PayloadKind(Enum):
    """What a payload means before its value is looked at."""

    VALUE = "value"
    VANISHED = "vanished"


@dataclass(frozen=True, slots=True)
class Payload:
    """A decoded Venus payload."""

    kind: PayloadKind
    value: Any = None
    minimum: Any = None
    maximum: Any = None
    echo_token: str | None = None


class ValueProblem(ValueError):
    """A payload or value that cannot be used; the message says why."""


def _reject_constant(name: str) -> float:
    # json accepts NaN/Infinity literals, which Venus never sends on purpose.
    raise ValueProblem(f"non-finite number {name}")


# One decoder for every message (json.loads with options would build one per call).
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def decode_payload(raw: bytes) -> Payload:
    """Decode one message body; raise ValueProblem when it is not usable."""
    if not raw:
        return Payload(PayloadKind.VANISHED)
    try:
        document = _DECODER.decode(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueProblem("payload is not JSON") from err
    if not isinstance(document, dict):
        raise ValueProblem("payload is not a JSON object")
    if "value" not in document:
        raise ValueProblem("payload has no 'value'")
    token = document.get("full-publish-completed-echo")
    return Payload(
        PayloadKind.VALUE,
        value=document["value"],
        minimum=document.get("min"),
        maximum=document.get("max"),
        echo_token=token if isinstance(token, str) else None,
    )


class ValueKind(StrEnum):
    """How a path's value is interpreted."""

    FLOAT = "float"
    INT = "int"
    BOOL = "bool"
    TEXT = "text"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class ValueSpec:
    """Type and plausible range of one Venus path."""

    kind: ValueKind
    low: float | None = None
    high: float | None = None


def _number(raw: Any) -> float:
    # bool is an int subclass in Python; a bool where a number belongs is a type error.
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueProblem(f"expected a number, got {type(raw).__name__}")
    number = float(raw)
    if not math.isfinite(number):
        raise ValueProblem("non-finite number")
    return number


def _in_range(spec: ValueSpec, number: float) -> None:
    if (spec.low is not None and number < spec.low) or (
        spec.high is not None and number > spec.high
    ):
        raise ValueProblem(f"{number} is outside {spec.low}..{spec.high}")


def coerce(spec: ValueSpec, raw: Any) -> Any:
    """Convert a raw JSON value to the spec's type; raise ValueProblem if implausible."""
    match spec.kind:
        case ValueKind.FLOAT:
            number = _number(raw)
            _in_range(spec, number)
            return number
        case ValueKind.INT:
            number = _number(raw)
            if not number.is_integer():
                raise ValueProblem(f"expected an integer, got {raw}")
            _in_range(spec, number)
            return int(number)
        case ValueKind.BOOL:
            # Venus sends false/true for some flags and 0/1 for others.
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, int | float) and raw in (0, 1):
                return bool(raw)
            raise ValueProblem(f"expected a flag, got {raw!r}")
        case ValueKind.TEXT:
            if not isinstance(raw, str):
                raise ValueProblem(f"expected text, got {type(raw).__name__}")
            return raw
        case ValueKind.JSON:
            if isinstance(raw, str):
                try:
                    return json.loads(raw)
                except json.JSONDecodeError as err:
                    raise ValueProblem("string does not hold JSON") from err
            if isinstance(raw, list | dict):
                return raw
            raise ValueProblem(f"expected JSON data, got {type(raw).__name__}")
    raise ValueProblem(f"unknown value kind {spec.kind}")  # pragma: no cover


MAX_CELLS = 32
CELL_VOLTAGE_PATH = re.compile(r"^/Voltages/Cell(\d+)$")
CELL_BALANCE_PATH = re.compile(r"^/Balances/Cell(\d+)$")
# What an entity watches to follow every cell voltage (or balancing flag) at once.
ANY_CELL_VOLTAGE = "/Voltages/Cell*"
ANY_CELL_BALANCE = "/Balances/Cell*"

_CELL_VOLTAGE = ValueSpec(ValueKind.FLOAT, 0.0, 5.0)
_FLAG = ValueSpec(ValueKind.BOOL)
_ALARM = ValueSpec(ValueKind.INT, 0, 2)
_TEXT = ValueSpec(ValueKind.TEXT)
_PACK_VOLTAGE = ValueSpec(ValueKind.FLOAT, 0.0, 100.0)
_POWER = ValueSpec(ValueKind.FLOAT, -1_000_000.0, 1_000_000.0)
_ENERGY = ValueSpec(ValueKind.FLOAT, 0.0, 1_000_000_000.0)  # kWh counters

_COMMON: dict[str, ValueSpec] = {
    "/ProductId": ValueSpec(ValueKind.INT, 0, 0xFFFF),
    "/ProductName": _TEXT,
    "/CustomName": _TEXT,
    "/DeviceInstance": ValueSpec(ValueKind.INT, 0, 100_000),
    "/Connected": _FLAG,
}

_SYSTEM: dict[str, ValueSpec] = {
    "/Serial": _TEXT,
    "/Dc/Pv/Power": _POWER,
    **{f"/Ac/Grid/L{phase}/Power": _POWER for phase in (1, 2, 3)},
    **{f"/Ac/Consumption/L{phase}/Power": _POWER for phase in (1, 2, 3)},
    "/Control/Dvcc": _FLAG,
    "/Control/EffectiveChargeVoltage": _PACK_VOLTAGE,
    "/Dc/Battery/ChargeVoltage": _PACK_VOLTAGE,
    "/ActiveBatteryService": _TEXT,
    "/ActiveBmsService": _TEXT,
    "/ActiveBmsInstance": ValueSpec(ValueKind.INT, -255, 100_000),
    "/AutoSelectedBatteryService": _TEXT,
    "/AvailableBatteries": ValueSpec(ValueKind.JSON),
    "/AvailableBmsServices": ValueSpec(ValueKind.JSON),
    "/Dc/Battery/Power": _POWER,
    "/Dc/Battery/Soc": ValueSpec(ValueKind.FLOAT, 0.0, 100.0),
    **{f"/Ac/PvOnGrid/L{phase}/Power": _POWER for phase in (1, 2, 3)},
    **{f"/Ac/PvOnOutput/L{phase}/Power": _POWER for phase in (1, 2, 3)},
}

_SETTINGS: dict[str, ValueSpec] = {
    "/Settings/Services/Bol": ValueSpec(ValueKind.INT, 0, 7),
    "/Settings/SystemSetup/MaxChargeCurrent": ValueSpec(ValueKind.INT, -1, 10_000),
    "/Settings/SystemSetup/MaxChargeVoltage": ValueSpec(ValueKind.FLOAT, 0.0, 80.0),
    "/Settings/SystemSetup/BmsInstance": ValueSpec(ValueKind.INT, -255, 100_000),
    # On: MPPTs feed excess power in and ignore the charge current limit (only CVL holds).
    "/Settings/CGwacs/OvervoltageFeedIn": ValueSpec(ValueKind.INT, 0, 1),
}

_BATTERY: dict[str, ValueSpec] = {
    "/Dc/0/Voltage": _PACK_VOLTAGE,
    "/Dc/0/Current": ValueSpec(ValueKind.FLOAT, -5_000.0, 5_000.0),
    "/Dc/0/Power": _POWER,
    "/Dc/0/Temperature": ValueSpec(ValueKind.FLOAT, -60.0, 150.0),
    "/Soc": ValueSpec(ValueKind.FLOAT, 0.0, 100.0),
    "/ConsumedAmphours": ValueSpec(ValueKind.FLOAT, -100_000.0, 100_000.0),
    "/TimeToGo": ValueSpec(ValueKind.FLOAT, 0.0, 10_000_000.0),
    "/Capacity": ValueSpec(ValueKind.FLOAT, 0.0, 100_000.0),
    "/InstalledCapacity": ValueSpec(ValueKind.FLOAT, 0.0, 100_000.0),
    "/Info/MaxChargeVoltage": _PACK_VOLTAGE,
    "/Info/MaxChargeCurrent": ValueSpec(ValueKind.FLOAT, 0.0, 10_000.0),
    "/Info/MaxDischargeCurrent": ValueSpec(ValueKind.FLOAT, 0.0, 10_000.0),
    "/Info/BatteryLowVoltage": _PACK_VOLTAGE,
    "/System/MinCellVoltage": _CELL_VOLTAGE,
    "/System/MaxCellVoltage": _CELL_VOLTAGE,
    "/System/MinVoltageCellId": _TEXT,
    "/System/MaxVoltageCellId": _TEXT,
    # dbus-mqtt-battery publishes 0 when its JSON carries no cell count: 0 = unknown.
    "/System/NrOfCellsPerBattery": ValueSpec(ValueKind.INT, 0, MAX_CELLS),
    "/Io/AllowToCharge": _FLAG,
    "/Io/AllowToDischarge": _FLAG,
    "/Io/AllowToBalance": _FLAG,
    "/Balancing": _FLAG,
    "/History/ChargedEnergy": _ENERGY,
    "/History/DischargedEnergy": _ENERGY,
}

# Every alarm path Venus OS knows for a battery service (gui-v2 PageBatteryAlarms.qml).
BATTERY_ALARMS: tuple[str, ...] = (
    "LowVoltage",
    "HighVoltage",
    "HighCellVoltage",
    "LowCellVoltage",
    "LowSoc",
    "HighChargeCurrent",
    "HighDischargeCurrent",
    "HighCurrent",
    "CellImbalance",
    "HighChargeTemperature",
    "LowChargeTemperature",
    "HighTemperature",
    "LowTemperature",
    "HighInternalTemperature",
    "BatteryTemperatureSensor",
    "InternalFailure",
    "BmsCable",
    "FuseBlown",
    "Contactor",
    "MidVoltage",
    "StateOfHealth",
    "LowStarterVoltage",
    "HighStarterVoltage",
)
# Alarms of a battery monitor's second input, not of a BMS.
MONITOR_ONLY_ALARMS = frozenset({"MidVoltage", "LowStarterVoltage", "HighStarterVoltage"})
_BATTERY.update({f"/Alarms/{name}": _ALARM for name in BATTERY_ALARMS})

# What DVCC hands to each charger: the only place the effective current limit shows.
_CHARGER: dict[str, ValueSpec] = {
    "/Link/ChargeCurrent": ValueSpec(ValueKind.FLOAT, 0.0, 10_000.0),
    "/Link/ChargeVoltage": _PACK_VOLTAGE,
}

# An MPPT's lifetime yield (kWh) besides what DVCC hands it.
_SOLARCHARGER: dict[str, ValueSpec] = {**_CHARGER, "/Yield/User": _ENERGY}

# PV inverters and grid meters: lifetime kWh counters (grid: Forward = import).
_PVINVERTER: dict[str, ValueSpec] = {"/Ac/Energy/Forward": _ENERGY}
_GRID: dict[str, ValueSpec] = {"/Ac/Energy/Forward": _ENERGY, "/Ac/Energy/Reverse": _ENERGY}

# The EV charger service (dbus-mqtt-ev-charger): what the GUI can change, and what it shows.
_EVCHARGER: dict[str, ValueSpec] = {
    "/SetCurrent": ValueSpec(ValueKind.FLOAT, 0.0, 100.0),
    "/MaxCurrent": ValueSpec(ValueKind.FLOAT, 0.0, 100.0),
    "/StartStop": ValueSpec(ValueKind.INT, 0, 1),
    "/Mode": ValueSpec(ValueKind.INT, 0, 2),
    "/Status": ValueSpec(ValueKind.INT, 0, 255),
    "/Ac/Power": _POWER,
}

# The GX itself (venus-platform): its firmware, shown on the GX device.
_PLATFORM: dict[str, ValueSpec] = {"/Firmware/Installed/Version": _TEXT}

# Services the integration reads; everything else on the broker is skipped silently.
_BY_SERVICE: dict[str, dict[str, ValueSpec]] = {
    "system": _SYSTEM,
    "settings": _SETTINGS,
    "battery": _BATTERY,
    "vebus": _CHARGER,
    "solarcharger": _SOLARCHARGER,
    "pvinverter": _PVINVERTER,
    "grid": _GRID,
    "evcharger": _EVCHARGER,
    "platform": _PLATFORM,
}


def cell_number(pattern: re.Pattern[str], path: str) -> int | None:
    """Return N for a `/Voltages/CellN`-style path, or None if the path is not one."""
    match = pattern.match(path)
    return int(match.group(1)) if match else None


def spec_for(service: str, path: str) -> ValueSpec | None:
    """The spec for a path we use, or None for paths the integration ignores."""
    table = _BY_SERVICE.get(service)
    if table is None:
        return None
    if (spec := table.get(path)) is not None:
        return spec
    if service == "battery":
        if CELL_VOLTAGE_PATH.match(path):
            return _CELL_VOLTAGE
        if CELL_BALANCE_PATH.match(path):
            return _FLAG
    return _COMMON.get(path)
