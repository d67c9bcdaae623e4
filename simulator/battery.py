"""Battery configuration and the values a BMS driver derives from its cells.

Two driver "flavours" are modelled:

* ``serialbattery`` (mr-manuel/dbus-serialbattery): publishes exactly N cells
  (``/Voltages/Cell1..N``, ``/Balances/Cell1..N``) plus ``/Voltages/Sum`` and
  ``/Voltages/Diff``.
* ``mqtt_battery`` (mr-manuel/dbus-mqtt-battery): always publishes Cell1..Cell24;
  cells the JSON did not give are ``null`` (a null cell is an absent cell).
  ``/UpdateIndex`` ticks at 1 Hz, so there is constant traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from simulator.items import JsonValue, Service

type Flavour = Literal["serialbattery", "mqtt_battery"]
FLAVOURS: tuple[Flavour, ...] = ("serialbattery", "mqtt_battery")

# dbus-mqtt-battery has a fixed table of 24 cell paths.
MQTT_BATTERY_CELL_SLOTS = 24
# dbus-serialbattery defaults (config.default.ini) used for the static limits.
MAX_CELL_VOLTAGE = 3.45
MIN_CELL_VOLTAGE = 2.90
MAX_CHARGE_CURRENT = 50.0
MAX_DISCHARGE_CURRENT = 60.0


@dataclass(frozen=True)
class BatteryConfig:
    """What battery to simulate."""

    instance: int = 512
    cells: int = 16
    flavour: Flavour = "serialbattery"
    capacity_ah: float = 280.0
    # dbus-mqtt-battery's update loop (1000 ms); only mqtt_battery ticks UpdateIndex.
    update_interval: float = 1.0

    def __post_init__(self) -> None:
        if self.flavour not in FLAVOURS:
            raise ValueError(f"unknown flavour {self.flavour!r}; use one of {FLAVOURS}")
        check_cell_count(self.flavour, self.cells)

    @property
    def dbus_name(self) -> str:
        """The full D-Bus service name the driver registers."""
        if self.flavour == "mqtt_battery":
            return f"com.victronenergy.battery.mqtt_battery_{self.instance}"
        return "com.victronenergy.battery.ttyUSB0"

    @property
    def cell_slots(self) -> int:
        """How many Cell paths the driver publishes."""
        return MQTT_BATTERY_CELL_SLOTS if self.flavour == "mqtt_battery" else self.cells


def check_cell_count(flavour: Flavour, cells: int) -> None:
    """Raise ValueError for a cell count the driver cannot represent."""
    limit = MQTT_BATTERY_CELL_SLOTS if flavour == "mqtt_battery" else 32
    if not 1 <= cells <= limit:
        raise ValueError(f"{flavour} supports 1..{limit} cells, got {cells}")


def cell_path(kind: Literal["Voltages", "Balances"], index: int) -> str:
    """``/Voltages/Cell3`` style path (1-based index)."""
    return f"/{kind}/Cell{index}"


def cell_voltages(service: Service, cells: int) -> list[float | None]:
    """The first ``cells`` cell voltages as stored (None = invalid)."""
    out: list[float | None] = []
    for index in range(1, cells + 1):
        item = service.items.get(cell_path("Voltages", index))
        value = None if item is None else item.value
        out.append(float(value) if isinstance(value, int | float) else None)
    return out


def derive(service: Service, config: BatteryConfig) -> dict[str, JsonValue]:
    """Values the driver computes from cells and current (min/max/ids/sum/diff/power)."""
    updates: dict[str, JsonValue] = {}
    present = [
        (index, volts)
        for index, volts in enumerate(cell_voltages(service, config.cells), start=1)
        if volts is not None
    ]
    if present:
        low_id, low = min(present, key=lambda p: p[1])
        high_id, high = max(present, key=lambda p: p[1])
        total = sum(v for _, v in present)
        updates |= {
            "/System/MinCellVoltage": low,
            "/System/MaxCellVoltage": high,
            "/System/MinVoltageCellId": f"C{low_id}",
            "/System/MaxVoltageCellId": f"C{high_id}",
            # The pack voltage follows the cells, rounded like a BMS reports it.
            "/Dc/0/Voltage": round(total, 2),
        }
        if config.flavour == "serialbattery":
            updates["/Voltages/Sum"] = round(total, 3)
            updates["/Voltages/Diff"] = round(high - low, 3)
    else:
        updates |= {
            "/System/MinCellVoltage": None,
            "/System/MaxCellVoltage": None,
            "/System/MinVoltageCellId": None,
            "/System/MaxVoltageCellId": None,
        }
        if config.flavour == "serialbattery":
            updates["/Voltages/Sum"] = None
            updates["/Voltages/Diff"] = None
    voltage = updates.get("/Dc/0/Voltage", _value(service, "/Dc/0/Voltage"))
    current = _value(service, "/Dc/0/Current")
    if isinstance(voltage, int | float) and isinstance(current, int | float):
        # Not rounded on purpose: the real drivers publish 53.25600000000001.
        updates["/Dc/0/Power"] = voltage * current
    else:
        updates["/Dc/0/Power"] = None
    balances = [
        _value(service, cell_path("Balances", index)) for index in range(1, config.cells + 1)
    ]
    updates["/Balancing"] = 1 if any(b == 1 for b in balances) else 0
    # serialbattery knows its cell count; a pack fed through dbus-mqtt-battery with a
    # JSON that carries none reports 0 ("unknown", behaviour 34).
    updates["/System/NrOfCellsPerBattery"] = (
        config.cells if config.flavour == "serialbattery" else 0
    )
    return updates


def _value(service: Service, path: str) -> JsonValue:
    item = service.items.get(path)
    return None if item is None else item.value
