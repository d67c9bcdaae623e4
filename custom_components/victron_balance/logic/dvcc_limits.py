"""DVCC user limits: the charge modes and what the limit numbers accept.

`Settings/SystemSetup/MaxChargeCurrent` (integer A, -1 = no limit) and
`MaxChargeVoltage` (V, 0 = off) can only lower what the BMS allows (DVCC takes the
minimum). When they are written is `logic.charge_supervisor`'s business, and every
write passes `logic.safety.gx_settings`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

DVCC_PATH = "/Settings/Services/Bol"


class ChargeMode(StrEnum):
    """How the integration acts on the chargers."""

    FOLLOW_BMS = "follow_bms"  # no user limits: the BMS decides
    LIMITED = "limited"  # DVCC user limits from the charge limit numbers
    TOP_BALANCE = "top_balance"  # our virtual BMS steers; user limits stay out of its way
    HOLD_AT_SOC = "hold_at_soc"  # the virtual BMS stops charging at a state of charge


@dataclass(frozen=True, slots=True)
class LimitBounds:
    """What the number entities and services accept."""

    current_max_a: int
    voltage_min_v: float
    voltage_max_v: float

    @classmethod
    def for_pack(
        cls, cells: int, min_cell_v: float, max_cell_v: float, current_max_a: int
    ) -> LimitBounds:
        """Bounds from the cell count and the chemistry's cell voltage window."""
        if cells < 1 or not (0 < min_cell_v < max_cell_v) or current_max_a < 0:
            raise ValueError("invalid pack description for charge limits")
        return cls(current_max_a, round(cells * min_cell_v, 2), round(cells * max_cell_v, 2))


def checked_current(value: float, bounds: LimitBounds) -> int:
    """A charge current limit as Venus stores it (integer A), or ValueError."""
    if not math.isfinite(value) or not 0 <= value <= bounds.current_max_a:
        raise ValueError(f"charge current must be 0..{bounds.current_max_a} A, got {value}")
    # Venus truncates 7.5 to 7; do it here so what we write is what it keeps.
    return int(value)


def checked_voltage(value: float, bounds: LimitBounds) -> float:
    """A charge voltage limit inside the pack's window, or ValueError."""
    if not math.isfinite(value) or not bounds.voltage_min_v <= value <= bounds.voltage_max_v:
        raise ValueError(
            f"charge voltage must be {bounds.voltage_min_v}..{bounds.voltage_max_v} V, got {value}"
        )
    return round(value, 2)


FOLLOW_TOLERANCE_A = 0.5


def charger_follows(limit_a: int, handed_a: float, tolerance_a: float = FOLLOW_TOLERANCE_A) -> bool:
    """Whether the charger's Link/ChargeCurrent respects our limit (it may be lower)."""
    return handed_a <= limit_a + tolerance_a
