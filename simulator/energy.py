"""Energy counters of the simulated installation, as Victron devices keep them.

A BMS counts kWh charged and discharged (dbus-serialbattery's /History/ChargedEnergy and
/History/DischargedEnergy), an MPPT its total yield (/Yield/User) and a grid meter its
import and export (/Ac/Energy/Forward and /Ac/Energy/Reverse), all in kWh.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.chargers import Flows

_WS_PER_KWH = 3_600_000.0


@dataclass
class EnergyTotals:
    """Lifetime counters in kWh, advanced once per physics step."""

    battery_charged: float = 0.0
    battery_discharged: float = 0.0
    pv_yield: float = 0.0
    grid_import: float = 0.0
    grid_export: float = 0.0

    def add(self, flows: Flows, battery_power: float, dt: float) -> None:
        """Add one step of ``dt`` seconds at these flows (battery power + charging)."""
        self.battery_charged += max(battery_power, 0.0) * dt / _WS_PER_KWH
        self.battery_discharged += max(-battery_power, 0.0) * dt / _WS_PER_KWH
        self.pv_yield += max(flows.pv_power, 0.0) * dt / _WS_PER_KWH
        self.grid_import += max(flows.grid_power, 0.0) * dt / _WS_PER_KWH
        self.grid_export += max(-flows.grid_power, 0.0) * dt / _WS_PER_KWH
