"""What the EVSE should do: the user's mode and switches turned into one claim.

The PV-surplus arithmetic lives in `pv_surplus`; this module decides everything
around it (fixed-current modes, the charging switch, safety fallbacks) and maps
our modes to and from the Venus EV charger's Manual/Auto.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Final

from .ev_charger_json import VenusEvMode
from .openevse import ClaimRequest

MIN_CURRENT_A: Final = 6  # IEC 61851: the lowest pilot a car must accept
ABSOLUTE_MAX_CURRENT_A: Final = 80  # the highest current openEVSE hardware supports


class EvseMode(StrEnum):
    """The EVSE mode select."""

    OFF = "off"  # not controlled: our claim is released, the station follows its own settings
    FAST_32 = "fast_32"
    FAST_16 = "fast_16"
    MANUAL = "manual"  # a fixed current, chosen here or in the Victron GUI
    PV_SURPLUS = "pv_surplus"


_FIXED: Final[dict[EvseMode, int]] = {EvseMode.FAST_32: 32, EvseMode.FAST_16: 16}


class SettingsError(ValueError):
    """EVSE settings that do not fit together; `key` names the translation."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class EvseSettings:
    """The user's EVSE choices (kept across restarts)."""

    mode: EvseMode = EvseMode.OFF
    charging_enabled: bool = True
    max_current_a: int = 32
    manual_current_a: int = 16
    pv_min_current_a: int = 6  # seed 001
    pv_max_current_a: int = 20  # seed 001
    battery_lower_soc: float = 30.0
    battery_upper_soc: float = 80.0
    priority_soc: float = 50.0

    def checked(self) -> EvseSettings:
        """Self, or SettingsError naming what does not fit."""
        for name in ("max_current_a", "manual_current_a", "pv_min_current_a", "pv_max_current_a"):
            value = getattr(self, name)
            if not MIN_CURRENT_A <= value <= ABSOLUTE_MAX_CURRENT_A:
                raise SettingsError(
                    "invalid_evse_current",
                    f"{name} {value} A outside {MIN_CURRENT_A}..{ABSOLUTE_MAX_CURRENT_A} A",
                )
        if self.pv_min_current_a > self.pv_max_current_a:
            raise SettingsError(
                "invalid_pv_current_range",
                f"PV minimum {self.pv_min_current_a} A above PV maximum {self.pv_max_current_a} A",
            )
        socs = (self.battery_lower_soc, self.priority_soc, self.battery_upper_soc)
        if any(not math.isfinite(soc) or not 0 <= soc <= 100 for soc in socs):
            raise SettingsError("invalid_soc_thresholds", f"SoC thresholds {socs} outside 0..100")
        if self.battery_lower_soc >= self.battery_upper_soc:
            raise SettingsError(
                "invalid_soc_thresholds",
                f"lower SoC {self.battery_lower_soc} % not below upper SoC "
                f"{self.battery_upper_soc} %",
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """Stored form."""
        return {
            "mode": self.mode.value,
            "charging_enabled": self.charging_enabled,
            "max_current_a": self.max_current_a,
            "manual_current_a": self.manual_current_a,
            "pv_min_current_a": self.pv_min_current_a,
            "pv_max_current_a": self.pv_max_current_a,
            "battery_lower_soc": self.battery_lower_soc,
            "battery_upper_soc": self.battery_upper_soc,
            "priority_soc": self.priority_soc,
        }

    @classmethod
    def from_dict(cls, data: Any) -> EvseSettings:
        """From the store; raises (KeyError, TypeError, ValueError, SettingsError) if bad."""
        if not isinstance(data, dict):
            raise TypeError("stored EVSE settings are not a mapping")
        ints = ("max_current_a", "manual_current_a", "pv_min_current_a", "pv_max_current_a")
        floats = ("battery_lower_soc", "battery_upper_soc", "priority_soc")
        values: dict[str, Any] = {name: int(data[name]) for name in ints}
        values.update({name: float(data[name]) for name in floats})
        enabled = data["charging_enabled"]
        if not isinstance(enabled, bool):
            raise TypeError("charging_enabled is not a bool")
        return cls(mode=EvseMode(data["mode"]), charging_enabled=enabled, **values).checked()

    def with_changes(self, **changes: Any) -> EvseSettings:
        """A checked copy with some fields changed."""
        return replace(self, **changes).checked()


@dataclass(frozen=True)
class Situation:
    """What the control loop knows at one tick."""

    evse_online: bool
    venus_alive: bool
    station_max_current_a: float | None  # the EVSE's own limit (its max_current topic)


@dataclass(frozen=True)
class Target:
    """The claim to hold, or None to send nothing (station offline); and why.

    `hand_back`: release our claim, the station follows its own settings.
    """

    claim: ClaimRequest | None
    reason: str
    hand_back: bool = False


def fixed_target(settings: EvseSettings, situation: Situation) -> Target | None:
    """The target for every case except PV surplus at work (None: ask the PV controller)."""
    if not situation.evse_online:
        return Target(None, "evse_offline")
    if not settings.charging_enabled:
        return Target(ClaimRequest(None), "stopped")
    if settings.mode is EvseMode.OFF:
        return Target(None, "off", hand_back=True)
    if not situation.venus_alive:
        # Blind to the battery and the grid: stop drawing rather than guess.
        return Target(ClaimRequest(None), "venus_unavailable")
    if settings.mode is EvseMode.PV_SURPLUS:
        return None
    wanted = _FIXED.get(settings.mode, settings.manual_current_a)
    return Target(ClaimRequest(capped_current(wanted, settings, situation)), settings.mode.value)


def capped_current(wanted: float, settings: EvseSettings, situation: Situation) -> int:
    """Whole amps within our maximum and the station's own limit (never below 6 A)."""
    limit = float(settings.max_current_a)
    if situation.station_max_current_a is not None and situation.station_max_current_a >= 6:
        limit = min(limit, situation.station_max_current_a)
    return max(MIN_CURRENT_A, math.floor(min(wanted, limit)))


def venus_mode(mode: EvseMode) -> VenusEvMode:
    """Our mode as the Victron GUI shows it: PV surplus is Auto, the rest Manual."""
    return VenusEvMode.AUTO if mode is EvseMode.PV_SURPLUS else VenusEvMode.MANUAL


def venus_set_current(settings: EvseSettings, claim: ClaimRequest | None) -> int:
    """The SetCurrent Venus shows: the current in force, else the manual choice."""
    if claim is not None and claim.current_a is not None:
        return claim.current_a
    return _FIXED.get(settings.mode, settings.manual_current_a)


def adopt_gui_change(settings: EvseSettings, path: str, value: int) -> EvseSettings:
    """Apply a GUI/VRM change (seed 002 paths) to our settings.

    Auto means PV surplus, Manual a fixed current: the GUI's SetCurrent becomes
    the manual current (clamped to our bounds). Scheduled is not ours to run and
    is treated as Manual.
    """
    if path == "/StartStop":
        return replace(settings, charging_enabled=bool(value))
    if path == "/SetCurrent":
        current = min(max(value, MIN_CURRENT_A), settings.max_current_a)
        mode = settings.mode if settings.mode is EvseMode.PV_SURPLUS else EvseMode.MANUAL
        return replace(settings, manual_current_a=current, mode=mode)
    if path == "/Mode":
        if value == VenusEvMode.AUTO:
            return replace(settings, mode=EvseMode.PV_SURPLUS)
        if settings.mode in (EvseMode.PV_SURPLUS, EvseMode.OFF):
            return replace(settings, mode=EvseMode.MANUAL)
        return settings
    return settings
