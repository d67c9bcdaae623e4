"""The gate for every settings write to the GX (I4), and the flash-write budget.

Venus keeps `Settings/SystemSetup/*` in flash. A write is made only through
`checked_write`, which returns a `SettingWrite` or raises `WriteRefused`:

* MaxChargeVoltage (0 = off) only inside the window of a *confirmed* pack
  (`logic.safety.pack`): never from a half-seen battery, never outside
  cells x the chemistry's per-cell window.
* MaxChargeCurrent is -1 (no limit) or a whole number of amps within the bounds.
* BmsInstance is -1 (automatic), -255 (none) or a device instance.

`WriteBudget` spaces writes of one setting and counts them all.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from ..dvcc_limits import LimitBounds
from .pack import ConfirmedPack

MAX_CHARGE_CURRENT_PATH = "/Settings/SystemSetup/MaxChargeCurrent"
MAX_CHARGE_VOLTAGE_PATH = "/Settings/SystemSetup/MaxChargeVoltage"
BMS_INSTANCE_PATH = "/Settings/SystemSetup/BmsInstance"
NO_CURRENT_LIMIT = -1
NO_VOLTAGE_LIMIT = 0.0
BMS_AUTO = -1
BMS_NONE = -255
MAX_INSTANCE = 100_000
MIN_WRITE_INTERVAL_S = 30.0


class WriteRefused(ValueError):
    """A settings write that must not reach the GX; the message says why."""


@dataclass(frozen=True, slots=True)
class SettingWrite:
    """One settings write that passed the gate."""

    path: str
    value: int | float
    why: str  # the intent behind it (logs, diagnostics)


def _integer(value: float, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise WriteRefused(f"{what} must be a number, got {value!r}")
    if float(value) != int(value):
        raise WriteRefused(f"{what} must be a whole number, got {value!r}")
    return int(value)


def checked_write(
    path: str,
    value: float,
    *,
    pack: ConfirmedPack | None,
    bounds: LimitBounds | None,
    why: str,
) -> SettingWrite:
    """The write if it is safe to make, else WriteRefused (never anything else)."""
    if path == MAX_CHARGE_CURRENT_PATH:
        amps = _integer(value, "MaxChargeCurrent")
        if amps == NO_CURRENT_LIMIT:
            return SettingWrite(path, amps, why)
        high = bounds.current_max_a if bounds is not None else None
        if amps < 0 or (high is not None and amps > high):
            raise WriteRefused(f"MaxChargeCurrent {amps} A is outside 0..{high} A")
        return SettingWrite(path, amps, why)
    if path == MAX_CHARGE_VOLTAGE_PATH:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise WriteRefused(f"MaxChargeVoltage must be a number, got {value!r}")
        volts = float(value)
        if volts == NO_VOLTAGE_LIMIT:
            return SettingWrite(path, NO_VOLTAGE_LIMIT, why)
        if pack is None or bounds is None:
            raise WriteRefused("MaxChargeVoltage needs a confirmed pack description")
        if not math.isfinite(volts) or not bounds.voltage_min_v <= volts <= bounds.voltage_max_v:
            raise WriteRefused(
                f"MaxChargeVoltage {volts} V is outside {bounds.voltage_min_v}.."
                f"{bounds.voltage_max_v} V for {pack.cells} cells"
            )
        return SettingWrite(path, round(volts, 2), why)
    if path == BMS_INSTANCE_PATH:
        instance = _integer(value, "BmsInstance")
        if instance not in (BMS_AUTO, BMS_NONE) and not 0 <= instance <= MAX_INSTANCE:
            raise WriteRefused(f"BmsInstance {instance} is not -1, -255 or a device instance")
        return SettingWrite(path, instance, why)
    raise WriteRefused(f"{path} is not a setting this integration writes")


class WriteBudget:
    """Spaces out flash writes (per setting) and counts them."""

    def __init__(self, min_interval_s: float = MIN_WRITE_INTERVAL_S) -> None:
        self.min_interval_s = min_interval_s
        self._last: dict[str, float] = {}
        self._times: deque[float] = deque()
        self.total = 0

    def wait_s(self, path: str, now_s: float) -> float:
        """Seconds until this setting may be written again (0 = now)."""
        last = self._last.get(path)
        return 0.0 if last is None else max(0.0, last + self.min_interval_s - now_s)

    def record(self, path: str, now_s: float) -> None:
        """A write was sent."""
        self._last[path] = now_s
        self._times.append(now_s)
        self.total += 1
        self._forget(now_s)

    def per_hour(self, now_s: float) -> int:
        """Writes in the last hour, all settings together."""
        self._forget(now_s)
        return len(self._times)

    def _forget(self, now_s: float) -> None:
        while self._times and self._times[0] <= now_s - 3600.0:
            self._times.popleft()
