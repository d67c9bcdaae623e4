"""DVCC user limits: what to write to the GX's settings, and when.

`Settings/SystemSetup/MaxChargeCurrent` (integer A, -1 = no limit) and
`MaxChargeVoltage` (V, 0 = off) can only lower what the BMS allows (DVCC takes the
minimum). They live in flash on the GX, so they are written only when the wanted value
differs from the current one, and not more often than a minimum interval; the latest
wish wins when the interval has passed.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

NO_CURRENT_LIMIT = -1
NO_VOLTAGE_LIMIT = 0.0
MAX_CHARGE_CURRENT_PATH = "/Settings/SystemSetup/MaxChargeCurrent"
MAX_CHARGE_VOLTAGE_PATH = "/Settings/SystemSetup/MaxChargeVoltage"
DVCC_PATH = "/Settings/Services/Bol"
MIN_WRITE_INTERVAL_S = 30.0


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


@dataclass(frozen=True, slots=True)
class DvccTarget:
    """The two settings as they should be on the GX."""

    max_charge_current: int
    max_charge_voltage: float


def dvcc_target(
    mode: ChargeMode, current_a: float, voltage_v: float, bounds: LimitBounds
) -> DvccTarget:
    """What the settings should hold for a mode (limits are checked again here)."""
    if mode is not ChargeMode.LIMITED:
        # DVCC takes the lower limit: a user limit would cap the top balance too.
        return DvccTarget(NO_CURRENT_LIMIT, NO_VOLTAGE_LIMIT)
    return DvccTarget(checked_current(current_a, bounds), checked_voltage(voltage_v, bounds))


FOLLOW_TOLERANCE_A = 0.5


def charger_follows(limit_a: int, handed_a: float, tolerance_a: float = FOLLOW_TOLERANCE_A) -> bool:
    """Whether the charger's Link/ChargeCurrent respects our limit (it may be lower)."""
    return handed_a <= limit_a + tolerance_a


class WriteBudget:
    """Spaces out flash writes (per setting) and counts them."""

    def __init__(self, min_interval_s: float = MIN_WRITE_INTERVAL_S) -> None:
        self.min_interval_s = min_interval_s
        self._last: dict[str, float] = {}
        self._times: deque[float] = deque()
        self.total = 0

    def wait_s(self, path: str, now_s: float) -> float:
        """Seconds until this setting may be written again (0 = now)."""
        last = self._last.get(path)
        return 0.0 if last is None else max(0.0, last + self.min_interval_s - now_s)

    def record(self, path: str, now_s: float) -> None:
        """A write happened."""
        self._last[path] = now_s
        self._times.append(now_s)
        self.total += 1
        self._forget(now_s)

    def per_hour(self, now_s: float) -> int:
        """Writes in the last hour, all settings together."""
        self._forget(now_s)
        return len(self._times)

    def _forget(self, now_s: float) -> None:
        while self._times and self._times[0] <= now_s - 3600.0:
            self._times.popleft()
