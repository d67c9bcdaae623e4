"""The EVSE inside Venus OS: dbus-mqtt-ev-charger JSON out, GUI changes back in.

mr-manuel's dbus-mqtt-ev-charger (seed 002) turns one JSON topic into the
`evcharger` service the Victron GUI and VRM show. Its D-Bus paths are writable
but the driver forwards nothing back to MQTT: a change made in the GUI (SetCurrent,
StartStop, Mode) shows up only as an `N/` echo that differs from what our JSON
said, and the driver's next JSON puts our value back (venus-observed.md 29).
`WritebackDetector` tells such a GUI change from our own values still travelling
through the driver, so the integration can adopt it and carry it in the next JSON.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

from .openevse import EvseReadings

DEFAULT_TOPIC: Final = "custom/ev-charger"  # the driver's config.sample.ini
DEFAULT_INSTANCE: Final = 100  # the driver's config default (the README says 11)
WRITABLE_PATHS: Final = ("/SetCurrent", "/StartStop", "/Mode")


class VenusEvMode(IntEnum):
    """`/Mode` of a Venus EV charger."""

    MANUAL = 0
    AUTO = 1
    SCHEDULED = 2


class VenusEvStatus(IntEnum):
    """`/Status` codes of a Venus EV charger (seed 002)."""

    DISCONNECTED = 0
    CONNECTED = 1
    CHARGING = 2
    CHARGED = 3
    WAITING_FOR_SUN = 4
    WAITING_FOR_START = 6
    LOW_SOC = 7
    GROUND_ERROR = 8
    WELDED_CONTACTS = 9
    CP_INPUT_TEST_ERROR = 10
    RESIDUAL_CURRENT = 11
    OVERHEATING = 14


# openEVSE error states (4-11) as the closest Venus status.
_ERRORS: Final[dict[int, VenusEvStatus]] = {
    4: VenusEvStatus.CP_INPUT_TEST_ERROR,  # vent required (pilot state D)
    5: VenusEvStatus.CP_INPUT_TEST_ERROR,  # diode check failed
    6: VenusEvStatus.RESIDUAL_CURRENT,  # GFI fault
    7: VenusEvStatus.GROUND_ERROR,  # no ground
    8: VenusEvStatus.WELDED_CONTACTS,  # stuck relay
    9: VenusEvStatus.RESIDUAL_CURRENT,  # GFI self-test failed
    10: VenusEvStatus.OVERHEATING,  # over temperature
    11: VenusEvStatus.RESIDUAL_CURRENT,  # over current trip
}


def venus_status(readings: EvseReadings, pause_reason: str | None) -> VenusEvStatus:
    """The Venus status for what the EVSE reports and why we hold it paused."""
    code = readings.state_code
    if code is not None and code in _ERRORS:
        return _ERRORS[code]
    if not readings.plugged_in:
        return VenusEvStatus.DISCONNECTED
    if code == 3:
        return VenusEvStatus.CHARGING
    if pause_reason == "waiting_for_sun":
        return VenusEvStatus.WAITING_FOR_SUN
    if pause_reason in ("low_soc_pause", "priority_soc"):
        return VenusEvStatus.LOW_SOC
    if code in (254, 255):
        return VenusEvStatus.WAITING_FOR_START
    return VenusEvStatus.CONNECTED


@dataclass(frozen=True)
class ChargerView:
    """What the integration wants Venus to show for its own controls."""

    mode: VenusEvMode
    start_stop: bool
    set_current_a: int
    max_current_a: int
    pause_reason: str | None = None


def station_state_known(readings: EvseReadings) -> bool:
    """Whether the station has said what it is doing, so a JSON can tell the truth.

    Its status topics are not retained: after a (re)start they come only on the next
    change or status round. Until the state code is known (and, while charging, the
    power or current), a JSON would say "disconnected, 0 W" while the car charges.
    """
    if readings.state_code is None:
        return False
    return not readings.charging or _power_w(readings) is not None


def _power_w(readings: EvseReadings) -> float | None:
    if readings.power_w is not None:
        return readings.power_w
    if readings.current_a is not None and readings.voltage_v is not None:
        return readings.current_a * readings.voltage_v
    return None


def build_json(
    readings: EvseReadings, view: ChargerView, charging_time_s: int | None
) -> dict[str, Any]:
    """The driver's JSON; `Ac.Power` is required, so 0 W stands in for unknown.

    Send it only once `station_state_known(readings)`.
    """
    power = _power_w(readings) or 0.0
    data: dict[str, Any] = {
        "Ac": {"Power": round(power, 1), "L1": {"Power": round(power, 1)}},
        "Current": round(readings.current_a or 0.0, 2),
        "MaxCurrent": view.max_current_a,
        "SetCurrent": view.set_current_a,
        "AutoStart": 1,
        "Mode": int(view.mode),
        "StartStop": int(view.start_stop),
        "Status": int(venus_status(readings, view.pause_reason)),
    }
    if readings.total_energy_kwh is not None:
        data["Ac"]["Energy"] = {"Forward": round(readings.total_energy_kwh, 3)}
    if charging_time_s is not None:
        data["ChargingTime"] = charging_time_s
    return data


@dataclass(frozen=True)
class GuiChange:
    """A value someone set in the Victron GUI or VRM."""

    path: str
    value: int


class WritebackDetector:
    """Spots GUI writes among the driver's echoes of our own JSON.

    Per writable path: once the driver shows the value we published last, any
    other value is a GUI write. Until then, older values we published within
    `memory_s` may still be on their way through the driver and are ours.
    """

    def __init__(self, memory_s: float = 15.0) -> None:
        self.memory_s = memory_s
        self._published: dict[str, deque[tuple[float, int]]] = {
            path: deque() for path in WRITABLE_PATHS
        }
        self._confirmed: dict[str, bool] = dict.fromkeys(WRITABLE_PATHS, False)

    def published(self, now: float, data: dict[str, Any]) -> None:
        """Remember the writable values of a JSON we sent.

        Only an `N/` message confirms a value: Venus showing it already proves nothing,
        because that may be a GUI write our previous JSON is about to revert.
        """
        for path in WRITABLE_PATHS:
            value = data.get(path.lstrip("/"))
            if not isinstance(value, int):
                continue
            history = self._published[path]
            if not history or history[-1][1] != value:
                history.append((now, value))
                self._confirmed[path] = False
            while len(history) > 1 and now - history[0][0] > self.memory_s:
                history.popleft()

    def adopt(self, now: float, path: str, value: Any) -> GuiChange | None:
        """A new `N/` value on a writable path: a GUI change, or None if it is ours."""
        history = self._published.get(path)
        if not history:
            return None  # nothing published yet: the driver shows its own defaults
        number = _whole_number(value)
        if number is None:
            return None
        if number == history[-1][1]:
            self._confirmed[path] = True
            return None
        in_flight = not self._confirmed[path] and any(
            v == number and now - t <= self.memory_s for t, v in history
        )
        if in_flight:
            return None
        # Adopted: it is what we publish from now on. A JSON we sent just before may
        # still revert it for a moment, so older values stay "ours" until Venus shows
        # the adopted one again from our own JSON.
        history.append((now, number))
        self._confirmed[path] = False
        return GuiChange(path, number)


def _whole_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None
