"""mr-manuel's dbus-mqtt-battery: a battery service fed by JSON on one MQTT topic.

What the real driver (dbus-mqtt-battery.py) does, and this one copies:

* It subscribes to ``topic`` (config.sample.ini default ``enphase/battery``).
  The JSON may be plain or wrapped as ``{"value":"<json string>"}`` (behaviour 28).
  A JSON is valid only with ``Dc.Power``, ``Dc.Voltage`` and ``Soc``.
* The service does not exist until the first valid JSON (behaviour 26); then it
  appears as ``com.victronenergy.battery.mqtt_battery_<instance>`` (instance 100,
  ProductId 65535, ProductName "MQTT Battery") with all 24 cell slots, null
  where the JSON gave no cell (behaviour 12). The real driver polls for the first
  data every 5 s; this one creates the service on the message itself.
* The JSON is merged into a persistent dict (keys it omits keep their previous
  values); missing Current, Capacity/ConsumedAmphours, cell min/max/ids, Sum and
  Diff are derived. Every ``update_interval`` (1 s) the dict is written to D-Bus
  if a JSON came in since the last update, and ``/UpdateIndex`` ticks (behaviour
  13). That is why a W/ to one of its paths is echoed and then reverted by the
  next JSON, even one that omits the key (behaviour 29).
* ``timeout`` s (60) after the last parseable JSON the driver exits: the service
  vanishes with zero-byte payloads and comes back on the next JSON (behaviour 27).
* Time to go is not computed (the real driver does so every 300 s).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from simulator.items import JsonValue, Service

_LOGGER = logging.getLogger(__name__)

CELL_SLOTS = 24
PRODUCT_ID = 0xFFFF

_ZERO_ALARMS = (
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
_NULL_PATHS = (
    "/Dc/0/Power",
    "/Dc/0/Voltage",
    "/Dc/0/Current",
    "/Dc/0/Temperature",
    "/InstalledCapacity",
    "/ConsumedAmphours",
    "/Capacity",
    "/Soc",
    "/TimeToGo",
    "/Balancing",
    "/SystemSwitch",
    "/Info/ChargeRequest",
    "/Info/MaxChargeVoltage",
    "/Info/MaxChargeCurrent",
    "/Info/MaxDischargeCurrent",
    "/History/ChargeCycles",
    "/History/MinimumVoltage",
    "/History/MaximumVoltage",
    "/History/TotalAhDrawn",
    "/System/MinVoltageCellId",
    "/System/MinCellVoltage",
    "/System/MaxVoltageCellId",
    "/System/MaxCellVoltage",
    "/System/MinTemperatureCellId",
    "/System/MinCellTemperature",
    "/System/MaxTemperatureCellId",
    "/System/MaxCellTemperature",
    "/System/MOSTemperature",
    "/Voltages/Sum",
    "/Voltages/Diff",
    "/Io/AllowToCharge",
    "/Io/AllowToDischarge",
    "/Io/AllowToBalance",
    "/Io/ExternalRelay",
)


def default_values() -> dict[str, JsonValue]:
    """The driver's battery_dict at process start."""
    values: dict[str, JsonValue] = dict.fromkeys(_NULL_PATHS)
    values |= {f"/Alarms/{name}": 0 for name in _ZERO_ALARMS}
    values |= {
        # 0 unless the JSON gives a cell count (behaviour 34).
        "/System/NrOfCellsPerBattery": 0,
        "/System/NrOfModulesOnline": 1,
        "/System/NrOfModulesOffline": 0,
        "/System/NrOfModulesBlockingCharge": 0,
        "/System/NrOfModulesBlockingDischarge": 0,
    }
    for index in range(1, CELL_SLOTS + 1):
        values[f"/Voltages/Cell{index}"] = None
        values[f"/Balances/Cell{index}"] = None
    return values


def parse_payload(payload: bytes) -> dict[str, JsonValue] | None:
    """The JSON object of a message, unwrapped from ``{"value":"<json>"}``; None if unusable."""
    if not payload:
        return None
    try:
        data = json.loads(payload)
        if isinstance(data, dict) and set(data) == {"value"} and isinstance(data["value"], str):
            data = json.loads(data["value"])
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def is_valid(data: dict[str, JsonValue]) -> bool:
    """The driver's minimum: Dc.Power, Dc.Voltage and Soc."""
    dc = data.get("Dc")
    return isinstance(dc, dict) and "Power" in dc and "Voltage" in dc and "Soc" in data


def _is_scalar(value: JsonValue) -> bool:
    # The driver takes str/int/float only (type() checks: bools are refused).
    return type(value) in (str, int, float)


def _number(value: JsonValue) -> float | None:
    return float(value) if type(value) in (int, float) else None  # type: ignore[arg-type]


def merge(values: dict[str, JsonValue], data: dict[str, JsonValue]) -> None:
    """Merge one valid JSON into the persistent values, deriving what is missing."""
    for key, item in data.items():
        if isinstance(item, dict):
            for sub, value in item.items():
                path = f"/{key}/0/{sub}" if key == "Dc" else f"/{key}/{sub}"
                if path in values and _is_scalar(value):
                    values[path] = value
        elif f"/{key}" in values and _is_scalar(item):
            values[f"/{key}"] = item
    dc = data["Dc"]
    assert isinstance(dc, dict)
    power, volts = _number(values["/Dc/0/Power"]), _number(values["/Dc/0/Voltage"])
    if "Current" not in dc and power is not None and volts is not None:
        values["/Dc/0/Current"] = round(power / volts, 3) if volts != 0 else 0
    installed, soc = _number(values["/InstalledCapacity"]), _number(values["/Soc"])
    given_ah = "ConsumedAmphours" in data or "Capacity" in data
    if not given_ah and installed is not None and soc is not None:
        values["/ConsumedAmphours"] = round(installed * (100 - soc) / 100, 2)
        values["/Capacity"] = round(installed * soc / 100, 2)
    cells = data.get("Voltages")
    if isinstance(cells, dict):
        readings = {
            k: n for k, v in cells.items() if k.startswith("Cell") and (n := _number(v)) is not None
        }
        if readings:
            system = data.get("System")
            given = system if isinstance(system, dict) else {}
            low_id = min(readings, key=readings.__getitem__)
            high_id = max(readings, key=readings.__getitem__)
            derived: dict[str, JsonValue] = {
                "/System/MinVoltageCellId": low_id,
                "/System/MinCellVoltage": readings[low_id],
                "/System/MaxVoltageCellId": high_id,
                "/System/MaxCellVoltage": readings[high_id],
            }
            for path, value in derived.items():
                if path.rsplit("/", 1)[1] not in given:
                    values[path] = value
            if "Sum" not in cells:
                values["/Voltages/Sum"] = sum(readings.values())
            if "Diff" not in cells:
                values["/Voltages/Diff"] = readings[high_id] - readings[low_id]


@dataclass(frozen=True)
class MqttBatteryConfig:
    """The driver's config.ini."""

    topic: str = "enphase/battery"
    instance: int = 100
    device_name: str = "MQTT Battery"
    timeout: float = 60.0  # 0 disables
    update_interval: float = 1.0


class DriverHost(Protocol):
    """What the driver needs from the simulated GX."""

    def add_driver_service(self, service: Service) -> None:
        """Register and publish a new service."""

    def update_driver_service(self, service: Service, values: dict[str, JsonValue]) -> None:
        """Set values (published when changed)."""

    def remove_driver_service(self, service: Service) -> None:
        """The service vanishes."""


class MqttBatteryDriver:
    """State machine of one dbus-mqtt-battery process (restarted on timeout)."""

    def __init__(
        self, config: MqttBatteryConfig, host: DriverHost, now: Callable[[], float]
    ) -> None:
        self.config = config
        self._host = host
        self._now = now
        self.values = default_values()
        self.service: Service | None = None
        self.last_changed: float | None = None
        self._pending = False
        self.messages = 0
        self.restarts = 0

    def handle_message(self, payload: bytes) -> None:
        """One message on the JSON topic."""
        data = parse_payload(payload)
        if data is None:
            _LOGGER.info("dbus-mqtt-battery: ignoring a message that is not a JSON object")
            return
        self.messages += 1
        # Like the driver: any parseable JSON counts for the timeout.
        self.last_changed = self._now()
        if not is_valid(data):
            _LOGGER.info("dbus-mqtt-battery: JSON lacks Dc.Power, Dc.Voltage or Soc")
            return
        merge(self.values, data)
        self._pending = True
        if self.service is None:
            self.service = self._build_service()
            self._pending = False
            self._host.add_driver_service(self.service)

    def tick(self) -> None:
        """The driver's 1 s update: push new data, tick UpdateIndex, honour the timeout."""
        service = self.service
        if service is None:
            return
        if self._pending:
            self._pending = False
            self._host.update_driver_service(service, dict(self.values))
        timeout = self.config.timeout
        if timeout and self.last_changed is not None and self._now() - self.last_changed > timeout:
            _LOGGER.info("dbus-mqtt-battery: no message for %.0f s, exiting", timeout)
            self._restart()
            return
        index = service.items["/UpdateIndex"].value
        current = index if isinstance(index, int) else 0
        self._host.update_driver_service(service, {"/UpdateIndex": (current + 1) % 256})

    def _restart(self) -> None:
        service, self.service = self.service, None
        self.values = default_values()
        self.last_changed = None
        self._pending = False
        self.restarts += 1
        if service is not None:
            self._host.remove_driver_service(service)

    def _build_service(self) -> Service:
        cfg = self.config
        service = Service(
            "battery", cfg.instance, f"com.victronenergy.battery.mqtt_battery_{cfg.instance}"
        )
        service.add("/Mgmt/ProcessName", "/data/etc/dbus-mqtt-battery/dbus-mqtt-battery.py")
        service.add("/Mgmt/ProcessVersion", "Unknown version, and running on Python 3.12")
        service.add("/Mgmt/Connection", "MQTT Battery service")
        service.add("/DeviceInstance", cfg.instance)
        service.add("/ProductId", PRODUCT_ID)
        service.add("/ProductName", "MQTT Battery")
        service.add("/CustomName", cfg.device_name)
        service.add("/FirmwareVersion", "1.0.8 (20240702)")
        service.add("/Connected", 1)
        service.add("/Latency", None)
        service.add("/UpdateIndex", 0, writable=True)
        for path, value in self.values.items():
            # velib add_path(..., writeable=True): any client may SetValue.
            service.add(path, value, writable=True)
        return service
