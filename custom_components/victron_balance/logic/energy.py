"""Lifetime kWh totals for the Energy dashboard, from device counters or from power.

Victron devices that count energy publish kWh counters (a BMS's /History/ChargedEnergy,
an MPPT's /Yield/User, a grid meter's /Ac/Energy/Forward). A total follows the increases
of those counters, device by device, so a device that vanishes and comes back, or one
whose counter is reset, never makes the total step down or jump by a whole counter.
Where no device counts, the total integrates the power instead; a gap in the readings
longer than `max_gap_s` is skipped, never integrated as if the power had stood still.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .venus_state import VenusState, float_value, phase_total
from .venus_topics import SYSTEM, ServiceKey

WATT_SECONDS_PER_KWH = 3_600_000.0
# Venus sends a heartbeat every 3 s; a live link yields a sample at least that often.
DEFAULT_MAX_GAP_S = 30.0


@dataclass
class EnergyTotal:
    """One lifetime total in kWh (None until the first counter or power sample)."""

    max_gap_s: float = DEFAULT_MAX_GAP_S
    total_kwh: float | None = None
    counters: dict[str, float] = field(default_factory=dict)
    _sample: tuple[float, float] | None = None

    def feed_counters(self, readings: Mapping[str, float]) -> None:
        """Add what each device's counter rose since its last reading."""
        self._sample = None  # counters rule: never integrate across a counter period
        if self.total_kwh is None:
            # A new total starts where the devices stand, so it reads like their counters.
            self.total_kwh = sum(readings.values())
            self.counters.update(readings)
            return
        for source, reading in readings.items():
            last = self.counters.get(source)
            if last is not None and reading >= last:
                self.total_kwh += reading - last
            # A new device, or a counter that went back (reset): it counts from here on.
            self.counters[source] = reading

    def feed_power(self, now: float, power_w: float | None) -> None:
        """Integrate a non-negative power sample taken at `now` (seconds, monotonic)."""
        if power_w is None or not math.isfinite(power_w):
            self._sample = None  # no reading: the next one starts a new stretch
            return
        power_w = max(power_w, 0.0)
        if self.total_kwh is None:
            self.total_kwh = 0.0
        if self._sample is not None:
            then, last_w = self._sample
            elapsed = now - then
            if 0 < elapsed <= self.max_gap_s:
                self.total_kwh += (last_w + power_w) / 2 * elapsed / WATT_SECONDS_PER_KWH
        self._sample = (now, power_w)

    def interrupt(self) -> None:
        """The data stopped (link lost): the next power sample starts a new stretch."""
        self._sample = None

    def as_dict(self) -> dict[str, Any]:
        """What to store across restarts."""
        return {"total_kwh": self.total_kwh, "counters": dict(self.counters)}

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], max_gap_s: float = DEFAULT_MAX_GAP_S
    ) -> EnergyTotal:
        """Restore a stored total; anything unreadable starts afresh."""
        total = data.get("total_kwh")
        counters = data.get("counters")
        restored = cls(max_gap_s=max_gap_s)
        if isinstance(total, int | float) and not isinstance(total, bool) and total >= 0:
            restored.total_kwh = float(total)
            if isinstance(counters, dict):
                restored.counters = {
                    str(source): float(value)
                    for source, value in counters.items()
                    if isinstance(value, int | float) and not isinstance(value, bool)
                }
        return restored


# --- where the readings come from (Venus paths) ---------------------------------------


def service_counters(state: VenusState, service: str, path: str) -> dict[str, float]:
    """One kWh counter per present device of a service type, keyed `service/instance`."""
    readings: dict[str, float] = {}
    for instance in state.instances(service):
        value = float_value(state.value(ServiceKey(service, instance), path))
        if value is not None:
            readings[f"{service}/{instance}"] = value
    return readings


def battery_counters(state: VenusState, battery: int | None, path: str) -> dict[str, float]:
    """The followed battery's own counter, if its BMS keeps one."""
    if battery is None:
        return {}
    value = float_value(state.value(ServiceKey("battery", battery), path))
    return {} if value is None else {f"battery/{battery}": value}


def battery_power(state: VenusState, battery: int | None) -> float | None:
    """The followed battery's power (+ charging), W."""
    if battery is None:
        return None
    return float_value(state.value(ServiceKey("battery", battery), "/Dc/0/Power"))


def pv_counters(state: VenusState) -> dict[str, float]:
    """Every MPPT's total yield and every PV inverter's forward energy."""
    return service_counters(state, "solarcharger", "/Yield/User") | service_counters(
        state, "pvinverter", "/Ac/Energy/Forward"
    )


def pv_power(state: VenusState) -> float | None:
    """All PV now, W: DC-coupled plus PV inverters on the grid and output side."""
    parts = [
        float_value(state.value(SYSTEM, "/Dc/Pv/Power")),
        phase_total(state, "/Ac/PvOnGrid"),
        phase_total(state, "/Ac/PvOnOutput"),
    ]
    known = [part for part in parts if part is not None]
    return sum(known) if known else None


def grid_power(state: VenusState) -> float | None:
    """Grid power summed over phases, W (+ import)."""
    return phase_total(state, "/Ac/Grid")


def negated(power: float | None) -> float | None:
    """The other direction of a signed power (discharge, export)."""
    return None if power is None else -power
