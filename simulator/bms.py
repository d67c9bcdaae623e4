"""A BMS that protects and balances a Pack and reports like dbus-serialbattery.

Protection (the hardware part, what a JK/Daly board does with its MOSFETs):

* Over-voltage: a cell at or above ``ovp`` (chemistry HVC, 3.65 V for LiFePO4)
  opens the charge path: no charge current flows at all, ``Io/AllowToCharge`` = 0,
  CCL = 0, ``Alarms/HighVoltage`` = 2. It closes again once every cell is below
  ``ovp_reset`` (3.55 V). Every trip counts in ``ovp_events`` and is logged
  with the cell that tripped (the "first to HVC" of seed 003).
* Under-voltage works the same way on the discharge path.
* Passive balancing bleeds ``balance_current`` from every cell that is above
  ``balance_start`` and more than ``balance_threshold`` above the lowest cell.

Limits (the driver part). dbus-serialbattery's simple defaults, CVCM and the
CVL controllers off, because the integration is meant to drive the charge
itself:

* CVL = ``max_cell_voltage`` x cells (MAX_CELL_VOLTAGE 3.45 V for LiFePO4).
  Raise ``max_cell_voltage`` to 3.65 V to mimic its "SoC reset" top-balance mode.
* CCL = MAX_BATTERY_CHARGE_CURRENT x a fraction interpolated on the highest
  cell voltage (CELL_VOLTAGES_WHILE_CHARGING 3.500/3.450/3.425/3.400/3.375 ->
  0/0.005/0.05/0.25/1, expressed relative to ``max_cell_voltage`` so it scales
  with the chemistry). No 60 s recalculation throttle and no recovery ramp.
* DCL = MAX_BATTERY_DISCHARGE_CURRENT, 0 while under-voltage protection holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

from simulator.pack import Pack

# CELL_VOLTAGES_WHILE_CHARGING relative to MAX_CELL_VOLTAGE (3.45) -> CCL fraction.
_CCL_TABLE: tuple[tuple[float, float], ...] = (
    (-0.075, 1.0),
    (-0.050, 0.25),
    (-0.025, 0.05),
    (0.000, 0.005),
    (0.050, 0.0),
)


def ccl_fraction(max_cell: float, max_cell_voltage: float) -> float:
    """dbus-serialbattery's linear CCL-by-cell-voltage interpolation."""
    offset = max_cell - max_cell_voltage
    if offset <= _CCL_TABLE[0][0]:
        return _CCL_TABLE[0][1]
    for (x0, y0), (x1, y1) in pairwise(_CCL_TABLE):
        if offset <= x1:
            return y0 + (y1 - y0) * (offset - x0) / (x1 - x0)
    return _CCL_TABLE[-1][1]


@dataclass(frozen=True)
class BmsConfig:
    """BMS settings; None means "take the chemistry's value"."""

    balance_current: float = 1.0  # A; JK boards do 0.6-2 A, Daly 30 mA
    balance_start: float | None = None  # V
    balance_threshold: float = 0.010  # V above the lowest cell
    ovp: float | None = None
    ovp_reset: float | None = None
    uvp: float | None = None
    uvp_reset: float | None = None
    max_cell_voltage: float | None = None  # CVL per cell
    min_cell_voltage: float | None = None
    max_charge_current: float = 50.0  # MAX_BATTERY_CHARGE_CURRENT
    max_discharge_current: float = 60.0  # MAX_BATTERY_DISCHARGE_CURRENT
    ccl_by_cell_voltage: bool = True  # CCCM_CV_ENABLE
    high_temperature: float = 55.0


@dataclass
class OvpEvent:
    """One over-voltage trip."""

    time: float  # simulated seconds
    cell: int  # 1-based index of the cell that tripped
    voltage: float


@dataclass
class Bms:
    """Protection, balancing and the dbus-serialbattery view of one pack."""

    config: BmsConfig
    pack: Pack
    charge_allowed: bool = True
    discharge_allowed: bool = True
    ovp_events: list[OvpEvent] = field(default_factory=list)
    uvp_events: int = 0
    balancing: list[bool] = field(init=False)

    def __post_init__(self) -> None:
        self.balancing = [False] * len(self.pack.cells)

    def _pick(self, value: float | None, default: float) -> float:
        return default if value is None else value

    @property
    def ovp(self) -> float:
        """Over-voltage trip level per cell."""
        return self._pick(self.config.ovp, self.pack.chemistry.hvc)

    @property
    def ovp_reset(self) -> float:
        """Over-voltage release level per cell."""
        return self._pick(self.config.ovp_reset, self.pack.chemistry.hvc_reset)

    @property
    def max_cell_voltage(self) -> float:
        """Per-cell charge voltage the CVL is built from."""
        return self._pick(self.config.max_cell_voltage, self.pack.chemistry.max_cell_voltage)

    @property
    def min_cell_voltage(self) -> float:
        """Per-cell low voltage (BatteryLowVoltage)."""
        return self._pick(self.config.min_cell_voltage, self.pack.chemistry.min_cell_voltage)

    # ------------------------------------------------------------------ update
    def update(self, now: float) -> None:
        """Judge the cells as they are now: protection first, then balancing."""
        volts = self.pack.cell_voltages()
        high = max(volts)
        low = min(volts)
        if self.charge_allowed and high >= self.ovp:
            self.charge_allowed = False
            cell = volts.index(high) + 1
            self.ovp_events.append(OvpEvent(now, cell, high))
        elif not self.charge_allowed and high < self.ovp_reset:
            self.charge_allowed = True
        uvp = self._pick(self.config.uvp, self.pack.chemistry.lvc)
        uvp_reset = self._pick(self.config.uvp_reset, self.pack.chemistry.lvc_reset)
        if self.discharge_allowed and low <= uvp:
            self.discharge_allowed = False
            self.uvp_events += 1
        elif not self.discharge_allowed and low > uvp_reset:
            self.discharge_allowed = True
        start = self._pick(self.config.balance_start, self.pack.chemistry.balance_start)
        self.balancing = [v > start and v > low + self.config.balance_threshold for v in volts]
        self.pack.set_bleed([self.config.balance_current if on else 0.0 for on in self.balancing])

    # ------------------------------------------------------------------ limits
    @property
    def cvl(self) -> float:
        """Info/MaxChargeVoltage."""
        return self.max_cell_voltage * len(self.pack.cells)

    @property
    def ccl(self) -> float:
        """Info/MaxChargeCurrent."""
        if not self.charge_allowed:
            return 0.0
        limit = self.config.max_charge_current
        if self.config.ccl_by_cell_voltage:
            limit *= ccl_fraction(max(self.pack.cell_voltages()), self.max_cell_voltage)
        if max(self.pack.temperatures()) >= self.config.high_temperature:
            limit = 0.0
        return limit

    @property
    def dcl(self) -> float:
        """Info/MaxDischargeCurrent."""
        return self.config.max_discharge_current if self.discharge_allowed else 0.0

    # --------------------------------------------------------------- reporting
    def paths(self) -> dict[str, float | int | str | None]:
        """The battery service values dbus-serialbattery would publish now."""
        pack = self.pack
        volts = pack.cell_voltages()
        temps = pack.temperatures()
        out: dict[str, float | int | str | None] = {}
        for index, (v, on) in enumerate(zip(volts, self.balancing, strict=True), start=1):
            out[f"/Voltages/Cell{index}"] = round(v, 3)
            out[f"/Balances/Cell{index}"] = 1 if on else 0
        soc = pack.soc
        capacity = pack.capacity_ah
        high_temp = max(temps)
        out |= {
            "/Dc/0/Current": round(pack.current, 2),
            "/Dc/0/Temperature": round(high_temp, 1),
            "/Soc": round(soc * 100, 1),
            "/Capacity": round(capacity * soc, 1),
            "/ConsumedAmphours": round(capacity * (1 - soc), 1),
            "/Info/MaxChargeVoltage": round(self.cvl, 3),
            "/Info/MaxChargeCurrent": round(self.ccl, 1),
            "/Info/MaxDischargeCurrent": round(self.dcl, 1),
            "/Info/BatteryLowVoltage": round(self.min_cell_voltage * len(pack.cells), 3),
            "/Io/AllowToCharge": 1 if self.charge_allowed else 0,
            "/Io/AllowToDischarge": 1 if self.discharge_allowed else 0,
            "/Alarms/HighVoltage": 0 if self.charge_allowed else 2,
            "/Alarms/LowCellVoltage": 0 if self.discharge_allowed else 2,
            "/Alarms/CellImbalance": 1 if max(volts) - min(volts) > 0.1 else 0,
            "/Alarms/HighTemperature": 2 if high_temp >= self.config.high_temperature else 0,
            "/Info/ChargeMode": "Bulk" if self.charge_allowed else "Bulk (OVP)",
        }
        return out
