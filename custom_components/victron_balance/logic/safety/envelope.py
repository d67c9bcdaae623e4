"""The virtual BMS as a filter that can only tighten the real BMS (I1, I2, I3).

Every document the virtual BMS publishes is made by `VirtualBmsEnvelope.document`:

* I1: CCL <= the real BMS's CCL, DCL <= its DCL, AllowToCharge/AllowToDischarge only
  where it allows them, its alarms carried. A limit the real BMS does not publish is
  replaced by the configured safe value. A level-2 alarm that makes charging unsafe
  (see `CHARGE_BLOCKING_ALARMS`) or a pack temperature outside the chemistry's charge
  window means no charge current. CVL <= the real BMS's CVL, except during an active
  top-balance run (`Wish.elevate_cvl`), and never above cells x the cap per cell
  (min(target, OVP - margin)).
* I2 is the caller's part: after a stop it asks for a non-elevated wish, which this
  filter then holds to the real BMS's limits and permissions.
* I3: with incomplete or stale readings the document still goes out, built from the
  last complete reading, with charge not allowed, 0 A and at most the safe CVL: never
  silence, never a guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from ..virtual_bms import WireLimits, battery_json, is_complete
from .real_bms import CHARGE_BLOCKING_ALARMS, BmsReading


@dataclass(frozen=True, slots=True)
class EnvelopeConfig:
    """The pack's numbers the envelope needs (from the confirmed pack and chemistry)."""

    cells: int
    cap_cell_v: float  # no CVL above cells x this, ever (min(target, OVP - margin))
    safe_cvl_cell_v: float  # per cell, where the real BMS publishes no CVL
    safe_ccl_a: float  # where the real BMS publishes no CCL
    safe_dcl_a: float  # where the real BMS publishes no DCL
    charge_min_c: float = 0.0  # LiFePO4 must not be charged below 0 °C
    charge_max_c: float = 55.0

    def __post_init__(self) -> None:
        if self.cells < 1:
            raise ValueError("cells must be at least 1")
        for name in ("cap_cell_v", "safe_cvl_cell_v", "safe_ccl_a", "safe_dcl_a"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite, non-negative number")
        if self.safe_cvl_cell_v > self.cap_cell_v:
            raise ValueError("safe_cvl_cell_v must not exceed cap_cell_v")

    @property
    def cap_v(self) -> float:
        """The highest pack CVL any document may carry."""
        return self.cells * self.cap_cell_v


@dataclass(frozen=True, slots=True)
class Wish:
    """What a control mode would like the chargers to get (None: the real BMS's value)."""

    cvl_v: float | None = None
    ccl_a: float | None = None
    dcl_a: float | None = None
    allow_charge: bool = True
    elevate_cvl: bool = False  # only an active top-balance run may ask this


SAFE_WISH = Wish(ccl_a=0.0, allow_charge=False)


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits a document carries, and why they are tighter than wished."""

    wire: WireLimits
    alarms: dict[str, int]
    reasons: tuple[str, ...] = ()


def _floor(value: float, digits: int) -> float:
    """Rounded down: a rounded limit must never exceed the one it came from."""
    scale = 10.0**digits
    return math.floor(value * scale + 1e-9) / scale


def _finite_min(*values: float | None) -> float:
    finite = [value for value in values if value is not None and math.isfinite(value)]
    return max(0.0, min(finite)) if finite else 0.0


def filter_limits(wish: Wish, reading: BmsReading, config: EnvelopeConfig) -> Limits:
    """I1: the wish, tightened to the real BMS (pure, total: never raises on readings)."""
    reasons: list[str] = []
    real_cvl = reading.cvl_v if reading.cvl_v is not None else None
    real_ccl = reading.ccl_a if reading.ccl_a is not None else config.safe_ccl_a
    real_dcl = reading.dcl_a if reading.dcl_a is not None else config.safe_dcl_a
    safe_cvl = config.cells * config.safe_cvl_cell_v

    ccl = _finite_min(wish.ccl_a, real_ccl)
    allow_charge = wish.allow_charge and reading.allow_charge is not False
    if reading.allow_charge is False:
        reasons.append("bms_blocks_charge")
    blocking = reading.alarmed(CHARGE_BLOCKING_ALARMS)
    if blocking:
        allow_charge = False
        reasons.append("alarm:" + ",".join(blocking))
    temperature = reading.temperature_c
    if temperature is not None and not config.charge_min_c <= temperature <= config.charge_max_c:
        allow_charge = False
        reasons.append("charge_temperature")
    if not allow_charge:
        ccl = 0.0

    dcl = _finite_min(wish.dcl_a, real_dcl)
    allow_discharge = reading.allow_discharge is not False
    if not allow_discharge:
        dcl = 0.0
        reasons.append("bms_blocks_discharge")

    if wish.elevate_cvl:
        cvl = _finite_min(wish.cvl_v, config.cap_v)
    else:
        cvl = _finite_min(wish.cvl_v, real_cvl if real_cvl is not None else safe_cvl, config.cap_v)
    wire = WireLimits(
        max_charge_voltage=_floor(cvl, 3),
        max_charge_current=_floor(ccl, 1),
        max_discharge_current=_floor(dcl, 1),
        allow_to_charge=allow_charge,
        allow_to_discharge=allow_discharge,
    )
    return Limits(wire, dict(reading.alarms), tuple(reasons))


@dataclass(frozen=True, slots=True)
class Document:
    """A virtual-BMS JSON that passed the envelope; the only kind ever published."""

    payload: dict[str, Any]
    limits: Limits
    stale: bool  # built from the last complete reading (I3)


@dataclass
class VirtualBmsEnvelope:
    """Builds every virtual-BMS document; remembers the last complete reading (I3)."""

    last_complete: BmsReading | None = None
    stale_documents: int = 0
    documents: int = 0
    _tightened: dict[str, int] = field(default_factory=dict)

    def document(
        self, wish: Wish, reading: BmsReading | None, config: EnvelopeConfig
    ) -> Document | None:
        """The document to publish now, or None when there has never been a reading.

        `reading` is None or incomplete when the real battery vanished, the GX went
        quiet or a cell reading is missing: then the last complete reading's values go
        out with charging blocked.
        """
        stale = reading is None or not reading.complete or len(reading.cells) != config.cells
        if not stale and reading is not None:
            self.last_complete = reading
        base = self.last_complete
        if base is None and reading is not None and reading.documentable:
            base = reading  # nothing complete seen yet (just restarted): what there is
        if base is None:
            return None
        if stale:
            # Limits from what the real BMS said last, then no charge at all, and no CVL
            # above the safe one (its own may have changed since).
            limits = filter_limits(_no_charge(wish), base, config)
            safe_cvl = _floor(config.cells * config.safe_cvl_cell_v, 3)
            wire = replace(
                limits.wire,
                max_charge_voltage=min(limits.wire.max_charge_voltage, safe_cvl),
            )
            limits = Limits(wire, limits.alarms, (*limits.reasons, "stale_readings"))
        else:
            limits = filter_limits(wish, base, config)
        payload = _payload(base, limits)
        if not is_complete(payload):  # pragma: no cover - base is complete by construction
            return None
        self.documents += 1
        self.stale_documents += int(stale)
        for reason in limits.reasons:
            key = reason.split(":", 1)[0]
            self._tightened[key] = self._tightened.get(key, 0) + 1
        return Document(payload, limits, stale)

    def diagnostics(self) -> dict[str, Any]:
        """Counts for diagnostics."""
        return {
            "documents": self.documents,
            "stale_documents": self.stale_documents,
            "tightened": dict(self._tightened),
        }


def _no_charge(wish: Wish) -> Wish:
    return Wish(cvl_v=wish.cvl_v, ccl_a=0.0, dcl_a=wish.dcl_a, allow_charge=False)


def _payload(reading: BmsReading, limits: Limits) -> dict[str, Any]:
    assert reading.voltage_v is not None
    assert reading.soc_pct is not None
    return battery_json(
        voltage=reading.voltage_v,
        current=reading.current_a,
        power=reading.power_w,
        soc=reading.soc_pct,
        temperature=reading.temperature_c,
        installed_ah=reading.installed_ah,
        consumed_ah=reading.consumed_ah,
        cells=[volts for volts in reading.cells if volts is not None],
        balancing=[bool(flag) for flag in reading.balancing],
        alarms=limits.alarms,
        limits=limits.wire,
    )
