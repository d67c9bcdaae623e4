"""The safety gate for the EVSE: nothing reaches the openEVSE station without it.

**E1 — a pause is safe at once.** A pause claim (`state: disabled`) and the release
always pass: stopping must never wait for anything.

**E2 — no charge while blind.** A charging claim passes only while the station is
online and Venus is alive: without the battery and the grid in view a current is a
guess, so the gate sends a pause instead.

**E3 — whole amps within every limit.** A charging current is a finite whole number of
amps, at least 6 A (IEC 61851's lowest pilot) and at most the lowest of the user's
maximum, the station's own limit and 80 A (openEVSE's hardware). A current above the
limit is lowered to it; a limit below 6 A (a station that reports 0-5 A) or a current
below 6 A becomes a pause, never a raise.

**E4 — the EVSE shown in Venus carries plausible numbers only.** The EV-charger JSON
(dbus-mqtt-ev-charger) goes out only with finite numbers: power 0-60 kW, currents
0-80 A, SetCurrent within 0..MaxCurrent; a value outside that is dropped (the driver
keeps its own) and counted, never sent.

Pure: no Home Assistant imports. The EVSE control publishes only `ClaimPermit`s and
`EvChargerDocument`s from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from ..evse_modes import ABSOLUTE_MAX_CURRENT_A, MIN_CURRENT_A
from ..openevse import ClaimRequest

MAX_STATION_POWER_W: Final = 60_000.0  # 80 A on three phases of 250 V
PAUSE: Final = ClaimRequest(None)


@dataclass(frozen=True, slots=True)
class EvseFacts:
    """What the gate checks a claim against, at the moment it is sent."""

    station_online: bool
    venus_alive: bool
    user_max_a: int
    station_max_a: float | None  # the station's max_current (None: not reported)


@dataclass(frozen=True, slots=True)
class ClaimPermit:
    """A claim the gate let through; `changed` says why it differs from the wish."""

    request: ClaimRequest
    changed: str | None = None  # "lowered", "blind", "below_minimum", "bad_limit"

    def payload(self) -> str:
        """The `claim/set` payload."""
        return self.request.payload()


def current_limit(facts: EvseFacts) -> float:
    """The highest current any claim may carry now (may be below 6 A: then pause)."""
    limit = float(min(facts.user_max_a, ABSOLUTE_MAX_CURRENT_A))
    if facts.station_max_a is not None:
        station = facts.station_max_a if math.isfinite(facts.station_max_a) else 0.0
        limit = min(limit, station)
    return limit


def permit_claim(wish: ClaimRequest, facts: EvseFacts) -> ClaimPermit:
    """The claim that may go to the station for `wish` (E1-E3)."""
    current = wish.current_a
    if current is None:
        return ClaimPermit(PAUSE)  # E1
    if not (facts.station_online and facts.venus_alive):
        return ClaimPermit(PAUSE, "blind")  # E2
    if isinstance(current, bool) or not isinstance(current, int):
        return ClaimPermit(PAUSE, "below_minimum")  # not a whole number of amps
    limit = current_limit(facts)
    if limit < MIN_CURRENT_A:
        return ClaimPermit(PAUSE, "bad_limit")
    if current < MIN_CURRENT_A:
        return ClaimPermit(PAUSE, "below_minimum")
    allowed = math.floor(limit)
    if current > allowed:
        return ClaimPermit(ClaimRequest(allowed), "lowered")
    return ClaimPermit(wish)


@dataclass(frozen=True, slots=True)
class EvChargerDocument:
    """An EV-charger JSON the gate checked; `dropped` names the fields it left out."""

    data: dict[str, Any]
    dropped: tuple[str, ...] = ()


# Field -> (lowest, highest) as dbus-mqtt-ev-charger's paths take them.
_RANGES: Final[dict[str, tuple[float, float]]] = {
    "Ac.Power": (0.0, MAX_STATION_POWER_W),
    "Ac.L1.Power": (0.0, MAX_STATION_POWER_W),
    "Ac.Energy.Forward": (0.0, 1e9),
    "Current": (0.0, float(ABSOLUTE_MAX_CURRENT_A)),
    "MaxCurrent": (0.0, float(ABSOLUTE_MAX_CURRENT_A)),
    "SetCurrent": (0.0, float(ABSOLUTE_MAX_CURRENT_A)),
    "ChargingTime": (0.0, 1e9),
}
_REQUIRED: Final = "Ac.Power"  # the driver drops a JSON without it


def _plausible(field: str, value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return field not in _RANGES  # flags and codes are checked by their builder
    if not math.isfinite(value):
        return False
    low, high = _RANGES.get(field, (-math.inf, math.inf))
    return low <= value <= high


def _checked(prefix: str, data: dict[str, Any], dropped: list[str]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in data.items():
        field = f"{prefix}{key}"
        if isinstance(value, dict):
            kept[key] = _checked(f"{field}.", value, dropped)
        elif _plausible(field, value):
            kept[key] = value
        else:
            dropped.append(field)
    return kept


def ev_charger_document(data: dict[str, Any]) -> EvChargerDocument | None:
    """The JSON with only plausible values (E4); None if its power is not one of them."""
    dropped: list[str] = []
    kept = _checked("", data, dropped)
    maximum = kept.get("MaxCurrent")
    setpoint = kept.get("SetCurrent")
    if (
        isinstance(maximum, int | float)
        and isinstance(setpoint, int | float)
        and setpoint > maximum
    ):
        del kept["SetCurrent"]
        dropped.append("SetCurrent")
    if _REQUIRED in dropped or "Power" not in kept.get("Ac", {}):
        return None
    return EvChargerDocument(kept, tuple(dropped))
