"""Pack physics: series cells with coulomb counting, internal resistance and heat.

Pure and synchronous (no asyncio, no MQTT). Sign convention: current > 0 charges.

* Every cell sees the pack current minus its own bleed (balancing) current, so a
  bled cell charges a little slower: the only way passive balancing moves charge.
* Terminal voltage = OCV(SoC) + I * R, so a charger that holds the pack at a
  voltage limit sees its current taper as the cells' OCV rises (CC/CV for free).
* Capacities and initial SoCs are spread around the nominal values from a seed,
  so runs are reproducible and the fullest cell differs from the largest one.
* Temperature: I^2 R heating against Newtonian cooling to the ambient.
* The cells' OCVs are computed once per change of charge (a plant step reads them
  several times; the OCV lookup dominated the benchmarks' run time).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from simulator.chemistry import LIFEPO4, Chemistry

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class PackConfig:
    """What pack to build; spreads are uniform +/- around the nominal values."""

    cells: int = 16
    chemistry: Chemistry = LIFEPO4
    capacity_ah: float = 280.0
    capacity_spread: float = 0.02  # relative, +/-2 %
    soc: float = 0.5  # initial SoC 0..1
    soc_spread: float = 0.03  # absolute, +/-3 % SoC
    resistance_spread: float = 0.10  # relative
    ambient_c: float = 22.0
    cooling_w_per_k: float = 0.6  # per cell, natural convection in a box
    seed: int = 1

    def __post_init__(self) -> None:
        if self.cells < 1:
            raise ValueError(f"a pack needs at least one cell, got {self.cells}")
        if self.capacity_ah <= 0:
            raise ValueError(f"capacity must be positive, got {self.capacity_ah}")


@dataclass
class Cell:
    """One series element (a cell, a parallel group, or a 12 V module)."""

    capacity_ah: float
    charge_ah: float  # may exceed capacity_ah (overcharge) or go below 0
    resistance: float
    temperature: float
    bleed: float = 0.0  # balancing current drawn by the BMS, A

    @property
    def soc(self) -> float:
        """State of charge 0..1 (unclamped)."""
        return self.charge_ah / self.capacity_ah


@dataclass
class Pack:
    """A series string of cells."""

    config: PackConfig
    cells: list[Cell] = field(init=False)
    current: float = field(init=False, default=0.0)  # last pack current, + charges
    charged_ah: float = field(init=False, default=0.0)  # counters for reports
    discharged_ah: float = field(init=False, default=0.0)
    # Derived from the cells' charge, recomputed after it changes (see _cached_ocvs).
    _ocvs: list[float] | None = field(init=False, default=None, repr=False, compare=False)
    _soc: float = field(init=False, default=0.0, repr=False, compare=False)
    _ocv_sum: float = field(init=False, default=0.0, repr=False, compare=False)
    # Sum of bleed x resistance (set_bleed is the only writer of the cells' bleed).
    _bleed_drop: float = field(init=False, default=0.0, repr=False, compare=False)

    def __post_init__(self) -> None:
        cfg = self.config
        rng = random.Random(f"pack-{cfg.seed}")
        self.cells = []
        for _ in range(cfg.cells):
            capacity = cfg.capacity_ah * (
                1 + rng.uniform(-cfg.capacity_spread, cfg.capacity_spread)
            )
            soc = min(max(cfg.soc + rng.uniform(-cfg.soc_spread, cfg.soc_spread), 0.0), 1.0)
            resistance = cfg.chemistry.resistance_for(cfg.capacity_ah) * (
                1 + rng.uniform(-cfg.resistance_spread, cfg.resistance_spread)
            )
            self.cells.append(Cell(capacity, capacity * soc, resistance, cfg.ambient_c))

    @property
    def chemistry(self) -> Chemistry:
        """The cells' chemistry."""
        return self.config.chemistry

    # ---------------------------------------------------------------- reading
    def ocvs(self) -> list[float]:
        """Open-circuit voltage of each cell."""
        return list(self._cached_ocvs())

    def _cached_ocvs(self) -> list[float]:
        if self._ocvs is None:
            cells = self.cells
            self._ocvs = [self.chemistry.ocv(cell.soc) for cell in cells]
            self._ocv_sum = sum(self._ocvs)
            total = sum(cell.charge_ah for cell in cells)
            capacity = sum(cell.capacity_ah for cell in cells)
            self._soc = min(max(total / capacity, 0.0), 1.0)
        return self._ocvs

    def cell_voltages(self, current: float | None = None) -> list[float]:
        """Terminal voltage of each cell at ``current`` (default: the last one)."""
        amps = self.current if current is None else current
        return [
            ocv + (amps - cell.bleed) * cell.resistance
            for ocv, cell in zip(self._cached_ocvs(), self.cells, strict=True)
        ]

    def voltage(self, current: float | None = None) -> float:
        """Pack terminal voltage."""
        amps = self.current if current is None else current
        self._cached_ocvs()
        return self._ocv_sum + amps * self.resistance() - self._bleed_drop

    def resistance(self) -> float:
        """Series resistance of the string."""
        return self._resistance

    @cached_property
    def _resistance(self) -> float:
        return sum(cell.resistance for cell in self.cells)

    def current_for_voltage(self, volts: float) -> float:
        """The current at which the terminal voltage equals ``volts`` (a CV charger's set point)."""
        self._cached_ocvs()
        return (volts - (self._ocv_sum - self._bleed_drop)) / self.resistance()

    @property
    def capacity_ah(self) -> float:
        """What the string can deliver: limited by its smallest cell."""
        return min(cell.capacity_ah for cell in self.cells)

    @property
    def soc(self) -> float:
        """Pack SoC 0..1 as a coulomb-counting BMS shows it (charge over capacity)."""
        self._cached_ocvs()
        return self._soc

    def temperatures(self) -> list[float]:
        """Cell temperatures, degC."""
        return [cell.temperature for cell in self.cells]

    # ------------------------------------------- CellSink (the relay balancer)
    def cell_voltage(self, index: int) -> float:
        """Terminal voltage of cell ``index`` (0-based) at the last pack current."""
        cell = self.cells[index]
        return self._cached_ocvs()[index] + (self.current - cell.bleed) * cell.resistance

    def add_cell_charge(self, index: int, amp_seconds: float) -> None:
        """Charge from an external per-cell charger (the balancer's DC/DC) into one cell."""
        self.cells[index].charge_ah += amp_seconds / SECONDS_PER_HOUR
        self._ocvs = None

    # --------------------------------------------------------------- changing
    def set_bleed(self, currents: Sequence[float]) -> None:
        """Balancing currents per cell (0 = not bleeding)."""
        if len(currents) != len(self.cells):
            raise ValueError(f"need {len(self.cells)} bleed currents, got {len(currents)}")
        for cell, amps in zip(self.cells, currents, strict=True):
            cell.bleed = amps
        self._bleed_drop = sum(cell.bleed * cell.resistance for cell in self.cells)

    def set_socs(self, socs: Sequence[float]) -> None:
        """Force each cell's SoC (0..1), e.g. to stage an imbalance in a test."""
        if len(socs) != len(self.cells):
            raise ValueError(f"need {len(self.cells)} SoCs, got {len(socs)}")
        for cell, soc in zip(self.cells, socs, strict=True):
            cell.charge_ah = cell.capacity_ah * soc
        self._ocvs = None

    def step(self, current: float, dt: float, stored_current: float | None = None) -> None:
        """Let ``current`` flow for ``dt`` seconds: coulomb counting and heating.

        ``stored_current`` is what the cells gain or lose from it (default: all of it):
        below ``current`` when charging, above it when discharging, for a battery with
        losses.
        """
        self.current = current
        into_cells = current if stored_current is None else stored_current
        self._ocvs = None
        hours = dt / SECONDS_PER_HOUR
        if current > 0:
            self.charged_ah += current * hours
        else:
            self.discharged_ah -= current * hours
        cfg = self.config
        heat_capacity = (
            cfg.chemistry.heat_capacity * cfg.capacity_ah / (cfg.chemistry.reference_capacity_ah)
        )
        for cell in self.cells:
            amps = current - cell.bleed
            cell.charge_ah += (into_cells - cell.bleed) * hours
            # The bleed resistor's heat goes into the BMS board, not the cell.
            heating = amps * amps * cell.resistance
            cooling = cfg.cooling_w_per_k * (cell.temperature - cfg.ambient_c)
            cell.temperature += (heating - cooling) * dt / heat_capacity
