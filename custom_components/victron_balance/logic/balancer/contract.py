"""The relay balancer's MQTT contract (docs/balancer-mqtt.md), parsed: pure, no I/O.

`BalancerInfo.parse` reads the retained `balancer/<id>/info` document; `DeviceState`
keeps what the device's state topics said last (the lease too: `LeaseReport`).
Anything that does not fit the contract raises `BadPayload` (the caller logs it and
keeps the previous value), so a misbehaving device can never feed a made-up number
into the sequencer.

Protocol 2 is the one this integration drives; a protocol 1 device is parsed (so it
can be shown and explained) but has no lease and cannot switch itself off.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from .sequencer import CommandSet

PROTOCOL = 2  # what we drive: lease, will, per-charge cap
PROTOCOLS = (1, 2)  # what we parse (1: shown, never driven)
TOPIC_PREFIX = "balancer"
INFO_FILTER = f"{TOPIC_PREFIX}/+/info"
KINDS = ("cell", "module")
MAX_RELAYS = 64
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class BadPayload(ValueError):
    """A payload that does not follow the contract."""


def valid_id(balancer_id: str) -> bool:
    """A balancer id usable in topics and unique ids."""
    return _ID.fullmatch(balancer_id) is not None


def base_topic(balancer_id: str) -> str:
    """`balancer/<id>`."""
    return f"{TOPIC_PREFIX}/{balancer_id}"


def _json(payload: bytes, what: str) -> Any:
    try:
        return json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadPayload(f"{what} is not JSON: {err}") from err


def _number(value: Any, what: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadPayload(f"{what} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or (positive and number <= 0):
        raise BadPayload(f"{what} must be a {'positive ' if positive else ''}number, got {value!r}")
    return number


def _count(value: Any, what: str, *, low: int = 0, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise BadPayload(f"{what} must be an integer >= {low}, got {value!r}")
    if high is not None and value > high:
        raise BadPayload(f"{what} must be at most {high}, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class BalancerInfo:
    """The device's `info` document."""

    balancer_id: str
    relays: int
    kind: str
    open_circuit_voltage: float
    max_current: float
    output_resistance: float
    load_life: int
    dry_life: int
    settle_time: float
    measure_interval: float
    protocol: int = PROTOCOL
    measures_current: bool = True  # False: no output_current measurement
    lease_default_s: float | None = None  # protocol 2: the device's lease limits
    lease_max_s: float | None = None
    max_charge_s: float | None = None  # protocol 2: the device ends a charge after this

    @classmethod
    def parse(cls, topic_id: str, payload: bytes) -> BalancerInfo:
        """Parse and check `info` published under `balancer/<topic_id>/info`."""
        data = _json(payload, "info")
        if not isinstance(data, dict):
            raise BadPayload("info must be a JSON object")
        if data.get("id") != topic_id or not valid_id(topic_id):
            raise BadPayload(f"info id {data.get('id')!r} does not match the topic {topic_id!r}")
        protocol = data.get("protocol")
        if isinstance(protocol, bool) or protocol not in PROTOCOLS:
            raise BadPayload(f"unsupported protocol {protocol!r} (need one of {PROTOCOLS})")
        kind = data.get("kind", "cell")
        if kind not in KINDS:
            raise BadPayload(f"unknown kind {kind!r}")
        dcdc = data.get("dcdc")
        life = data.get("relay_life", {"load": 100_000, "dry": 1_000_000})
        if not isinstance(dcdc, dict) or not isinstance(life, dict):
            raise BadPayload("info needs a dcdc object (and relay_life, if given, an object)")
        measures_current = dcdc.get("measures_current", True)
        if not isinstance(measures_current, bool):
            raise BadPayload(f"measures_current must be true or false, got {measures_current!r}")
        lease_default = lease_max = max_charge = None
        if protocol >= 2:
            lease = data.get("lease")
            if not isinstance(lease, dict):
                raise BadPayload("protocol 2 info needs a lease object")
            lease_default = _number(lease.get("default_s"), "lease.default_s", positive=True)
            lease_max = _number(lease.get("max_s"), "lease.max_s", positive=True)
            max_charge = _number(data.get("max_charge_s"), "max_charge_s", positive=True)
        return cls(
            balancer_id=topic_id,
            relays=_count(data.get("relays"), "relays", low=1, high=MAX_RELAYS),
            kind=kind,
            open_circuit_voltage=_number(
                dcdc.get("open_circuit_voltage"), "open_circuit_voltage", positive=True
            ),
            max_current=_number(dcdc.get("max_current"), "max_current", positive=True),
            output_resistance=_number(
                dcdc.get("output_resistance", 0.05), "output_resistance", positive=True
            ),
            load_life=_count(life.get("load"), "relay_life.load", low=1),
            dry_life=_count(life.get("dry"), "relay_life.dry", low=1),
            settle_time=_number(data.get("settle_time", 1.0), "settle_time", positive=True),
            measure_interval=_number(
                data.get("measure_interval", 1.0), "measure_interval", positive=True
            ),
            protocol=protocol,
            measures_current=measures_current,
            lease_default_s=lease_default,
            lease_max_s=lease_max,
            max_charge_s=max_charge,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain values, shaped like the wire's `info` (diagnostics)."""
        return {
            "id": self.balancer_id,
            "protocol": self.protocol,
            "relays": self.relays,
            "kind": self.kind,
            "dcdc": {
                "open_circuit_voltage": self.open_circuit_voltage,
                "max_current": self.max_current,
                "output_resistance": self.output_resistance,
                "measures_current": self.measures_current,
            },
            "relay_life": {"load": self.load_life, "dry": self.dry_life},
            "settle_time": self.settle_time,
            "measure_interval": self.measure_interval,
            "lease": {"default_s": self.lease_default_s, "max_s": self.lease_max_s},
            "max_charge_s": self.max_charge_s,
        }


LEASE_ENDS = ("expired", "will", "released")


@dataclass(frozen=True, slots=True)
class LeaseReport:
    """The device's retained `lease` document (protocol 2)."""

    active: bool
    holder: str | None  # the will topic the lease holder gave
    last_end: str | None  # how the last lease ended: expired / will / released
    ends: int  # leases that ended, all ways together (the device switched itself off)
    refused: int  # "on" commands the device refused

    @classmethod
    def parse(cls, payload: bytes) -> LeaseReport:
        """Parse a non-empty `lease` payload."""
        data = _json(payload, "lease")
        if not isinstance(data, dict) or not isinstance(data.get("active"), bool):
            raise BadPayload("lease must be an object with active true/false")
        holder = data.get("holder")
        last_end = data.get("last_end")
        if holder is not None and not isinstance(holder, str):
            raise BadPayload(f"lease holder must be a topic, got {holder!r}")
        if last_end is not None and last_end not in LEASE_ENDS:
            raise BadPayload(f"unknown lease end {last_end!r}")
        ends = sum(_count(data.get(key, 0), f"lease {key}") for key in LEASE_ENDS)
        return cls(
            active=data["active"],
            holder=holder,
            last_end=last_end,
            ends=ends,
            refused=_count(data.get("refused", 0), "lease refused"),
        )


def lease_request(lease_s: float, will: str | None) -> str:
    """The `lease/set` payload that grants or renews a lease."""
    request: dict[str, Any] = {"lease_s": lease_s}
    if will is not None:
        request["will"] = will
    return json.dumps(request, separators=(",", ":"))


LEASE_RELEASE = "release"  # the `lease/set` payload that gives the lease back


@dataclass(frozen=True, slots=True)
class DeviceFault:
    """The device's latched `fault` document."""

    reason: str
    relay: int | None
    detail: str
    raw: bytes  # the payload itself: a new fault differs in `at` and `count`

    @classmethod
    def parse(cls, payload: bytes) -> DeviceFault:
        """Parse a non-empty `fault` payload."""
        data = _json(payload, "fault")
        if not isinstance(data, dict) or not isinstance(data.get("reason"), str):
            raise BadPayload("fault must be an object with a reason")
        relay = data.get("relay")
        if relay is not None:
            relay = _count(relay, "fault relay", low=1)
        detail = data.get("detail", "")
        return cls(data["reason"], relay, detail if isinstance(detail, str) else "", payload)


def _on_off(payload: bytes) -> bool:
    text = payload.strip().lower()
    if text == b"on":
        return True
    if text == b"off":
        return False
    raise BadPayload(f"expected on/off, got {payload[:20]!r}")


def _decimal(payload: bytes, what: str) -> float:
    try:
        value = float(payload.strip())
    except ValueError as err:
        raise BadPayload(f"{what} is not a number: {payload[:20]!r}") from err
    if not math.isfinite(value):
        raise BadPayload(f"{what} is not a finite number: {payload[:20]!r}")
    return value


def _integer(payload: bytes, what: str) -> int:
    text = payload.strip()
    if not text.isdigit():
        raise BadPayload(f"{what} is not a non-negative integer: {payload[:20]!r}")
    return int(text)


@dataclass
class DeviceState:
    """What the device's retained state topics said last (None: not known)."""

    relays: int
    online: bool | None = None
    dcdc: bool | None = None
    dcdc_current: float | None = None
    output_voltage: float | None = None
    output_current: float | None = None
    fault: DeviceFault | None = None
    lease: LeaseReport | None = None
    relay_on: dict[int, bool] = field(default_factory=dict)
    cycles: dict[int, int] = field(default_factory=dict)
    load_cycles: dict[int, int] = field(default_factory=dict)
    charge_ah: dict[int, float] = field(default_factory=dict)

    def forget(self) -> None:
        """Treat every reading as stale (offline, or our connection was lost).

        The counters are kept: they are only ever compared with newer values.
        """
        self.dcdc = None
        self.dcdc_current = None
        self.output_voltage = None
        self.output_current = None
        self.lease = None
        self.relay_on.clear()

    @property
    def complete(self) -> bool:
        """Online, with the DC/DC, every relay and the output voltage known."""
        return (
            self.online is True
            and self.dcdc is not None
            and self.output_voltage is not None
            and len(self.relay_on) == self.relays
        )

    def reported(self) -> CommandSet:
        """What the device drives now (the lowest relay if, impossibly, several)."""
        closed = sorted(n for n, on in self.relay_on.items() if on)
        return CommandSet(dcdc=bool(self.dcdc), relay=closed[0] if closed else None)

    def relays_on(self) -> list[int]:
        """Relays whose coils the device reports on."""
        return sorted(n for n, on in self.relay_on.items() if on)

    def apply(self, suffix: str, payload: bytes) -> bool:
        """Apply one message on `balancer/<id>/<suffix>`; True if it was a state topic.

        Raises BadPayload for a state topic with a payload outside the contract.
        Commands (ours or anyone's) and unknown topics are not state: False.
        An empty payload (a deleted retained message) makes the value unknown.
        """
        if suffix == "availability":
            text = payload.strip().lower()
            if text not in (b"online", b"offline"):
                raise BadPayload(f"availability must be online/offline, got {payload[:20]!r}")
            self.online = text == b"online"
            if not self.online:
                self.forget()
            return True
        if suffix == "fault":
            self.fault = DeviceFault.parse(payload) if payload.strip() else None
            return True
        if suffix == "lease":
            self.lease = LeaseReport.parse(payload) if payload.strip() else None
            return True
        simple = {
            "dcdc": "dcdc",
            "dcdc/current": "dcdc_current",
            "output_voltage": "output_voltage",
            "output_current": "output_current",
        }
        if suffix in simple:
            attr = simple[suffix]
            value: bool | float | None
            if not payload.strip():
                value = None
            elif attr == "dcdc":
                value = _on_off(payload)
            else:
                value = _decimal(payload, suffix)
            setattr(self, attr, value)
            return True
        return self._apply_relay(suffix, payload)

    def _apply_relay(self, suffix: str, payload: bytes) -> bool:
        parts = suffix.split("/")
        if len(parts) not in (2, 3) or parts[0] != "relay" or not parts[1].isdigit():
            return False
        number = int(parts[1])
        what = parts[2] if len(parts) == 3 else "state"
        if what not in ("state", "cycles", "load_cycles", "charge_ah"):
            return False  # relay/<n>/set and anything newer
        if not 1 <= number <= self.relays:
            raise BadPayload(f"relay {number} out of range 1..{self.relays}")
        targets: dict[str, dict[int, Any]] = {
            "state": self.relay_on,
            "cycles": self.cycles,
            "load_cycles": self.load_cycles,
            "charge_ah": self.charge_ah,
        }
        target = targets[what]
        if not payload.strip():
            target.pop(number, None)
        elif what == "state":
            target[number] = _on_off(payload)
        elif what == "charge_ah":
            target[number] = _decimal(payload, suffix)
        else:
            target[number] = _integer(payload, suffix)
        return True

    def to_dict(self) -> dict[str, Any]:
        """Plain values (diagnostics)."""
        return {
            "online": self.online,
            "dcdc": self.dcdc,
            "dcdc_current": self.dcdc_current,
            "output_voltage": self.output_voltage,
            "output_current": self.output_current,
            "relays_on": self.relays_on(),
            "lease": None
            if self.lease is None
            else {
                "active": self.lease.active,
                "last_end": self.lease.last_end,
                "ends": self.lease.ends,
                "refused": self.lease.refused,
            },
            "fault": None
            if self.fault is None
            else {
                "reason": self.fault.reason,
                "relay": self.fault.relay,
                "detail": self.fault.detail,
            },
            "cycles": {str(n): value for n, value in sorted(self.cycles.items())},
            "load_cycles": {str(n): value for n, value in sorted(self.load_cycles.items())},
            "charge_ah": {str(n): value for n, value in sorted(self.charge_ah.items())},
        }
