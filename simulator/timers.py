"""Clock-checked one-shot timers on the asyncio loop.

Decisions are made on ``loop.time()``, never on "a timer fired": Home Assistant's
test helper ``async_fire_time_changed`` runs every TimerHandle that is due within
the next 0.5 s *early*, while freezegun keeps the loop clock frozen. A timer that
fires before its deadline therefore re-arms itself instead of acting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

# A handle may run a hair before its deadline (asyncio's clock resolution).
_TOLERANCE = 1e-6


class ClockTimer:
    """A re-armable one-shot timer at an absolute loop time."""

    def __init__(self, callback: Callable[[], None]) -> None:
        self._callback = callback
        self._handle: asyncio.TimerHandle | None = None
        self._when = 0.0

    @property
    def active(self) -> bool:
        """True while a deadline is pending."""
        return self._handle is not None

    @property
    def when(self) -> float:
        """The pending deadline in loop time (meaningless when inactive)."""
        return self._when

    def arm_at(self, when: float) -> None:
        """(Re)schedule the callback for loop time ``when``."""
        self.cancel()
        self._when = when
        self._handle = asyncio.get_running_loop().call_at(when, self._fire)

    def arm_in(self, delay: float) -> None:
        """(Re)schedule the callback ``delay`` seconds from now."""
        self.arm_at(asyncio.get_running_loop().time() + delay)

    def cancel(self) -> None:
        """Forget the pending deadline, if any."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fire(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() + _TOLERANCE < self._when:
            # Fired early (test helper): the deadline has not really passed.
            self._handle = loop.call_at(self._when, self._fire)
            return
        self._handle = None
        self._callback()
