"""Small pieces shared by the device simulators: a physics ticker and change detection.

Both device simulators keep their physics pure (a ``step(dt)``) and let an
adapter drive it. The ticker turns loop time into simulated seconds through
`SimClock`, so a speed factor makes a simulated hour pass in seconds while the
step sizes stay honest. Timers are `ClockTimer`s, which stay correct when a
test fires timers early with a frozen clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from simulator.clock import SimClock
from simulator.timers import ClockTimer


def fmt_number(value: float, decimals: int = 3) -> str:
    """A compact decimal: ``230`` not ``230.0``, ``3.35`` not ``3.350``."""
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


class SimTicker:
    """Calls ``step(dt)`` every ``interval`` wall seconds with simulated seconds elapsed."""

    def __init__(self, step: Callable[[float], None], interval: float, speed: float = 1.0) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self._step = step
        self._interval = interval
        self._speed = speed
        self._clock: SimClock | None = None
        self._last = 0.0
        self._timer = ClockTimer(self._tick)

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._clock is not None

    def start(self) -> None:
        """Begin ticking from now (no catch-up for time before start)."""
        loop = asyncio.get_running_loop()
        self._clock = SimClock(self._speed, source=loop.time)
        self._last = self._clock.now()
        self._timer.arm_in(self._interval)

    def stop(self) -> None:
        """Stop ticking; leaves no timer handle behind."""
        self._timer.cancel()
        self._clock = None

    def _tick(self) -> None:
        if self._clock is None:
            return
        now = self._clock.now()
        dt, self._last = now - self._last, now
        # Re-arm first: a failing step must not stop the simulated world.
        self._timer.arm_in(self._interval)
        if dt > 0:
            self._step(dt)


class ChangePublisher:
    """Sends a topic only when its payload differs from what was last sent."""

    def __init__(self, send: Callable[[str, bytes, bool], None]) -> None:
        self._send = send
        self._last: dict[str, bytes] = {}

    def reset(self) -> None:
        """Forget what was sent (after a reconnect everything goes out again)."""
        self._last.clear()

    def publish(self, values: Mapping[str, bytes], *, retain: bool, force: bool = False) -> None:
        """Send the changed values, or all of them with ``force``."""
        for topic, payload in values.items():
            if force or self._last.get(topic) != payload:
                self._last[topic] = payload
                self._send(topic, payload, retain)
