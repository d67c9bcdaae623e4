"""mr-manuel's dbus-mqtt-ev-charger: an EV charger service fed by JSON on one MQTT topic.

What the real driver (dbus-mqtt-ev-charger.py) does, and this one copies:

* It subscribes to ``topic`` (config.sample.ini default ``custom/ev-charger``).
  A JSON is valid only with ``Ac.Power``. Any parseable JSON, valid or not,
  resets the timeout; unparseable payloads are ignored (and counted here).
* The service does not exist until the first valid JSON (behaviour 26); then it
  appears as ``com.victronenergy.evcharger.mqtt_ev_charger_<instance>`` (instance
  100, ProductId 65535, ProductName "MQTT EV Charger"). The real driver polls for
  the first data every 5 s; this one creates the service on the message itself.
* The JSON is merged into a persistent dict (keys it omits keep their previous
  values, unknown keys and non-scalar values are dropped). Without ``Current`` it
  is derived: ``Ac.Power / voltage``, divided by 3 (or 2) when the JSON names
  three (or two) of ``Ac.L1..L3`` (behaviour 30). Without ``ChargingTime`` the
  driver counts it from the first ``Ac.Power > 0`` and resets it after 300 s at 0 W;
  like the real one, the count reaches D-Bus only with the next JSON.
* Every ``update_interval`` (1 s) the whole dict is written to D-Bus if a JSON came
  in since the last update, and ``/UpdateIndex`` ticks. All dict paths are
  writable and the write callback only logs, so a W/ (SetCurrent, StartStop, Mode
  from the GUI/VRM) is echoed and then reverted by the next JSON, even one that
  omits the key (behaviour 29); nothing is forwarded to the MQTT source.
* ``/Position`` comes from the config (read-only); a JSON ``Position`` is ignored.
* ``timeout`` s (60) after the last parseable JSON the driver exits: the service
  vanishes with zero-byte payloads and comes back on the next JSON (behaviour 27).

Deviation: the real driver takes plain JSON only; with ``unwrap_value`` (default)
this one also unwraps ``{"value":"<json string>"}`` like dbus-mqtt-battery does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from simulator.items import JsonValue, Service
from simulator.mqtt_battery import DriverHost

_LOGGER = logging.getLogger(__name__)

PRODUCT_ID = 0xFFFF
PRODUCT_NAME = "MQTT EV Charger"
# The driver's STOP_CHARGING_COUNTER_AFTER: ChargingTime resets after this long at 0 W.
STOP_CHARGING_COUNTER_AFTER = 300.0

STATUS = {
    0: "Disconnected",
    1: "Connected",
    2: "Charging",
    3: "Charged",
    4: "Waiting for sun",
    5: "Waiting for RFID",
    6: "Waiting for start",
    7: "Low SOC",
    8: "Ground test error",
    9: "Welded contacts test error",
    10: "CP input test error (shorted)",
    11: "Residual current detected",
    12: "Undervoltage detected",
    13: "Overvoltage detected",
    14: "Overheating detected",
    20: "Charging limit",
    21: "Start charging",
    22: "Switching to 3-phase",
    23: "Switching to 1-phase",
    24: "Stop charging",
}
MODES = {0: "Manual", 1: "Automatic", 2: "Scheduled"}


def default_values() -> dict[str, JsonValue]:
    """The driver's ev_charger_dict at process start."""
    return {
        "/Ac/Power": None,
        "/Ac/L1/Power": None,
        "/Ac/L2/Power": None,
        "/Ac/L3/Power": None,
        "/Ac/Energy/Forward": None,
        "/Current": None,
        "/MaxCurrent": None,
        "/SetCurrent": None,
        "/AutoStart": 0,
        "/ChargingTime": None,
        "/EnableDisplay": 1,
        "/Mode": 1,
        "/Model": None,
        "/Role": None,
        "/StartStop": 1,
        "/Status": None,
    }


def decode(payload: bytes, unwrap: bool = True) -> tuple[bool, JsonValue]:
    """(True, the parsed JSON of any type), or (False, None) if the payload does not parse."""
    try:
        data: JsonValue = json.loads(payload)
        if (
            unwrap
            and isinstance(data, dict)
            and set(data) == {"value"}
            and isinstance(data["value"], str)
        ):
            data = json.loads(data["value"])
    except (ValueError, UnicodeDecodeError):
        return False, None
    return True, data


def is_valid(data: JsonValue) -> bool:
    """The driver's minimum: Ac.Power."""
    if not isinstance(data, dict):
        return False
    ac = data.get("Ac")
    return isinstance(ac, dict) and "Power" in ac


def _is_scalar(value: JsonValue) -> bool:
    # The driver takes str/int/float only (type() checks: bools are refused).
    return type(value) in (str, int, float)


def _number(value: JsonValue) -> float | None:
    return float(value) if type(value) in (int, float) else None  # type: ignore[arg-type]


def _flatten(data: dict[str, JsonValue], prefix: str = "", depth: int = 1) -> dict[str, JsonValue]:
    # The driver walks up to three levels: /Ac/L1/Power.
    flat: dict[str, JsonValue] = {}
    for key, value in data.items():
        path = f"{prefix}/{key}"
        if isinstance(value, dict) and depth < 3:
            flat |= _flatten(value, path, depth + 1)
        else:
            flat[path] = value
    return flat


def merge(values: dict[str, JsonValue], data: dict[str, JsonValue], voltage: float) -> None:
    """Merge one valid JSON into the persistent values, deriving Current if missing."""
    for path, value in _flatten(data).items():
        if path in values and _is_scalar(value):
            values[path] = value
        else:
            _LOGGER.debug("dbus-mqtt-ev-charger: key %s with value %r is not valid", path, value)
    if "Current" in data:
        return
    ac = data["Ac"]
    assert isinstance(ac, dict)
    phases = sum(1 for phase in ("L1", "L2", "L3") if phase in ac)
    divisor = phases if phases >= 2 else 1
    power = _number(values["/Ac/Power"])
    if power is not None:
        values["/Current"] = round(power / voltage / divisor, 3) if power != 0 else 0


@dataclass(frozen=True)
class MqttEvChargerConfig:
    """The driver's config.ini."""

    topic: str = "custom/ev-charger"
    instance: int = 100
    device_name: str = PRODUCT_NAME
    timeout: float = 60.0  # 0 disables
    voltage: float = 230.0  # for Current when the JSON has none
    # /Position as is: the driver says 0 AC output, 1 AC input; config.sample.ini the reverse.
    position: int = 0
    update_interval: float = 1.0
    unwrap_value: bool = True  # also accept {"value":"<json>"} (the real driver does not)


class MqttEvChargerDriver:
    """State machine of one dbus-mqtt-ev-charger process (restarted on timeout)."""

    def __init__(
        self, config: MqttEvChargerConfig, host: DriverHost, now: Callable[[], float]
    ) -> None:
        self.config = config
        self._host = host
        self._now = now
        self.values = default_values()
        self.service: Service | None = None
        self.last_changed: float | None = None
        self._pending = False
        self._count_time = False
        self._charge_start: float | None = None
        self._stopped_since: float | None = None
        self.messages = 0  # valid JSONs (with Ac.Power)
        self.ignored = 0  # payloads that are empty, not JSON, or lack Ac.Power
        self.restarts = 0

    def handle_message(self, payload: bytes) -> None:
        """One message on the JSON topic."""
        if not payload:
            self.ignored += 1
            _LOGGER.info("dbus-mqtt-ev-charger: ignoring an empty message")
            return
        parsed, data = decode(payload, self.config.unwrap_value)
        if not parsed:
            self.ignored += 1
            _LOGGER.info("dbus-mqtt-ev-charger: ignoring a message that is not JSON")
            return
        # Like the driver: any parseable JSON counts for the timeout.
        self.last_changed = self._now()
        if not is_valid(data) or not isinstance(data, dict):
            self.ignored += 1
            _LOGGER.info("dbus-mqtt-ev-charger: JSON lacks Ac.Power")
            return
        self.messages += 1
        merge(self.values, data, self.config.voltage)
        self._count_time = "ChargingTime" not in data
        self._pending = True
        if self.service is None:
            self.service = self._build_service()
            self._pending = False
            self._host.add_driver_service(self.service)

    def tick(self) -> None:
        """The driver's 1 s update: push new data, count ChargingTime, honour the timeout."""
        service = self.service
        if service is None:
            return
        now = self._now()
        if self._pending:
            self._pending = False
            self._host.update_driver_service(service, dict(self.values))
        if self._count_time:
            self._count_charging_time(now)
        timeout = self.config.timeout
        if timeout and self.last_changed is not None and now - self.last_changed > timeout:
            _LOGGER.info("dbus-mqtt-ev-charger: no message for %.0f s, exiting", timeout)
            self._restart()
            return
        index = service.items["/UpdateIndex"].value
        current = index if isinstance(index, int) else 0
        self._host.update_driver_service(service, {"/UpdateIndex": (current + 1) % 256})

    def _count_charging_time(self, now: float) -> None:
        # Into the dict only: it reaches D-Bus with the next JSON's update.
        power = _number(self.values["/Ac/Power"])
        if power is None:
            return
        if self._charge_start is None and power > 0:
            self._charge_start = now
        if self._charge_start is None:
            return
        self.values["/ChargingTime"] = int(now - self._charge_start)
        if power == 0 and self._stopped_since is None:
            self._stopped_since = now
        elif power > 0:
            self._stopped_since = None
        if (
            self._stopped_since is not None
            and now - self._stopped_since > STOP_CHARGING_COUNTER_AFTER
        ):
            self._charge_start = None
            self._stopped_since = None
            self.values["/ChargingTime"] = None

    def _restart(self) -> None:
        service, self.service = self.service, None
        self.values = default_values()
        self.last_changed = None
        self._pending = False
        self._count_time = False
        self._charge_start = None
        self._stopped_since = None
        self.restarts += 1
        if service is not None:
            self._host.remove_driver_service(service)

    def _build_service(self) -> Service:
        cfg = self.config
        service = Service(
            "evcharger", cfg.instance, f"com.victronenergy.evcharger.mqtt_ev_charger_{cfg.instance}"
        )
        service.add("/Mgmt/ProcessName", "/data/etc/dbus-mqtt-ev-charger/dbus-mqtt-ev-charger.py")
        service.add("/Mgmt/ProcessVersion", "Unknown version, and running on Python 3.12")
        service.add("/Mgmt/Connection", "MQTT EV Charger service")
        service.add("/DeviceInstance", cfg.instance)
        service.add("/ProductId", PRODUCT_ID)
        service.add("/ProductName", PRODUCT_NAME)
        service.add("/CustomName", cfg.device_name)
        service.add("/FirmwareVersion", "0.0.3 (20240819)")
        service.add("/Connected", 1)
        service.add("/Position", cfg.position)
        service.add("/Latency", None)
        service.add("/UpdateIndex", 0, writable=True)
        for path, value in self.values.items():
            # velib add_path(..., writeable=True, onchangecallback=accept): any client may SetValue.
            service.add(path, value, writable=True)
        return service
