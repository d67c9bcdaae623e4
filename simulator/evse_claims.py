"""openEVSE claims: who wants the EVSE in which state, and who wins.

The ESP32 firmware (``evse_man.h``) lets several clients claim the EVSE, each
at a fixed priority. Every property (state, charge current, max current) is
taken from the highest-priority claim that sets it, so a claim that only sets
``charge_current`` leaves the state to a lower claim. Releasing a claim falls
back to the next one; the Default claim (priority 10: active, full current)
is always there.

As in the firmware, a client's new claim is merged onto its previous one (the
firmware deserialises into a persistent properties object), and
``auto_release`` defaults to true: the claim ends when the car is unplugged.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Literal

type EvseState = Literal["active", "disabled"]
type JsonScalar = str | int | float | bool

# Priorities from the firmware's evse_man.h.
PRIORITY_DEFAULT = 10
PRIORITY_DIVERT = 50
PRIORITY_TIMER = 100
PRIORITY_BOOST = 200
PRIORITY_MQTT = 500
PRIORITY_TIMER_FEATURE = 900
PRIORITY_MANUAL = 1000
PRIORITY_RFID = 1030
PRIORITY_OCPP = 1050
PRIORITY_LIMIT = 1100
PRIORITY_SAFETY = 5000

CLIENT_DEFAULT = "default"
CLIENT_DIVERT = "divert"
CLIENT_MQTT = "mqtt"
CLIENT_MANUAL = "manual"

_STATES: tuple[EvseState, ...] = ("active", "disabled")


@dataclass(frozen=True)
class ClaimProps:
    """What a claim asks for; None = "not set by this claim"."""

    state: EvseState | None = None
    charge_current: float | None = None
    max_current: float | None = None
    auto_release: bool | None = None

    def merged(self, newer: ClaimProps) -> ClaimProps:
        """These properties with every field ``newer`` sets replaced."""
        return replace(
            self,
            **{
                name: value
                for name in ("state", "charge_current", "max_current", "auto_release")
                if (value := getattr(newer, name)) is not None
            },
        )

    def to_json(self) -> dict[str, JsonScalar]:
        """The set fields, as the firmware serialises them."""
        out: dict[str, JsonScalar] = {}
        if self.state is not None:
            out["state"] = self.state
        if self.charge_current is not None:
            out["charge_current"] = _json_number(self.charge_current)
        if self.max_current is not None:
            out["max_current"] = _json_number(self.max_current)
        if self.auto_release is not None:
            out["auto_release"] = self.auto_release
        return out


def _json_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _current(value: object) -> float | None:
    """A usable current in A, or None (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and number > 0 else None


def parse_props(payload: bytes) -> ClaimProps | None:
    """Parse a claim/override JSON payload; None when it is not a valid claim."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    props = ClaimProps()
    if "state" in data:
        state = data["state"]
        if state not in _STATES:
            return None
        props = replace(props, state=state)
    currents: dict[str, float | None] = {}
    for name in ("charge_current", "max_current"):
        if name in data:
            currents[name] = _current(data[name])
            if currents[name] is None:
                return None
    props = replace(
        props,
        charge_current=currents.get("charge_current"),
        max_current=currents.get("max_current"),
    )
    if "auto_release" in data:
        if not isinstance(data["auto_release"], bool):
            return None
        props = replace(props, auto_release=data["auto_release"])
    if props == ClaimProps():
        return None  # nothing the simulator understands: not a claim
    return props


@dataclass(frozen=True)
class Claim:
    """One client's claim at its priority."""

    client: str
    priority: int
    props: ClaimProps

    @property
    def auto_release(self) -> bool:
        """Released when the car is unplugged (firmware default: yes)."""
        return self.props.auto_release is not False


@dataclass(frozen=True)
class Resolved:
    """The effective properties after all claims are weighed."""

    state: EvseState
    charge_current: float
    max_current: float


class ClaimSet:
    """The claims on one EVSE, with the always-present Default claim."""

    def __init__(self, full_current: float) -> None:
        self._default = Claim(
            CLIENT_DEFAULT,
            PRIORITY_DEFAULT,
            ClaimProps("active", full_current, full_current, False),
        )
        self._claims: dict[str, Claim] = {}

    def claim(self, client: str, priority: int, props: ClaimProps, *, merge: bool = True) -> bool:
        """Make or update ``client``'s claim; True when anything changed."""
        old = self._claims.get(client)
        if merge and old is not None:
            props = old.props.merged(props)
        new = Claim(client, priority, props)
        self._claims[client] = new
        return new != old

    def release(self, client: str) -> bool:
        """Drop ``client``'s claim; True when it had one."""
        return self._claims.pop(client, None) is not None

    def release_auto(self) -> list[str]:
        """Drop every auto-release claim (the car was unplugged)."""
        gone = [name for name, claim in self._claims.items() if claim.auto_release]
        for name in gone:
            del self._claims[name]
        return gone

    def get(self, client: str) -> Claim | None:
        """``client``'s claim, if any."""
        return self._claims.get(client)

    def active(self) -> tuple[Claim, ...]:
        """The claims other than Default, highest priority first."""
        return tuple(sorted(self._claims.values(), key=lambda c: c.priority, reverse=True))

    def resolve(self) -> Resolved:
        """Each property from the highest-priority claim that sets it."""
        ordered = (*self.active(), self._default)
        state = next(c.props.state for c in ordered if c.props.state is not None)
        charge = next(c.props.charge_current for c in ordered if c.props.charge_current is not None)
        maximum = next(c.props.max_current for c in ordered if c.props.max_current is not None)
        return Resolved(state, charge, maximum)
