"""SimClock: simulated seconds that run ``speed`` times faster than a wall clock.

speed 1.0 is real time (the demo); 600.0 turns ten minutes into one second
(benchmarks). The clock only says what simulated time it is; the physics runner
steps the plant in fixed simulated steps until it catches up, so wall-clock
jitter changes how many steps run per wake-up, never their size.

The time source defaults to ``time.monotonic``; the live simulator binds it to
the asyncio loop clock so tests that drive the loop clock stay consistent.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class SimClock:
    """Simulated time derived from a wall-clock source and a speed factor."""

    def __init__(
        self,
        speed: float = 1.0,
        *,
        start: float = 0.0,
        source: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self._speed = speed
        self._source = source
        self._anchor_wall = source()
        self._anchor_sim = start

    @property
    def speed(self) -> float:
        """Simulated seconds per wall-clock second."""
        return self._speed

    def now(self) -> float:
        """Simulated seconds."""
        return self._anchor_sim + (self._source() - self._anchor_wall) * self._speed

    def bind(self, source: Callable[[], float]) -> None:
        """Switch to another wall-clock source without a jump in simulated time."""
        current = self.now()
        self._source = source
        self._anchor_wall = source()
        self._anchor_sim = current

    def set_speed(self, speed: float) -> None:
        """Change the speed from now on (no jump)."""
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self._anchor_sim = self.now()
        self._anchor_wall = self._source()
        self._speed = speed

    def wall_delay(self, sim_seconds: float) -> float:
        """Wall-clock seconds that ``sim_seconds`` of simulated time take."""
        return sim_seconds / self._speed
