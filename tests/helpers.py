"""Helpers shared by the test modules."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import voluptuous as vol
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from tests.broker import busy_brokers, quiet_token

PORTAL_ID = "02fc00000001"


def form_default(result: Mapping[str, Any], field: str) -> Any:
    """What a flow form shows in a field: its suggested value, else its default."""
    for marker in result["data_schema"].schema:
        if marker == field:
            suggested = (marker.description or {}).get("suggested_value")
            if suggested is not None:
                return suggested
            default = marker.default
            return None if default is vol.UNDEFINED else default()
    raise KeyError(field)


def find_device(
    registry: dr.DeviceRegistry, entry_id: str, identifier: tuple[str, str]
) -> dr.DeviceEntry | None:
    """The entry's device with this identifier, asked the way this Home Assistant wants.

    2026.8 deprecated `async_get_device` (identifiers are unique per config entry only);
    2025.4 has no `async_get_device_by_identifier` yet.
    """
    by_identifier = getattr(registry, "async_get_device_by_identifier", None)
    if by_identifier is not None:
        device: dr.DeviceEntry | None = by_identifier(identifier, entry_id)
        return device
    return registry.async_get_device(identifiers={identifier})


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


def _loop_busy(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether a callback is ready to run besides the task that asks."""
    return bool(loop._ready)  # type: ignore[attr-defined]


async def settle(hass: HomeAssistant | None = None, timeout: float = 60.0) -> None:
    """Run the loop until no MQTT message is in flight and every reaction is done.

    Decided by state, not by a quiet time: twice in a row the loop had nothing to run
    when this task got its turn (a socket's reader or writer, a task woken by it, a
    timer that is due: all of them would be waiting), and then no broker had anything
    to route and no socket held a byte (`tests.broker.quiet_token`). Home Assistant's
    jobs (executor ones included) are waited for too. Connections opened by a thread
    meanwhile are not seen.
    """
    loop = asyncio.get_running_loop()
    give_up = _clock() + timeout
    idle = 0
    waited_for: tuple[int, ...] | None = None  # the quiet state Home Assistant's jobs ended in
    while True:
        await asyncio.sleep(0)
        # Twice: a writer registered after this iteration's select shows in the next.
        idle = 0 if _loop_busy(loop) else idle + 1
        if idle >= 2:
            token = quiet_token()
            if token is not None and (hass is None or token == waited_for):
                return
            if token is not None and hass is not None:
                await hass.async_block_till_done()
                waited_for = token
            idle = 0
        if _clock() > give_up:
            raise AssertionError(f"MQTT traffic did not settle: {', '.join(busy_brokers())}")
