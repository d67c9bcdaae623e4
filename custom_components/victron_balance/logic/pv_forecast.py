"""What a solar forecast says about the rest of the day: the home battery's share of it.

Pure logic (no Home Assistant): `SolarOutlook.update()` takes the forecast (PV energy
still to come today, seconds until sunset), the battery (usable capacity, SoC) and the
live PV and house power, and answers two questions for the PV-surplus controller:

* ``battery_share``: which share of the surplus the battery needs from now on to be full
  when the sun goes. 0: it fills anyway (or is full), so the car may take all of the
  surplus now instead of the battery filling first and the rest being exported later;
  1: it will not fill even with all of it, so the battery has priority.
* ``spare_wh``: the PV energy the battery will not need before sunset. Battery assist
  (the battery lending the car energy through a cloud) is only worth its round-trip loss
  while this is positive: the lent energy then comes back from PV that would otherwise
  be exported, not from the grid in the evening.

The arithmetic, with the margin and the efficiency from `OutlookSettings`:

    expected = the surplus above the house's power until sunset, from the forecast still
               to come x correction x (1 - margin) spread on a sine arc from sunrise to
               sunset (`surplus_until_sunset`)
    needed   = (full SoC - SoC) x capacity / charge efficiency
    spare    = expected - needed
    battery_share = 1 - spare / max(needed, knee_min_wh), within 0..1

So the car goes first while the surplus to come is at least twice what the battery
needs, and the battery's share then rises to all of it as the spare runs out: the
battery fills late in the day, and is not full (and exporting) while the car could
still use the sun.

The correction is the measured PV over the forecast's own PV since the first forecast
seen (once the forecast has dropped by `correction_after_wh`), clamped to 0.5..1.5: a
forecast that is 20 % high in the morning is usually 20 % high all day (evcc's
"solarAdjusted" scales its forecast the same way). Once corrected, the smaller
`corrected_margin` applies. The house
power is smoothed over `house_tau_s`. Any missing or implausible input gives no outlook
(the controller then falls back to its rules without a forecast), never a guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any


def finite_number(value: object) -> float | None:
    """The value as a float if it is a real, finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def surplus_until_sunset(
    pv_wh: float, sunset_in_s: float, daylight_s: float, house_w: float
) -> float:
    """PV energy above the house's power from now to sunset (Wh).

    The PV still to come (``pv_wh``) is spread over the rest of the day on a sine arc
    from sunrise to sunset (``daylight_s`` long, ``sunset_in_s`` left), the shape of a
    clear day; what rises above ``house_w`` is the surplus the battery and the car can
    share. Net energy (PV minus house until sunset) would undercount it: in the evening
    the house draws more than the sun gives, but from the battery once it is full.
    """
    if pv_wh <= 0 or sunset_in_s <= 0:
        return 0.0
    start = min(max(1.0 - sunset_in_s / daylight_s, 0.0), 1.0)  # where on the arc we are
    shape = (1.0 + math.cos(math.pi * start)) / math.pi  # the arc's area from here
    if shape <= 1e-9:
        return 0.0
    hours = daylight_s / 3600.0
    peak_w = pv_wh / (hours * shape)
    if house_w >= peak_w:
        return 0.0
    # The arc is above the house between x1 and 1 - x1 (in days from sunrise).
    x1 = math.asin(max(house_w, 0.0) / peak_w) / math.pi
    a, b = max(start, x1), 1.0 - x1
    if a >= b:
        return 0.0
    area = peak_w / math.pi * (math.cos(math.pi * a) - math.cos(math.pi * b))
    return (area - max(house_w, 0.0) * (b - a)) * hours


@dataclass(frozen=True)
class OutlookSettings:
    """How far to trust the forecast."""

    margin: float = 0.2  # share of the forecast left out: a forecast may be 20 % high
    corrected_margin: float = 0.05  # ... once corrected by the measured PV
    charge_efficiency: float = 0.95  # stored / put in: the battery needs a bit more
    house_tau_s: float = 1800.0  # smoothing of the house's power
    knee_min_wh: float = 1000.0  # the battery's share rises over at least this much spare
    correction_after_wh: float = 1000.0  # forecast PV seen before trusting the measured ratio
    correction_range: tuple[float, float] = (0.5, 1.5)

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            numbers = value if isinstance(value, tuple) else (value,)
            if not all(math.isfinite(number) for number in numbers):
                raise ValueError(f"{item.name} must be finite, got {value!r}")
        if not 0 <= self.corrected_margin <= self.margin < 1:
            raise ValueError(
                f"need 0 <= corrected_margin <= margin < 1, got {self.corrected_margin} "
                f"and {self.margin}"
            )
        if not 0 < self.charge_efficiency <= 1:
            raise ValueError(
                f"charge_efficiency must be within (0, 1], got {self.charge_efficiency}"
            )
        if self.house_tau_s <= 0 or self.correction_after_wh <= 0 or self.knee_min_wh <= 0:
            raise ValueError("house_tau_s, knee_min_wh and correction_after_wh must be positive")
        low, high = self.correction_range
        if not 0 < low <= 1 <= high:
            raise ValueError(f"correction_range must contain 1, got {self.correction_range}")


@dataclass(frozen=True)
class Outlook:
    """The battery's view of the rest of the day."""

    spare_wh: float
    battery_share: float
    expected_wh: float
    needed_wh: float
    correction: float


class SolarOutlook:
    """Tracks the forecast against the measured PV; `update()` on every snapshot."""

    def __init__(self, settings: OutlookSettings | None = None) -> None:
        self.settings = settings or OutlookSettings()
        self.reset()

    def reset(self) -> None:
        """Forget the day (a new session)."""
        self._last_now: float | None = None
        self._house_w: float | None = None
        self._first_remaining_wh: float | None = None
        self._measured_pv_wh = 0.0
        self._correction = 1.0
        self._corrected = False
        self.outlook: Outlook | None = None

    def update(
        self,
        *,
        now: float,
        pv_w: float | None,
        house_w: float | None,
        soc: float,
        full_soc: float = 95.0,
        remaining_wh: object,
        sunset_in_s: object,
        daylight_s: object,
        capacity_wh: object,
    ) -> Outlook | None:
        """The outlook for this snapshot, or None if an input is missing or implausible.

        ``full_soc``: the SoC above which the battery counts as full (the BMS tapers the
        charge above it and the ESS exports the rest).
        """
        remaining = finite_number(remaining_wh)
        sunset_in = finite_number(sunset_in_s)
        daylight = finite_number(daylight_s)
        capacity = finite_number(capacity_wh)
        if (
            remaining is None
            or sunset_in is None
            or daylight is None
            or capacity is None
            or remaining < 0
            or sunset_in < 0
            or daylight <= 0
            or capacity <= 0
        ):
            self.outlook = None
            return None
        self._track(now, pv_w, house_w, remaining)
        s = self.settings
        house = self._house_w if self._house_w is not None else 0.0
        margin = s.corrected_margin if self._corrected else s.margin
        expected = surplus_until_sunset(
            remaining * self._correction * (1.0 - margin), sunset_in, daylight, house
        )
        needed = max(full_soc - soc, 0.0) / 100.0 * capacity / s.charge_efficiency
        spare = expected - needed
        # The battery's share of the surplus: none while the PV still to come is well
        # above what it needs (the car first; the battery fills late in the day), rising
        # to all of it as the spare shrinks to nothing.
        knee = max(needed, s.knee_min_wh)
        share = 0.0 if needed <= 0 else min(max(1.0 - spare / knee, 0.0), 1.0)
        self.outlook = Outlook(spare, share, expected, needed, self._correction)
        return self.outlook

    def _track(
        self, now: float, pv_w: float | None, house_w: float | None, remaining: float
    ) -> None:
        """The house's smoothed power and the forecast's correction from the measured PV."""
        s = self.settings
        last = self._last_now
        self._last_now = now
        dt = 0.0 if last is None else now - last
        if not 0 <= dt <= 600:
            dt = 0.0  # a clock jump or a long gap: no integration across it
        if house_w is not None:
            if self._house_w is None:
                self._house_w = house_w
            else:
                self._house_w += (1.0 - math.exp(-dt / s.house_tau_s)) * (house_w - self._house_w)
        if self._first_remaining_wh is None or remaining > self._first_remaining_wh:
            # The first forecast seen (or a new day's): count the measured PV from here.
            self._first_remaining_wh = remaining
            self._measured_pv_wh = 0.0
            self._correction = 1.0
            self._corrected = False
            return
        if pv_w is not None:
            self._measured_pv_wh += max(pv_w, 0.0) * dt / 3600.0
        forecast_wh = self._first_remaining_wh - remaining
        if forecast_wh >= s.correction_after_wh:
            low, high = s.correction_range
            self._correction = min(max(self._measured_pv_wh / forecast_wh, low), high)
            self._corrected = True

    def diagnostics(self) -> dict[str, Any]:
        """The outlook's state for HA diagnostics."""
        outlook = self.outlook
        return {
            "house_w": None if self._house_w is None else round(self._house_w, 1),
            "correction": round(self._correction, 3),
            "spare_wh": None if outlook is None else round(outlook.spare_wh),
            "battery_share": None if outlook is None else round(outlook.battery_share, 3),
            "expected_wh": None if outlook is None else round(outlook.expected_wh),
            "needed_wh": None if outlook is None else round(outlook.needed_wh),
        }
