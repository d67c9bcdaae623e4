"""Chemistry presets and the charge limits every control path must respect.

A preset names the cell target of a top balance (CVL = cells x target, seed 003), the
cell's high-voltage cutoff, the BMS over-voltage trip and the shunt offset (MiniBMS
shunts 0.1 V below HVC). `charge_bounds` turns a preset and a cell count into the
limits the number entities, the services and the controller all clamp to, so no path
can ask the charger for more than the cells may take.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass


def _finite(value: float, what: str) -> float:
    """The value as a float; NaN, inf and non-numbers raise ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what} must be a number, got {value!r}") from err
    if not math.isfinite(number):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class ChemistryPreset:
    """Per-cell voltages of one cell type."""

    key: str
    name: str
    cell_target_v: float  # CVL per cell during a top balance
    hvc_v: float  # the cell's high-voltage cutoff (the "full" of seed 003)
    ovp_v: float  # where the BMS opens the charge path
    shunt_offset_v: float = 0.1  # shunting (bleeding) starts this far below the target
    min_cell_v: float = 2.90  # lowest per-cell CVL anyone may set
    max_cell_v: float = 3.65  # highest per-cell CVL anyone may set

    def __post_init__(self) -> None:
        for name in (
            "cell_target_v",
            "hvc_v",
            "ovp_v",
            "shunt_offset_v",
            "min_cell_v",
            "max_cell_v",
        ):
            _finite(getattr(self, name), name)
        if not 0 < self.min_cell_v < self.max_cell_v:
            raise ValueError("need 0 < min_cell_v < max_cell_v")
        if not self.min_cell_v <= self.cell_target_v <= self.max_cell_v:
            raise ValueError("cell_target_v must lie within min_cell_v..max_cell_v")
        if self.max_cell_v > self.ovp_v:
            raise ValueError("max_cell_v must not exceed the BMS over-voltage trip")
        if not 0 < self.shunt_offset_v < 0.5:
            raise ValueError("shunt_offset_v must be between 0 and 0.5 V")

    @property
    def shunt_v(self) -> float:
        """The shunt (bleed) level of the default target."""
        return self.cell_target_v - self.shunt_offset_v

    @property
    def target_min_v(self) -> float:
        """Lowest sensible top-balance target: below it cells never reach the knee."""
        return max(self.min_cell_v, self.hvc_v - 0.30)

    def to_dict(self) -> dict[str, object]:
        """Plain values for persistence."""
        return {
            "key": self.key,
            "name": self.name,
            "cell_target_v": self.cell_target_v,
            "hvc_v": self.hvc_v,
            "ovp_v": self.ovp_v,
            "shunt_offset_v": self.shunt_offset_v,
            "min_cell_v": self.min_cell_v,
            "max_cell_v": self.max_cell_v,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ChemistryPreset:
        """Inverse of `to_dict`; validates like the constructor."""
        return cls(
            key=str(data["key"]),
            name=str(data["name"]),
            cell_target_v=_finite(data["cell_target_v"], "cell_target_v"),  # type: ignore[arg-type]
            hvc_v=_finite(data["hvc_v"], "hvc_v"),  # type: ignore[arg-type]
            ovp_v=_finite(data["ovp_v"], "ovp_v"),  # type: ignore[arg-type]
            shunt_offset_v=_finite(data["shunt_offset_v"], "shunt_offset_v"),  # type: ignore[arg-type]
            min_cell_v=_finite(data["min_cell_v"], "min_cell_v"),  # type: ignore[arg-type]
            max_cell_v=_finite(data["max_cell_v"], "max_cell_v"),  # type: ignore[arg-type]
        )


# LiFePO4 cells: 3.65 V is the datasheet maximum and the usual JK/Daly OVP, so no
# target above it; 3.55/3.60 leave room for the regulation below the trip.
PRESETS: dict[str, ChemistryPreset] = {
    preset.key: preset
    for preset in (
        ChemistryPreset("lifepo4_355", "LiFePO4 3.55 V", 3.55, 3.65, 3.65),
        ChemistryPreset("lifepo4_360", "LiFePO4 3.60 V", 3.60, 3.65, 3.65),
        ChemistryPreset("lifepo4_365", "LiFePO4 3.65 V", 3.65, 3.65, 3.65),
        # Seed 003: HiPower/CALB HVC 3.6 V, MiniBMS shunts 0.1 V below.
        ChemistryPreset("calb_360", "CALB/HiPower 3.60 V", 3.60, 3.60, 3.60, max_cell_v=3.60),
        # Seed 003: Thundersky (LiFeYPO4) HVC 3.8 V, shunting from 3.7 V.
        ChemistryPreset("thundersky_380", "Thundersky 3.80 V", 3.80, 3.80, 3.80, max_cell_v=3.80),
        # A starting point the user edits (dataclasses.replace); LiFePO4-safe limits.
        ChemistryPreset("custom", "Custom", 3.55, 3.65, 3.65),
    )
}


@dataclass(frozen=True, slots=True)
class ChargeBounds:
    """Pack-level limits for every control path (UI, services, automations, controller)."""

    voltage_min: float
    voltage_max: float
    current_min: float
    current_max: float
    cell_target_min: float
    cell_target_max: float

    @staticmethod
    def _clamp(value: float, low: float, high: float, what: str) -> float:
        return min(max(_finite(value, what), low), high)

    def clamp_voltage(self, volts: float) -> float:
        """A pack CVL within bounds; NaN/inf raise ValueError."""
        return self._clamp(volts, self.voltage_min, self.voltage_max, "charge voltage")

    def clamp_current(self, amps: float) -> float:
        """A CCL within bounds; NaN/inf raise ValueError."""
        return self._clamp(amps, self.current_min, self.current_max, "charge current")

    def clamp_cell_target(self, volts: float) -> float:
        """A per-cell top-balance target within bounds; NaN/inf raise ValueError."""
        return self._clamp(volts, self.cell_target_min, self.cell_target_max, "cell target")


DEFAULT_MAX_CURRENT_A = 100.0


def charge_bounds(
    cells: int, preset: ChemistryPreset, max_current_a: float = DEFAULT_MAX_CURRENT_A
) -> ChargeBounds:
    """The limits for `cells` cells of `preset`, current 0..`max_current_a`."""
    if isinstance(cells, bool) or not isinstance(cells, int) or not 1 <= cells <= 64:
        raise ValueError(f"cells must be an integer 1..64, got {cells!r}")
    current_max = _finite(max_current_a, "max_current_a")
    if current_max <= 0:
        raise ValueError("max_current_a must be positive")
    return ChargeBounds(
        voltage_min=round(cells * preset.min_cell_v, 3),
        voltage_max=round(cells * preset.max_cell_v, 3),
        current_min=0.0,
        current_max=current_max,
        cell_target_min=preset.target_min_v,
        cell_target_max=preset.max_cell_v,
    )


# Resting LiFePO4 curve (SoC 0..1 -> V) for 3.65 V at full; only used for estimates
# (progress, ETA, advice), never for a limit. Above the knee (3.40 V) the shape is
# stretched so that "full" sits at the preset's HVC.
_LFP_OCV: tuple[tuple[float, float], ...] = (
    (0.00, 2.50),
    (0.05, 3.10),
    (0.10, 3.20),
    (0.20, 3.25),
    (0.30, 3.275),
    (0.40, 3.29),
    (0.50, 3.30),
    (0.60, 3.31),
    (0.70, 3.325),
    (0.80, 3.335),
    (0.90, 3.35),
    (0.95, 3.38),
    (0.97, 3.40),
    (0.985, 3.45),
    (0.995, 3.55),
    (1.00, 3.65),
)
_KNEE_V = 3.40


def estimated_soc(volts: float, preset: ChemistryPreset) -> float:
    """A rough SoC 0..1 from a resting cell voltage (flat middle: only good near the top)."""
    volts = _finite(volts, "cell voltage")
    points = [
        (soc, v if v <= _KNEE_V else _KNEE_V + (v - _KNEE_V) * (preset.hvc_v - _KNEE_V) / 0.25)
        for soc, v in _LFP_OCV
    ]
    voltages = [v for _, v in points]
    if volts <= voltages[0]:
        return 0.0
    if volts >= voltages[-1]:
        return 1.0
    index = bisect_right(voltages, volts)
    (s0, v0), (s1, v1) = points[index - 1], points[index]
    return s0 + (s1 - s0) * (volts - v0) / (v1 - v0)
