"""The openEVSE WiFi MQTT dialect: status topics in, claims out.

From the firmware's `src/mqtt.cpp` and its developer guide (reference §5):

* Discovery: retained `openevse/announce/<last 4 of id>` with
  `{"state":"connected","id","name","mqtt":"<base>","http"}`; the Last Will on the
  same topic says `{"state":"disconnected",...}`.
* Status: one value per `<base>/<key>` topic. `amp` is in mA, `temp` in 0.1 °C,
  `session_energy` in Wh, `total_energy` in kWh; `state` is the EVSE state code.
* Control: `<base>/claim/set` takes a JSON claim (priority 500, outranks the
  built-in divert at 50) or `release`.

Nothing here trusts the wire: every value is type and range checked, and a bad
one is reported as a problem, never stored.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

ANNOUNCE_PREFIX: Final = "openevse/announce/"
ANNOUNCE_FILTER: Final = "openevse/announce/#"


class EvseStatus(StrEnum):
    """The EVSE state codes (`state` topic) as names."""

    NOT_CONNECTED = "not_connected"
    CONNECTED = "connected"
    CHARGING = "charging"
    VENT_REQUIRED = "vent_required"
    DIODE_CHECK_FAILED = "diode_check_failed"
    GFI_FAULT = "gfi_fault"
    NO_GROUND = "no_ground"
    STUCK_RELAY = "stuck_relay"
    GFI_SELF_TEST_FAILED = "gfi_self_test_failed"
    OVER_TEMPERATURE = "over_temperature"
    OVER_CURRENT = "over_current"
    SLEEPING = "sleeping"
    DISABLED = "disabled"


STATE_CODES: Final[dict[int, EvseStatus]] = {
    1: EvseStatus.NOT_CONNECTED,
    2: EvseStatus.CONNECTED,
    3: EvseStatus.CHARGING,
    4: EvseStatus.VENT_REQUIRED,
    5: EvseStatus.DIODE_CHECK_FAILED,
    6: EvseStatus.GFI_FAULT,
    7: EvseStatus.NO_GROUND,
    8: EvseStatus.STUCK_RELAY,
    9: EvseStatus.GFI_SELF_TEST_FAILED,
    10: EvseStatus.OVER_TEMPERATURE,
    11: EvseStatus.OVER_CURRENT,
    254: EvseStatus.SLEEPING,
    255: EvseStatus.DISABLED,
}
ERROR_STATES: Final = frozenset(range(4, 12))


class EvseProblem(ValueError):
    """A status message that cannot be used; the message says why."""


@dataclass(frozen=True)
class Announcement:
    """One retained announce message."""

    short_id: str  # the topic's last segment
    connected: bool
    device_id: str | None
    name: str | None
    base_topic: str | None  # absent in the Last Will
    http_url: str | None = None


def parse_announcement(topic: str, payload: bytes) -> Announcement:
    """Decode `openevse/announce/<id>`; raises EvseProblem when it is not one."""
    if not topic.startswith(ANNOUNCE_PREFIX) or "/" in topic[len(ANNOUNCE_PREFIX) :]:
        raise EvseProblem(f"not an announce topic: {topic}")
    short_id = topic[len(ANNOUNCE_PREFIX) :]
    if not short_id:
        raise EvseProblem("announce topic without an id")
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise EvseProblem(f"announce payload is not JSON: {payload[:40]!r}") from err
    if not isinstance(data, dict):
        raise EvseProblem("announce payload is not a JSON object")
    state = data.get("state")
    if state not in ("connected", "disconnected"):
        raise EvseProblem(f"announce state {state!r} is neither connected nor disconnected")
    base = data.get("mqtt")
    return Announcement(
        short_id=short_id,
        connected=state == "connected",
        device_id=_text_or_none(data.get("id")),
        name=_text_or_none(data.get("name")),
        base_topic=base.strip("/") if isinstance(base, str) and base.strip("/") else None,
        http_url=_http_url(data.get("http")),
    )


def _http_url(value: Any) -> str | None:
    # Only a plain http(s) URL may become a device's configuration link.
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return value
    return None


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(payload: bytes) -> float:
    try:
        value = float(payload.decode().strip())
    except (UnicodeDecodeError, ValueError) as err:
        raise EvseProblem(f"not a number: {payload[:40]!r}") from err
    if not math.isfinite(value):
        raise EvseProblem(f"not a finite number: {payload[:40]!r}")
    return value


def _ranged(payload: bytes, low: float, high: float, what: str) -> float:
    value = _number(payload)
    if not low <= value <= high:
        raise EvseProblem(f"{what} {value} outside {low}..{high}")
    return value


def _json_object(payload: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise EvseProblem(f"not JSON: {payload[:40]!r}") from err
    if not isinstance(data, dict):
        raise EvseProblem("not a JSON object")
    # The firmware publishes {"state":"null"} when there is no claim/override.
    return None if data.get("state") in (None, "null") else data


@dataclass
class EvseReadings:
    """The last good value of every status topic the integration uses."""

    current_a: float | None = None
    voltage_v: float | None = None
    pilot_a: float | None = None
    max_current_a: float | None = None
    power_w: float | None = None
    temperature_c: float | None = None
    state_code: int | None = None
    status: str | None = None  # "active" / "disabled"
    vehicle_connected: bool | None = None
    session_energy_kwh: float | None = None
    total_energy_kwh: float | None = None
    claim: dict[str, Any] | None = None
    override: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def evse_status(self) -> EvseStatus | None:
        """The state code as a name (None if unknown)."""
        return None if self.state_code is None else STATE_CODES.get(self.state_code)

    @property
    def in_error(self) -> bool:
        """The EVSE reports a fault (ground, relay, temperature...)."""
        return self.state_code in ERROR_STATES

    @property
    def charging(self) -> bool:
        """Current is flowing into the car."""
        return self.state_code == 3

    @property
    def plugged_in(self) -> bool:
        """A car is plugged in (from `vehicle`, else from the state code)."""
        if self.vehicle_connected is not None:
            return self.vehicle_connected
        return self.state_code in (2, 3)

    def apply(self, key: str, payload: bytes) -> bool:
        """Store one `<base>/<key>` message; True if it is a key we use.

        Raises EvseProblem for a bad value (nothing is stored then).
        """
        handler = _HANDLERS.get(key)
        if handler is None:
            return False
        handler(self, payload)
        return True


def _set_amp(readings: EvseReadings, payload: bytes) -> None:
    readings.current_a = _ranged(payload, 0, 100_000, "amp (mA)") / 1000.0


def _set_voltage(readings: EvseReadings, payload: bytes) -> None:
    readings.voltage_v = _ranged(payload, 0, 500, "voltage")


def _set_pilot(readings: EvseReadings, payload: bytes) -> None:
    readings.pilot_a = _ranged(payload, 0, 100, "pilot")


def _set_max_current(readings: EvseReadings, payload: bytes) -> None:
    readings.max_current_a = _ranged(payload, 0, 100, "max_current")


def _set_power(readings: EvseReadings, payload: bytes) -> None:
    readings.power_w = _ranged(payload, 0, 100_000, "power")


def _set_temp(readings: EvseReadings, payload: bytes) -> None:
    readings.temperature_c = _ranged(payload, -500, 1500, "temp (0.1 °C)") / 10.0


def _set_state(readings: EvseReadings, payload: bytes) -> None:
    code = _number(payload)
    if not code.is_integer() or int(code) not in STATE_CODES:
        raise EvseProblem(f"unknown state code {payload[:40]!r}")
    readings.state_code = int(code)


def _set_status(readings: EvseReadings, payload: bytes) -> None:
    text = payload.decode(errors="replace").strip()
    if text not in ("active", "disabled"):
        raise EvseProblem(f"status {text!r} is neither active nor disabled")
    readings.status = text


def _set_vehicle(readings: EvseReadings, payload: bytes) -> None:
    value = _number(payload)
    if value not in (0, 1):
        raise EvseProblem(f"vehicle {value} is neither 0 nor 1")
    readings.vehicle_connected = value == 1


def _set_session_energy(readings: EvseReadings, payload: bytes) -> None:
    readings.session_energy_kwh = _ranged(payload, 0, 1e9, "session_energy (Wh)") / 1000.0


def _set_total_energy(readings: EvseReadings, payload: bytes) -> None:
    readings.total_energy_kwh = _ranged(payload, 0, 1e9, "total_energy (kWh)")


def _set_claim(readings: EvseReadings, payload: bytes) -> None:
    readings.claim = _json_object(payload)


def _set_override(readings: EvseReadings, payload: bytes) -> None:
    readings.override = _json_object(payload)


_HANDLERS = {
    "amp": _set_amp,
    "voltage": _set_voltage,
    "pilot": _set_pilot,
    "max_current": _set_max_current,
    "power": _set_power,
    "temp": _set_temp,
    "state": _set_state,
    "status": _set_status,
    "vehicle": _set_vehicle,
    "session_energy": _set_session_energy,
    "total_energy": _set_total_energy,
    "claim": _set_claim,
    "override": _set_override,
}


@dataclass(frozen=True)
class ClaimRequest:
    """What we want the EVSE to do: charge at `current_a`, or pause (None)."""

    current_a: int | None

    @property
    def active(self) -> bool:
        """The EVSE may charge."""
        return self.current_a is not None

    def payload(self) -> str:
        """The `claim/set` JSON (our claim lives until we release it)."""
        if self.current_a is None:
            return json.dumps({"state": "disabled", "auto_release": False})
        return json.dumps(
            {"state": "active", "charge_current": self.current_a, "auto_release": False}
        )


RELEASE_PAYLOAD: Final = "release"


def claim_matches(request: ClaimRequest, claim: dict[str, Any] | None) -> bool:
    """Does the EVSE's retained `claim` show our request in force?"""
    if claim is None:
        return False
    if request.current_a is None:
        return claim.get("state") == "disabled"
    current = claim.get("charge_current")
    return (
        claim.get("state") == "active"
        and isinstance(current, int | float)
        and round(current) == request.current_a
    )
