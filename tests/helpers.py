"""Helpers shared by the test modules."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from tests.broker import busy_brokers, quiet_token, wakeups

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


async def advance(hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float) -> None:
    """Move frozen time forward in 1 s steps, firing timers and letting I/O through.

    Big jumps would fire every timer at once (a heartbeat watchdog and the heartbeat it
    watches in the same instant); stepping keeps the order that real time would give.
    After each step everything that step set off is delivered and handled (`settle`)
    before the next simulated second, however slow the machine is.
    """
    remaining = seconds
    while remaining > 0:
        step = min(1.0, remaining)
        remaining -= step
        freezer.tick(timedelta(seconds=step))
        async_fire_time_changed(hass)
        await settle(hass)


# Loop iterations from a message read off a socket to the answer written to one: the
# reader callback, the consumer task, a send task, the writer callback, with room.
_SPINS = 10
# Loop iterations between two looks while a burst is on its way (a look costs more).
_BUSY_SPINS = 4


async def settle(hass: HomeAssistant | None = None, timeout: float = 60.0) -> None:
    """Run the loop until no MQTT message is in flight and every reaction is done.

    Decided by the brokers' and the sockets' state (`tests.broker.quiet_token`), not by
    a quiet time: when, after Home Assistant's jobs and a few loop iterations, no
    broker has run and no socket holds a byte, nothing was sent, routed or left unread.
    """
    give_up = _clock() + timeout
    while True:
        before = quiet_token()
        if before is None:
            # Something is in flight: let the loop move it on, then look again.
            for _ in range(_BUSY_SPINS):
                await asyncio.sleep(0)
        else:
            if hass is not None:
                await hass.async_block_till_done()
            for _ in range(_SPINS):
                await asyncio.sleep(0)
                if wakeups() != before:
                    break  # something was sent: look at it
            if quiet_token() == before:
                return
        if _clock() > give_up:
            raise AssertionError(f"MQTT traffic did not settle: {', '.join(busy_brokers())}")
