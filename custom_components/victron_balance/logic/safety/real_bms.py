"""What the real BMS says right now: its limits, permissions, alarms and readings.

Read from the followed battery's items (never from our own virtual BMS). A value the
BMS does not publish is None; the envelope then uses the configured safe value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..venus_values import BATTERY_ALARMS

ALARM = 2  # 0 ok, 1 warning, 2 alarm

# Level-2 alarms after which no charge current may flow, whatever the BMS's CCL says.
# Low-side alarms (low voltage, low SoC, ...) are not among them: the pack needs charge.
CHARGE_BLOCKING_ALARMS = frozenset(
    {
        "HighVoltage",
        "HighCellVoltage",
        "HighChargeCurrent",
        "HighCurrent",
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
    }
)


def _float(value: Any) -> float | None:
    return value if isinstance(value, float) else None


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class BmsReading:
    """One look at the real battery service (values as the integration parsed them)."""

    cvl_v: float | None = None
    ccl_a: float | None = None
    dcl_a: float | None = None
    allow_charge: bool | None = None  # None: the BMS does not say (no block)
    allow_discharge: bool | None = None
    alarms: Mapping[str, int] = field(default_factory=dict)
    temperature_c: float | None = None
    voltage_v: float | None = None
    current_a: float | None = None
    power_w: float | None = None
    soc_pct: float | None = None
    installed_ah: float | None = None
    consumed_ah: float | None = None
    cells: tuple[float | None, ...] = ()  # Cell1..CellN of the confirmed pack
    balancing: tuple[bool | None, ...] = ()

    @classmethod
    def of(cls, items: Mapping[str, Any], cells: int) -> BmsReading:
        """Read a battery service's items; `cells` is the confirmed cell count."""
        alarms = {
            name: level
            for name in BATTERY_ALARMS
            if isinstance(level := items.get(f"/Alarms/{name}"), int)
            and not isinstance(level, bool)
        }
        return cls(
            cvl_v=_float(items.get("/Info/MaxChargeVoltage")),
            ccl_a=_float(items.get("/Info/MaxChargeCurrent")),
            dcl_a=_float(items.get("/Info/MaxDischargeCurrent")),
            allow_charge=_flag(items.get("/Io/AllowToCharge")),
            allow_discharge=_flag(items.get("/Io/AllowToDischarge")),
            alarms=alarms,
            temperature_c=_float(items.get("/Dc/0/Temperature")),
            voltage_v=_float(items.get("/Dc/0/Voltage")),
            current_a=_float(items.get("/Dc/0/Current")),
            power_w=_float(items.get("/Dc/0/Power")),
            soc_pct=_float(items.get("/Soc")),
            installed_ah=_float(items.get("/InstalledCapacity")),
            consumed_ah=_float(items.get("/ConsumedAmphours")),
            cells=tuple(_float(items.get(f"/Voltages/Cell{n}")) for n in range(1, cells + 1)),
            balancing=tuple(_flag(items.get(f"/Balances/Cell{n}")) for n in range(1, cells + 1)),
        )

    @property
    def documentable(self) -> bool:
        """Enough for the driver to accept a document (it needs voltage and SoC)."""
        return self.voltage_v is not None and self.soc_pct is not None

    def to_dict(self) -> dict[str, Any]:
        """Plain values (persisted: a crash must not leave the envelope mute, I3)."""
        return {
            name: (list(value) if isinstance(value, tuple) else value)
            for name in self.__dataclass_fields__
            if not isinstance(value := getattr(self, name), Mapping)
        } | {"alarms": dict(self.alarms)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BmsReading:
        """Inverse of `to_dict`; ValueError when unreadable."""
        try:
            values = {name: data[name] for name in cls.__dataclass_fields__}
            values["cells"] = tuple(_float(v) if v is not None else None for v in values["cells"])
            values["balancing"] = tuple(values["balancing"])
            values["alarms"] = {str(k): int(v) for k, v in values["alarms"].items()}
        except (KeyError, TypeError, AttributeError, ValueError) as err:
            raise ValueError(f"unreadable BMS reading: {err}") from err
        return cls(**values)

    @property
    def complete(self) -> bool:
        """Every reading a document and the controller need is there and finite."""
        return (
            self.voltage_v is not None
            and self.soc_pct is not None
            and bool(self.cells)
            and all(volts is not None for volts in self.cells)
        )

    def alarmed(self, names: frozenset[str] | None = None) -> list[str]:
        """Alarms at alarm level (2), optionally only those in `names`."""
        return sorted(
            name
            for name, level in self.alarms.items()
            if level >= ALARM and (names is None or name in names)
        )
