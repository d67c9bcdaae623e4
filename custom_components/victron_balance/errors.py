"""Errors of the integration's actions, turned into translated Home Assistant errors.

One place, as peblar does with its decorator: every entity action (`entity_action`) and
every service (`service_action`) maps what the pure layer refuses (`Refused`: a mode
that cannot start, a value out of bounds) to a `ServiceValidationError`, and a broker
or GX that cannot be reached (`SessionError`) to a `HomeAssistantError`, both with a
translation key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, cast

from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from .const import DOMAIN
from .logic.charge_supervisor import Refused
from .transport.mqtt_session import SessionError


class _WritesState(Protocol):
    def async_write_ha_state(self) -> None: ...


def translated(err: Exception) -> HomeAssistantError:
    """The Home Assistant error a failure of an action is shown as."""
    if isinstance(err, Refused):
        return ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key=err.key,
            translation_placeholders=err.placeholders,
        )
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="communication_error",
        translation_placeholders={"error": str(err)},
    )


def entity_action[F: Callable[..., Awaitable[None]]](func: F) -> F:
    """Run an entity's action; show its new state, or raise a translated error."""

    async def action(self: _WritesState, *args: Any, **kwargs: Any) -> None:
        try:
            await func(self, *args, **kwargs)
        except (Refused, SessionError) as err:
            raise translated(err) from err
        self.async_write_ha_state()

    return cast(F, action)


def service_action[**P, R](
    func: Callable[P, Awaitable[R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """Run a service handler; raise a translated error when it fails."""

    async def action(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await func(*args, **kwargs)
        except (Refused, SessionError) as err:
            raise translated(err) from err

    return action
