"""Helpers shared by the test modules."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import async_fire_time_changed

PORTAL_ID = "02fc00000001"


# freezegun replaces every module attribute that is time.monotonic when it starts, so
# keep the real clock inside a container where it cannot be swapped.
_REAL_CLOCK = (time.monotonic,)


def _clock() -> float:
    return _REAL_CLOCK[0]()


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the event loop run (real I/O included) until `predicate()` holds."""
    deadline = _clock() + timeout
    frozen = time.monotonic is not _REAL_CLOCK[0]
    while not predicate():
        if _clock() > deadline:
            raise AssertionError("condition not reached in time")
        # Under freezegun the loop clock stands still, so a timed sleep would never end.
        await asyncio.sleep(0 if frozen else 0.01)


async def advance(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    seconds: float,
    activity: Callable[[], int] | None = None,
) -> None:
    """Move frozen time forward in 1 s steps, firing timers and letting I/O through.

    Big jumps would fire every timer at once (a heartbeat watchdog and the heartbeat it
    watches in the same instant); stepping keeps the order that real time would give.
    After each step the broker gets real time until `activity()` (a message counter)
    has been quiet for a moment, so a full publish in flight is delivered before the
    next simulated second.
    """
    remaining = seconds
    while remaining > 0:
        step = min(1.0, remaining)
        remaining -= step
        freezer.tick(timedelta(seconds=step))
        async_fire_time_changed(hass)
        await settle(activity)


async def settle(activity: Callable[[], int] | None, quiet: float = 0.02) -> None:
    """Spin the loop (frozen clock) until `activity()` stopped changing for `quiet` s."""
    last = activity() if activity else 0
    quiet_since = _clock()
    give_up = _clock() + 5.0
    while _clock() - quiet_since < quiet and _clock() < give_up:
        await asyncio.sleep(0)
        now = activity() if activity else 0
        if now != last:
            last, quiet_since = now, _clock()
