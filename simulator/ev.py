"""The electric vehicle behind the simulated openEVSE: a pure battery-and-charger model.

No MQTT and no clock: the EVSE model asks what current the car accepts at a
given pilot and hands it energy with ``charge(amps, volts, dt)``. The onboard
charger follows the J1772 pilot: it draws min(pilot, its own maximum) and
nothing below its minimum (6 A, the lowest pilot J1772 allows for AC charging).
When the SoC reaches the target the car stops drawing current (J1772 state B),
which the EVSE reports as "connected, not charging".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

# Below this SoC gap the car considers itself full (avoids float dust re-starts).
_FULL_EPSILON = 1e-9


@dataclass
class EvModel:
    """A car with a traction battery and an onboard AC charger."""

    battery_kwh: float = 60.0
    soc: float = 50.0  # %
    target_soc: float = 80.0  # % at which the car stops charging
    min_current: float = 6.0  # A per phase; lower pilots are refused
    max_current: float = 32.0  # A per phase, the onboard charger's limit
    phases: int = 1
    efficiency: float = 1.0  # battery energy / metered energy
    plugged: bool = False
    _listeners: list[Callable[[], None]] = field(
        default_factory=list, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.phases not in (1, 3):
            raise ValueError(f"phases must be 1 or 3, got {self.phases}")
        if not 0 < self.min_current <= self.max_current:
            raise ValueError("need 0 < min_current <= max_current")
        if not 0 < self.efficiency <= 1:
            raise ValueError("efficiency must be in (0, 1]")

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after plug() / unplug() / set_target()."""
        self._listeners.append(callback)

    def _changed(self) -> None:
        for callback in list(self._listeners):
            callback()

    def plug(self) -> None:
        """Plug the car in (the EVSE starts a new session)."""
        if not self.plugged:
            self.plugged = True
            self._changed()

    def unplug(self) -> None:
        """Unplug the car."""
        if self.plugged:
            self.plugged = False
            self._changed()

    def set_target(self, target_soc: float) -> None:
        """Change the charge limit set in the car."""
        self.target_soc = min(max(target_soc, 0.0), 100.0)
        self._changed()

    @property
    def wants_charge(self) -> bool:
        """Plugged in and below its target SoC."""
        return self.plugged and self.soc < self.target_soc - _FULL_EPSILON

    def accepted_current(self, pilot: float) -> float:
        """Amps per phase the onboard charger draws at this pilot (0 = not charging)."""
        if not self.wants_charge or pilot < self.min_current:
            return 0.0
        return min(pilot, self.max_current)

    def power(self, amps: float, volts: float) -> float:
        """Charging power in W at ``amps`` per phase."""
        return amps * volts * self.phases

    def energy_to_target(self) -> float:
        """Metered Wh still needed to reach the target SoC."""
        gap = max(self.target_soc - self.soc, 0.0)
        return gap / 100.0 * self.battery_kwh * 1000.0 / self.efficiency

    def charge(self, amps: float, volts: float, dt: float) -> float:
        """Charge for ``dt`` seconds; return the metered Wh taken (stops at the target)."""
        if amps <= 0 or dt <= 0 or not self.wants_charge:
            return 0.0
        metered = self.power(amps, volts) * dt / 3600.0
        needed = self.energy_to_target()
        if metered >= needed:
            # Reached the target inside this step: land exactly on it.
            self.soc = self.target_soc
            return needed
        self.soc += metered * self.efficiency / (self.battery_kwh * 1000.0) * 100.0
        return metered
