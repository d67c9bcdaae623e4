"""Chargers (a MultiPlus on vebus, an MPPT on solarcharger) and the ESS power split.

Both chargers are CC/CV sources: they push min(current limit, the current that
brings the pack terminal voltage to the voltage limit), so current tapers by
itself as the pack nears CVL. The current limit is DVCC's CCL when DVCC controls
them, else the charger's own maximum.

MPPTs obey CCL except with ``dc_coupled_feed_in`` ("Feed-in excess DC-coupled PV"):
then systemcalc maximises them and only the voltage limit holds them back
(victronenergy/venus#1358), so excess PV flows past a BMS current limit.

ESS policy (``EssConfig``): PV first to the AC loads, surplus to the battery,
the rest exported (with dc_coupled_feed_in) or curtailed; loads above PV come
from the battery while SoC > the minimum, else from the grid. ``grid_charging``
on the MultiPlus charges from the grid up to the remaining CCL (what the
"Virtual Battery Monitor" top balance of seed 000 relies on).

Conversion losses: the MPPT delivers ``efficiency`` of the PV power to the DC bus; the
MultiPlus delivers ``inverter_efficiency`` of the DC power it draws as AC, and stores
``charger_efficiency`` of the AC power it takes. All default to 1.0 (lossless) so a test
can state exact power balances; the PV-surplus benchmark sets datasheet values.
``EssConfig.response_s`` is how fast the ESS loop moves the MultiPlus to a new set point
(0 = at once): with a lag, a load step shows on the grid meter until the loop caught up.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MultiPlusConfig:
    """A vebus inverter/charger."""

    instance: int = 276
    max_charge_current: float = 70.0  # MultiPlus-II 48/5000/70
    max_inverter_power: float = 5000.0
    grid_charging: bool = True
    # Its own absorption voltage when DVCC does not control it (per pack cell).
    absorption_cell_voltage: float = 3.55
    inverter_efficiency: float = 1.0  # AC out / DC in while inverting
    charger_efficiency: float = 1.0  # DC out / AC in while charging

    def __post_init__(self) -> None:
        _check_efficiency("inverter_efficiency", self.inverter_efficiency)
        _check_efficiency("charger_efficiency", self.charger_efficiency)


@dataclass(frozen=True)
class MpptConfig:
    """A solarcharger (SmartSolar MPPT)."""

    instance: int = 278
    max_charge_current: float = 100.0
    absorption_cell_voltage: float = 3.55
    efficiency: float = 1.0  # DC bus power / PV power

    def __post_init__(self) -> None:
        _check_efficiency("efficiency", self.efficiency)


@dataclass(frozen=True)
class GridMeterConfig:
    """A grid meter (an ET112 on the GX), the source of the import/export counters."""

    instance: int = 30


@dataclass(frozen=True)
class EssConfig:
    """The ESS assistant's basic policy."""

    min_soc: float = 10.0  # % (BatteryLife off: a fixed minimum)
    allow_discharge: bool = True
    response_s: float = 0.0  # time constant of the grid set-point loop (0 = instant)

    def __post_init__(self) -> None:
        if not self.response_s >= 0:
            raise ValueError(f"response_s must not be negative, got {self.response_s}")


@dataclass(frozen=True)
class Flows:
    """Power and current flows of one step (W, A; battery current + charges)."""

    pv_available: float = 0.0  # what the array could give
    pv_power: float = 0.0  # what the MPPT took
    load_power: float = 0.0
    grid_power: float = 0.0  # + import, - export
    battery_current: float = 0.0
    mppt_current: float = 0.0
    vebus_dc_current: float = 0.0  # + charging the battery, - inverting
    vebus_ac_in: float = 0.0  # power taken from the grid by the MultiPlus
    vebus_ac_out: float = 0.0  # power to the AC loads
    charge_voltage_limit: float = 0.0
    charge_current_limit: float | None = None


def _check_efficiency(name: str, value: float) -> None:
    if not 0 < value <= 1:
        raise ValueError(f"{name} must be within (0, 1], got {value}")


def cc_cv_current(current_limit: float, voltage_room: float) -> float:
    """A CC/CV charger's current: its limit, or less to stay at the voltage limit."""
    return max(0.0, min(current_limit, voltage_room))
