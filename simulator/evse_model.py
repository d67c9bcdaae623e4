"""The openEVSE station itself, without MQTT: claims, pilot, contactor, meters.

Pure and clock-free so that benchmarks can drive it with ``step(dt)``; the MQTT
adapter (`simulator.openevse.OpenEvseSimulator`) listens for changes and
publishes them.

Simplifications, on purpose: solar divert does not smooth or read grid power;
in eco mode (divertmode 2) the Divert claim (priority 50) is active at
floor(available current) when that is at least the minimum current and
disabled otherwise. The test feeds "available current" directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from simulator.ev import EvModel
from simulator.evse_claims import (
    CLIENT_DIVERT,
    CLIENT_MANUAL,
    PRIORITY_DIVERT,
    PRIORITY_MANUAL,
    Claim,
    ClaimProps,
    ClaimSet,
    EvseState,
    Resolved,
)

# openEVSE state codes.
STATE_NOT_CONNECTED = 1
STATE_CONNECTED = 2
STATE_CHARGING = 3
STATE_SLEEPING = 254
STATE_DISABLED = 255
ERROR_STATES = range(4, 12)

DIVERT_NORMAL = 1
DIVERT_ECO = 2

# The station warms with current: ~0.25 °C per amp above ambient, slowly.
_TEMP_PER_AMP = 0.25
_TEMP_TAU = 600.0


class OpenEvseModel:
    """One openEVSE with the car plugged into it."""

    def __init__(
        self,
        ev: EvModel | None = None,
        *,
        max_current: float = 32.0,
        min_current: float = 6.0,
        voltage: float = 230.0,
        ambient_temp: float = 25.0,
    ) -> None:
        if not 0 < min_current <= max_current:
            raise ValueError("need 0 < min_current <= max_current")
        self.ev = ev if ev is not None else EvModel()
        self.max_current = max_current  # hardware limit (the "max_current" setting)
        self.min_current = min_current
        self.voltage = voltage
        self.ambient_temp = ambient_temp
        self.temperature = ambient_temp
        self.claims = ClaimSet(max_current)
        self.divert_mode = DIVERT_NORMAL
        self.divert_available = 0.0  # A of surplus the divert logic may use
        self.error: int | None = None
        self.session_energy = 0.0  # Wh
        self.total_energy = 0.0  # Wh (published in kWh)
        self.charge_starts = 0
        self.elapsed = 0.0  # simulated seconds stepped
        self._amps = 0.0
        self._listeners: list[Callable[[], None]] = []
        self.ev.add_listener(self._ev_changed)
        self._update()

    # --- observation -----------------------------------------------------------

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after every change (commands, plug events, steps)."""
        self._listeners.append(callback)

    @property
    def resolved(self) -> Resolved:
        """The effective claim properties."""
        return self.claims.resolve()

    @property
    def effective_max(self) -> float:
        """The max current after claims' soft limits (never below the minimum)."""
        return min(self.max_current, max(self.resolved.max_current, self.min_current))

    @property
    def pilot(self) -> float:
        """The advertised pilot current in A, clamped to min_current..max."""
        return min(max(self.resolved.charge_current, self.min_current), self.effective_max)

    @property
    def active(self) -> bool:
        """The claims want the EVSE active and no error stops it."""
        return self.error is None and self.resolved.state == "active"

    @property
    def amps(self) -> float:
        """The current the car draws now, per phase."""
        return self._amps

    @property
    def charging(self) -> bool:
        """The contactor is closed and current flows."""
        return self._amps > 0

    @property
    def power(self) -> float:
        """Charging power in W."""
        return self.ev.power(self._amps, self.voltage)

    @property
    def state(self) -> int:
        """The openEVSE state code."""
        if self.error is not None:
            return self.error
        if not self.active:
            return STATE_SLEEPING
        if not self.ev.plugged:
            return STATE_NOT_CONNECTED
        return STATE_CHARGING if self.charging else STATE_CONNECTED

    @property
    def divert_active(self) -> bool:
        """Eco mode is letting the car charge from surplus."""
        claim = self.claims.get(CLIENT_DIVERT)
        return claim is not None and claim.props.state == "active"

    @property
    def manual_override(self) -> bool:
        """A manual override claim exists."""
        return self.claims.get(CLIENT_MANUAL) is not None

    def active_claims(self) -> tuple[Claim, ...]:
        """Claims other than Default, highest priority first."""
        return self.claims.active()

    # --- commands ---------------------------------------------------------------

    def claim(self, client: str, priority: int, props: ClaimProps) -> bool:
        """Make/update a claim (merged onto the client's previous one)."""
        changed = self.claims.claim(client, priority, props)
        self._changed()
        return changed

    def release(self, client: str) -> bool:
        """Release a claim; True when there was one."""
        released = self.claims.release(client)
        self._changed()
        return released

    def toggle_override(self) -> None:
        """The firmware's toggle: clear an override, or override to the opposite state."""
        if self.manual_override:
            self.claims.release(CLIENT_MANUAL)
        else:
            state: EvseState = "disabled" if self.active else "active"
            self.claims.claim(CLIENT_MANUAL, PRIORITY_MANUAL, ClaimProps(state=state))
        self._changed()

    def set_divert_mode(self, mode: int) -> None:
        """1 normal (fast), 2 eco (solar divert)."""
        if mode not in (DIVERT_NORMAL, DIVERT_ECO):
            raise ValueError(f"divert mode must be 1 or 2, got {mode}")
        self.divert_mode = mode
        self._changed()

    def set_divert_available(self, amps: float) -> None:
        """Surplus current the divert logic sees (only matters in eco mode)."""
        self.divert_available = max(amps, 0.0)
        self._changed()

    def set_error(self, code: int | None) -> None:
        """Inject an EVSE error state 4..11 (None clears it)."""
        if code is not None and code not in ERROR_STATES:
            raise ValueError(f"error states are 4..11, got {code}")
        self.error = code
        self._changed()

    # --- physics ------------------------------------------------------------------

    def step(self, dt: float) -> None:
        """Advance ``dt`` simulated seconds: charge the car, meter, warm up."""
        if dt <= 0:
            return
        self.elapsed += dt
        if self._amps > 0:
            wh = self.ev.charge(self._amps, self.voltage, dt)
            self.session_energy += wh
            self.total_energy += wh
        target = self.ambient_temp + _TEMP_PER_AMP * self._amps
        self.temperature = target + (self.temperature - target) * math.exp(-dt / _TEMP_TAU)
        self._changed()

    # --- internals ----------------------------------------------------------------

    def _ev_changed(self) -> None:
        if self.ev.plugged:
            self.session_energy = 0.0  # a new vehicle connection starts a new session
        else:
            self.claims.release_auto()
        self._changed()

    def _sync_divert(self) -> None:
        if self.divert_mode != DIVERT_ECO:
            self.claims.release(CLIENT_DIVERT)
            return
        rate = math.floor(self.divert_available)
        if rate >= self.min_current:
            props = ClaimProps(state="active", charge_current=float(rate), auto_release=False)
        else:
            props = ClaimProps(state="disabled", auto_release=False)
        self.claims.claim(CLIENT_DIVERT, PRIORITY_DIVERT, props, merge=False)

    def _update(self) -> None:
        self._sync_divert()
        amps = self.ev.accepted_current(self.pilot) if self.active else 0.0
        if amps > 0 and self._amps <= 0:
            self.charge_starts += 1  # the contactor closes: one start
        self._amps = amps

    def _changed(self) -> None:
        self._update()
        for callback in list(self._listeners):
            callback()
