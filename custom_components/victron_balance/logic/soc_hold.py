"""Hold at SoC: stop charging at a state of charge, resume below it (with hysteresis).

Used through the virtual BMS (a charge current limit of 0 A), so holding the pack at,
say, 80 % costs no flash writes on the GX however often it switches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_HYSTERESIS_PCT = 3.0


@dataclass
class SocHold:
    """Charge allowed below the target; blocked from the target until SoC falls back."""

    target_pct: float
    hysteresis_pct: float = DEFAULT_HYSTERESIS_PCT
    holding: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.target_pct) and 10.0 <= self.target_pct <= 100.0):
            raise ValueError("hold target must be 10..100 %")
        if not (math.isfinite(self.hysteresis_pct) and 0.5 <= self.hysteresis_pct <= 20.0):
            raise ValueError("hysteresis must be 0.5..20 %")

    def charge_allowed(self, soc_pct: float | None) -> bool:
        """Whether the chargers may charge now; an unknown SoC never allows charging."""
        if soc_pct is None or not math.isfinite(soc_pct):
            return False
        if soc_pct >= self.target_pct:
            self.holding = True
        elif soc_pct <= self.target_pct - self.hysteresis_pct:
            self.holding = False
        return not self.holding

    def charge_current(self, soc_pct: float | None, normal_a: float) -> float:
        """The charge current limit to announce: normal below the target, else 0 A."""
        return normal_a if self.charge_allowed(soc_pct) else 0.0
