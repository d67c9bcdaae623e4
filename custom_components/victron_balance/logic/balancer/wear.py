"""Relay wear: load vs dry contact operations and the life left (seed 004).

Lee Hart's relays are rated 100,000 operations switching load and 1,000,000 switching
a dry circuit, so each load operation uses 1e-5 of the life and each dry one 1e-6:
remaining = 1 - (load / 100k + dry / 1M). With the safe sequence every operation
should be dry; a load count that grows means something switches under current.

Counts come either from the device (`relay/<n>/cycles`, `relay/<n>/load_cycles`,
which restart at zero when the device powers up) or from the sequencer's own commands.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

LOAD_LIFE = 100_000  # operations switching current
DRY_LIFE = 1_000_000  # operations switching nothing
WARN_BELOW = 0.10  # warn when less than 10 % of the life is left


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    return value


@dataclass(slots=True)
class RelayWear:
    """Lifetime counts of one relay, plus the device counters last seen."""

    load: int = 0
    dry: int = 0
    seen_cycles: int = 0  # device `cycles` at the last observation
    seen_load: int = 0  # device `load_cycles` at the last observation

    def to_dict(self) -> dict[str, int]:
        """Plain values for persistence."""
        return {
            "load": self.load,
            "dry": self.dry,
            "seen_cycles": self.seen_cycles,
            "seen_load": self.seen_load,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RelayWear:
        """Inverse of `to_dict`."""
        return cls(
            load=_count(data.get("load", 0), "load"),
            dry=_count(data.get("dry", 0), "dry"),
            seen_cycles=_count(data.get("seen_cycles", 0), "seen_cycles"),
            seen_load=_count(data.get("seen_load", 0), "seen_load"),
        )


class WearTracker:
    """Per-relay wear of a balancer with relays 1..N."""

    def __init__(
        self,
        relays: int,
        load_life: int = LOAD_LIFE,
        dry_life: int = DRY_LIFE,
        warn_below: float = WARN_BELOW,
    ) -> None:
        if _count(relays, "relays") < 1:
            raise ValueError("at least one relay is needed")
        if _count(load_life, "load_life") < 1 or _count(dry_life, "dry_life") < 1:
            raise ValueError("relay lives must be positive")
        if not (math.isfinite(warn_below) and 0 <= warn_below < 1):
            raise ValueError("warn_below must be a fraction 0..1")
        self.load_life = load_life
        self.dry_life = dry_life
        self.warn_below = warn_below
        self.relays = [RelayWear() for _ in range(relays)]

    def _relay(self, n: int) -> RelayWear:
        if not 1 <= n <= len(self.relays):
            raise ValueError(f"relay {n} out of range 1..{len(self.relays)}")
        return self.relays[n - 1]

    # --- counting -----------------------------------------------------------------

    def record(self, n: int, under_load: bool = False) -> None:
        """One contact operation of relay `n` (from the controller's own commands)."""
        wear = self._relay(n)
        if under_load:
            wear.load += 1
        else:
            wear.dry += 1

    def observe(self, n: int, cycles: int, load_cycles: int) -> None:
        """The device's counters for relay `n` (all operations, those under load).

        Adds what happened since the last observation. Counters lower than before mean
        the device restarted from zero, so the new values are all new operations.
        """
        cycles = _count(cycles, "cycles")
        load_cycles = _count(load_cycles, "load_cycles")
        if load_cycles > cycles:
            raise ValueError("load_cycles cannot exceed cycles")
        wear = self._relay(n)
        restarted = cycles < wear.seen_cycles or load_cycles < wear.seen_load
        base_cycles, base_load = (0, 0) if restarted else (wear.seen_cycles, wear.seen_load)
        new_load = load_cycles - base_load
        new_all = cycles - base_cycles
        wear.load += new_load
        wear.dry += max(new_all - new_load, 0)
        wear.seen_cycles, wear.seen_load = cycles, load_cycles

    # --- results ------------------------------------------------------------------

    def used(self, n: int) -> float:
        """Fraction of relay `n`'s life used."""
        wear = self._relay(n)
        return wear.load / self.load_life + wear.dry / self.dry_life

    def remaining(self, n: int) -> float:
        """Fraction of relay `n`'s life left, 0..1."""
        return max(1.0 - self.used(n), 0.0)

    def worn(self) -> list[int]:
        """Relays (1-based) with less than `warn_below` of their life left."""
        return [n for n in range(1, len(self.relays) + 1) if self.remaining(n) < self.warn_below]

    def summary(self) -> list[dict[str, Any]]:
        """Per relay: counts, remaining fraction and the warning (JSON types)."""
        return [
            {
                "relay": n,
                "load": wear.load,
                "dry": wear.dry,
                "remaining": round(self.remaining(n), 6),
                "warning": self.remaining(n) < self.warn_below,
            }
            for n, wear in enumerate(self.relays, start=1)
        ]

    # --- persistence --------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state."""
        return {
            "load_life": self.load_life,
            "dry_life": self.dry_life,
            "warn_below": self.warn_below,
            "relays": [wear.to_dict() for wear in self.relays],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WearTracker:
        """Inverse of `to_dict`."""
        relays = [RelayWear.from_dict(item) for item in data["relays"]]
        tracker = cls(
            len(relays),
            load_life=data.get("load_life", LOAD_LIFE),
            dry_life=data.get("dry_life", DRY_LIFE),
            warn_below=float(data.get("warn_below", WARN_BELOW)),
        )
        tracker.relays = relays
        return tracker
