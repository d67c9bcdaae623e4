"""victron_balance: Victron Venus OS batteries, cells and chargers in Home Assistant."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HassJob, HomeAssistant
from homeassistant.exceptions import (
    ConfigEntryAuthFailed,
    ConfigEntryError,
    ConfigEntryNotReady,
    ServiceValidationError,
)
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .balancer import BalancerManager
from .broker import async_create_session
from .charge_control import ChargeControl, async_return_to_follow_bms
from .const import CONF_KEEPALIVE_INTERVAL, CONF_PORTAL_ID, DOMAIN, LOGGER
from .coordinator import VenusCoordinator, VictronBalanceConfigEntry, VictronBalanceRuntimeData
from .evse import async_setup_evse, evse_options
from .logic.dvcc_limits import ChargeMode
from .logic.keepalive import DEFAULT_INTERVAL
from .services import async_setup_services
from .top_balance import TopBalanceRunner
from .transport.mqtt_session import CannotConnect, InvalidAuth
from .transport.venus_link import VenusLink, VenusNotAnswering

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.NUMBER,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.SWITCH,
]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's services (once, for all entries)."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: VictronBalanceConfigEntry) -> bool:
    """Connect to the Venus broker, start the link and the entities."""
    portal_id: str = entry.data[CONF_PORTAL_ID]

    def task_factory(coro: Coroutine[Any, Any, None], name: str) -> Any:
        # Entry background tasks are cancelled on unload and on shutdown.
        return entry.async_create_background_task(hass, coro, name)

    try:
        session = await async_create_session(
            hass, entry.data, name=f"venus {portal_id}", task_factory=task_factory
        )
    except (ssl.SSLError, ValueError) as err:
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="invalid_ca_certificate",
            translation_placeholders={"error": str(err)},
        ) from err
    try:
        await session.start()
    except InvalidAuth as err:
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN, translation_key="invalid_auth"
        ) from err
    except CannotConnect as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="cannot_connect",
            translation_placeholders={"error": str(err)},
        ) from err

    link = VenusLink(
        session,
        portal_id,
        keepalive_interval=lambda: float(
            entry.options.get(CONF_KEEPALIVE_INTERVAL, DEFAULT_INTERVAL)
        ),
        task_factory=task_factory,
    )
    try:
        await link.start()
    except VenusNotAnswering as err:
        await session.close()
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="venus_not_answering",
            translation_placeholders={"portal_id": portal_id},
        ) from err

    coordinator = VenusCoordinator(hass, entry, link)
    charge = ChargeControl(hass, coordinator)
    await charge.async_load()
    top_balance = TopBalanceRunner(hass, coordinator, session)
    top_balance.on_finished = partial(async_return_to_follow_bms, charge)
    entry.runtime_data = VictronBalanceRuntimeData(
        session=session,
        link=link,
        venus=coordinator,
        charge=charge,
        top_balance=top_balance,
        balancer=BalancerManager(hass, coordinator, session),
    )
    try:
        await coordinator.async_config_entry_first_refresh()
    except ConfigEntryNotReady:
        await entry.runtime_data.close()
        raise

    try:
        entry.runtime_data.evse = await async_setup_evse(hass, entry, coordinator, task_factory)
    except (ConfigEntryError, ConfigEntryNotReady):
        await entry.runtime_data.close()
        raise

    await top_balance.async_load()
    # Balancers on the Venus broker (balancer/+/info); found ones get their entities.
    await entry.runtime_data.balancer.async_start()
    if charge.settings.mode is ChargeMode.HOLD_AT_SOC:
        try:
            await top_balance.async_start_hold()
        except ServiceValidationError as err:
            LOGGER.warning("Hold at SoC not resumed: %s", err)

    async def close_on_stop(_event: Event | None = None) -> None:
        await entry.runtime_data.close("home_assistant_stop")

    # A shutdown job runs before the stop event, while the broker sessions (entry
    # background tasks, cancelled at the stop event) can still publish the safe state.
    entry.async_on_unload(hass.async_add_shutdown_job(HassJob(close_on_stop)))
    entry.async_on_unload(hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, close_on_stop))
    entry.async_on_unload(coordinator.async_add_listener(charge.async_on_venus_update))
    entry.async_on_unload(entry.add_update_listener(_reload_on_change(entry)))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    if entry.runtime_data.evse is not None:
        entry.runtime_data.evse.async_start()
    return True


def _reload_on_change(
    entry: VictronBalanceConfigEntry,
) -> Callable[[HomeAssistant, VictronBalanceConfigEntry], Coroutine[Any, Any, None]]:
    """Reload for new connection data (reconfigure, reauth) or a new or changed openEVSE.

    The other options apply while running.
    """
    loaded_with = (dict(entry.data), evse_options(entry.options))

    async def reload_if_needed(hass: HomeAssistant, changed: VictronBalanceConfigEntry) -> None:
        if (dict(changed.data), evse_options(changed.options)) != loaded_with:
            hass.config_entries.async_schedule_reload(changed.entry_id)

    return reload_if_needed


async def async_unload_entry(hass: HomeAssistant, entry: VictronBalanceConfigEntry) -> bool:
    """Unload the entities, then stop the link and disconnect."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.close()
    return unloaded
