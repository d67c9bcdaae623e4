"""Cell chemistries: open-circuit voltage curves and protection thresholds.

Each curve maps state of charge (0..1, beyond 1 when overcharged) to open-circuit
voltage. The LiFePO4 curve has the long flat middle around 3.30 V that makes
voltage useless as a SoC gauge, and the steep rise above ~3.40 V that makes the
fullest cell of a pack run away at the end of a charge (seed 003): a cell pushed
past 100 % keeps rising well above its high-voltage cutoff.

Thresholds:

* LiFePO4: OVP 3.65 V (the usual JK/Daly setting), reset 3.55 V.
* CALB/HiPower: HVC 3.6 V; MiniBMS shunts 0.1 V below HVC (seed 003).
* Thundersky (LiFeYPO4): HVC 3.8 V, shunting from 3.7 V (seed 003).
* 12 V lead-acid modules (for the per-module balancer, seed 004): a "cell" is a
  whole 12 V battery; gassing makes the voltage climb steeply above 14.4 V.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

type Curve = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Chemistry:
    """One cell type: its OCV curve and the voltages a BMS/charger works with."""

    name: str
    ocv_curve: Curve  # (soc 0..1+, volts), soc ascending
    hvc: float  # over-voltage protection / high-voltage cutoff per cell
    hvc_reset: float  # protection releases below this
    lvc: float  # under-voltage protection per cell
    lvc_reset: float
    balance_start: float  # passive balancing (shunting) starts above this
    max_cell_voltage: float  # dbus-serialbattery MAX_CELL_VOLTAGE analogue (CVL per cell)
    min_cell_voltage: float  # dbus-serialbattery MIN_CELL_VOLTAGE analogue
    resistance: float  # ohm per cell at reference_capacity_ah
    reference_capacity_ah: float
    heat_capacity: float  # J/K per cell at reference_capacity_ah

    def ocv(self, soc: float) -> float:
        """Open-circuit voltage at ``soc``; linear between points, extrapolated outside."""
        curve = self.ocv_curve
        index = bisect_right([point[0] for point in curve], soc)
        # Clamp to the first/last segment so overcharge/overdischarge extrapolate.
        index = min(max(index, 1), len(curve) - 1)
        (s0, v0), (s1, v1) = curve[index - 1], curve[index]
        return v0 + (v1 - v0) * (soc - s0) / (s1 - s0)

    def resistance_for(self, capacity_ah: float) -> float:
        """Bigger cells have proportionally lower internal resistance."""
        return self.resistance * self.reference_capacity_ah / capacity_ah


# Resting OCV with the last points reflecting the end-of-charge knee as a charger
# sees it: 3.65 V at 100 %, and a cell pushed past full rises fast.
_LFP_CURVE: Curve = (
    (-0.05, 2.00),
    (0.00, 2.50),
    (0.02, 2.90),
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
    (1.01, 3.90),
    (1.03, 4.30),
)


def _shift_top(curve: Curve, top: float) -> Curve:
    """The LiFePO4 shape with the knee stretched so 100 % sits at ``top`` volts."""
    knee_soc, knee_v = 0.97, 3.40
    out: list[tuple[float, float]] = []
    for soc, volts in curve:
        if soc <= knee_soc:
            out.append((soc, volts))
        else:
            out.append((soc, knee_v + (volts - knee_v) * (top - knee_v) / (3.65 - knee_v)))
    return tuple(out)


LIFEPO4 = Chemistry(
    name="lifepo4",
    ocv_curve=_LFP_CURVE,
    hvc=3.65,
    hvc_reset=3.55,
    lvc=2.50,
    lvc_reset=2.90,
    balance_start=3.40,
    max_cell_voltage=3.45,
    min_cell_voltage=2.90,
    resistance=0.00025,  # 0.25 mOhm, a 280 Ah prismatic cell
    reference_capacity_ah=280.0,
    heat_capacity=5400.0,  # ~5.4 kg at ~1000 J/(kg K)
)

CALB = Chemistry(
    name="calb",
    ocv_curve=_shift_top(_LFP_CURVE, 3.60),
    hvc=3.60,
    hvc_reset=3.50,
    lvc=2.50,
    lvc_reset=2.90,
    balance_start=3.50,  # MiniBMS shunts 0.1 V below HVC
    max_cell_voltage=3.45,
    min_cell_voltage=2.90,
    resistance=0.0006,
    reference_capacity_ah=180.0,
    heat_capacity=5600.0,
)

THUNDERSKY = Chemistry(
    name="thundersky",
    ocv_curve=_shift_top(_LFP_CURVE, 3.80),
    hvc=3.80,
    hvc_reset=3.65,
    lvc=2.50,
    lvc_reset=2.90,
    balance_start=3.70,  # 0.1 V below HVC
    max_cell_voltage=3.60,
    min_cell_voltage=2.90,
    resistance=0.0008,
    reference_capacity_ah=160.0,
    heat_capacity=5700.0,
)

LEAD_ACID_12V = Chemistry(
    name="lead_acid_12v",
    ocv_curve=(
        (-0.05, 10.50),
        (0.00, 11.60),
        (0.20, 11.90),
        (0.40, 12.10),
        (0.60, 12.30),
        (0.80, 12.50),
        (0.95, 12.70),
        (1.00, 13.60),
        # Gassing: the terminal voltage climbs steeply once the module is full.
        (1.02, 14.60),
        (1.05, 15.50),
    ),
    hvc=14.70,
    hvc_reset=13.80,
    lvc=10.50,
    lvc_reset=11.80,
    balance_start=13.80,
    max_cell_voltage=14.40,  # absorption voltage
    min_cell_voltage=11.00,
    resistance=0.006,
    reference_capacity_ah=100.0,
    heat_capacity=25000.0,  # ~30 kg
)

CHEMISTRIES: dict[str, Chemistry] = {
    chem.name: chem for chem in (LIFEPO4, CALB, THUNDERSKY, LEAD_ACID_12V)
}
