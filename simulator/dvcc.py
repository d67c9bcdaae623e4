"""DVCC as dbus-systemcalc-py applies it to the chargers (delegates/dvcc.py).

* Settings: ``Settings/Services/Bol`` bit 0 turns DVCC on (default off);
  ``SystemSetup/MaxChargeCurrent`` (-1 = no user limit) and
  ``SystemSetup/MaxChargeVoltage`` (0 = off).
* Effective CVL = min(BMS CVL, user limit if > 0), and only when the BMS supplies
  a CVL: the user setting can lower it, never raise it or invent one.
* Effective CCL = min(user limit if >= 0, BMS CCL); 0 while the BMS forbids
  charging (``Io/AllowToCharge`` = 0).
* The result reaches the chargers (``Link/ChargeCurrent``/``Link/ChargeVoltage``)
  from a control loop that runs every 3 s. On the real system a user change
  showed up on the chargers 1.3-2.3 s later (behaviour 23); a settings change
  therefore schedules the next pass at a seeded random delay in that window,
  after which the 3 s cadence continues.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

ADJUST_INTERVAL = 3.0
CHANGE_DELAY = (1.3, 2.3)


@dataclass(frozen=True)
class DvccSettings:
    """The three settings DVCC reads."""

    bol: int = 0
    max_charge_current: int = -1
    max_charge_voltage: float = 0.0

    @property
    def enabled(self) -> bool:
        """Bit 0 of Bol."""
        return self.bol & 1 == 1


@dataclass(frozen=True)
class BmsLimits:
    """What the active BMS publishes (None = path invalid)."""

    cvl: float | None
    ccl: float | None
    allow_to_charge: bool = True


@dataclass(frozen=True)
class ChargerLimits:
    """What DVCC writes to every charger; None = DVCC does not control it."""

    current: float | None
    voltage: float | None


UNCONTROLLED = ChargerLimits(None, None)


def effective_cvl(settings: DvccSettings, bms: BmsLimits | None) -> float | None:
    """Control/EffectiveChargeVoltage: only with DVCC on and a BMS CVL."""
    if not settings.enabled or bms is None or bms.cvl is None:
        return None
    if settings.max_charge_voltage > 0:
        return min(bms.cvl, settings.max_charge_voltage)
    return bms.cvl


def effective_ccl(settings: DvccSettings, bms: BmsLimits | None) -> float | None:
    """The current limit the chargers get (never published under system/0)."""
    if not settings.enabled:
        return None
    limits: list[float] = []
    if settings.max_charge_current >= 0:
        limits.append(float(settings.max_charge_current))
    if bms is not None:
        if not bms.allow_to_charge:
            limits.append(0.0)
        if bms.ccl is not None:
            limits.append(bms.ccl)
    return min(limits) if limits else None


class DvccLoop:
    """The 3 s loop that pushes the limits to the chargers."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random(0)
        self.next_run = 0.0
        self.applied = UNCONTROLLED
        self.runs = 0
        # Fault injection: chargers that report this current whatever DVCC hands them.
        self.ignored_by_chargers: float | None = None

    def settings_changed(self, now: float) -> None:
        """A user setting changed: the next pass comes 1.3-2.3 s from now."""
        self.next_run = now + self._rng.uniform(*CHANGE_DELAY)

    def due(self, now: float) -> bool:
        """True when a pass should run at ``now``."""
        return now >= self.next_run

    def run(self, now: float, settings: DvccSettings, bms: BmsLimits | None) -> ChargerLimits:
        """One pass: compute and apply the limits, schedule the next pass."""
        self.runs += 1
        current = effective_ccl(settings, bms)
        if self.ignored_by_chargers is not None and current is not None:
            current = self.ignored_by_chargers
        self.applied = ChargerLimits(current, effective_cvl(settings, bms))
        self.next_run = max(self.next_run + ADJUST_INTERVAL, now + 1e-9)
        return self.applied
