"""victron_balance: Victron Venus OS batteries, cells and chargers in Home Assistant."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Coroutine
from typing import Any

from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HassJob, HomeAssistant
from homeassistant.exceptions import (
    ConfigEntryAuthFailed,
    ConfigEntryError,
    ConfigEntryNotReady,
)
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceEntry
from homeassistant.helpers.typing import ConfigType

from .balancer import BalancerManager
from .broker import async_create_session, status_will
from .cells_card import async_register_cells_card
from .charge_runner import ChargeRunner
from .const import CONF_KEEPALIVE_INTERVAL, CONF_PORTAL_ID, DOMAIN
from .coordinator import VenusCoordinator, VictronBalanceConfigEntry, VictronBalanceRuntimeData
from .entity import gx_device_info
from .evse import async_setup_evse, evse_options
from .logic.keepalive import DEFAULT_INTERVAL
from .services import async_setup_services
from .transport.mqtt_session import CannotConnect, InvalidAuth, MqttSession
from .transport.venus_link import VenusLink, VenusNotAnswering

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.NUMBER,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.SWITCH,
]

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's services and its cells card (once, for all entries)."""
    async_setup_services(hass)
    await async_register_cells_card(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: VictronBalanceConfigEntry) -> bool:
    """Connect to the Venus broker, start the link and the entities."""
    portal_id: str = entry.data[CONF_PORTAL_ID]

    def task_factory(coro: Coroutine[Any, Any, None], name: str) -> Any:
        # Entry background tasks are cancelled on unload and on shutdown.
        return entry.async_create_background_task(hass, coro, name)

    try:
        # The Will tells a balancer at once when we die (its lease names this topic).
        session = await async_create_session(
            hass,
            entry.data,
            name=f"venus {portal_id}",
            task_factory=task_factory,
            will=status_will(portal_id),
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

    try:
        await _async_start(hass, entry, session, task_factory)
    except BaseException:
        # Setup completes or leaves nothing running: no session, link or control behind.
        runtime = getattr(entry, "runtime_data", None)  # may be a former load's
        if isinstance(runtime, VictronBalanceRuntimeData) and runtime.session is session:
            await runtime.close("setup_failed")
        else:
            await session.close()
        raise
    return True


async def _async_start(
    hass: HomeAssistant,
    entry: VictronBalanceConfigEntry,
    session: MqttSession,
    task_factory: Callable[[Coroutine[Any, Any, None], str], Any],
) -> None:
    """Everything after the broker connection; the caller cleans up if it fails."""
    portal_id: str = entry.data[CONF_PORTAL_ID]
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
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="venus_not_answering",
            translation_placeholders={"portal_id": portal_id},
        ) from err

    coordinator = VenusCoordinator(hass, entry, link)
    charge = ChargeRunner(hass, coordinator, session)
    entry.runtime_data = VictronBalanceRuntimeData(
        session=session,
        link=link,
        venus=coordinator,
        charge=charge,
        balancer=BalancerManager(hass, coordinator, session),
    )
    await coordinator.async_config_entry_first_refresh()
    entry.runtime_data.evse = await async_setup_evse(hass, entry, coordinator, task_factory)
    # Restores the mode; resumes a recent run or a hold, gives back a stale BMS switch.
    await charge.async_load()
    # Balancers on the Venus broker (balancer/+/info); found ones get their entities.
    await entry.runtime_data.balancer.async_start()

    async def close_on_stop(_event: Event | None = None) -> None:
        await entry.runtime_data.close("home_assistant_stop")

    # A shutdown job runs before the stop event, while the broker sessions (entry
    # background tasks, cancelled at the stop event) can still publish the safe state;
    # the stop event only finds it closed (close runs once).
    entry.async_on_unload(hass.async_add_shutdown_job(HassJob(close_on_stop)))
    entry.async_on_unload(hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, close_on_stop))
    entry.async_on_unload(entry.add_update_listener(_reload_on_change(entry)))
    # The GX first: the battery, EV charger and balancer devices are linked below it.
    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, **gx_device_info(coordinator)
    )
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    if entry.runtime_data.evse is not None:
        entry.runtime_data.evse.async_start()


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


def _devices_in_use(entry: VictronBalanceConfigEntry) -> set[tuple[str, str]]:
    """Device identifiers that are there now: the GX, its battery, live balancers, the EVSE."""
    runtime = entry.runtime_data
    portal_id = runtime.venus.portal_id
    in_use = {(DOMAIN, portal_id)}
    battery = runtime.venus.battery()
    if battery is not None and battery.present:
        in_use.add((DOMAIN, f"{portal_id}_battery"))
    in_use.update(
        (DOMAIN, f"{portal_id}_balancer_{balancer_id}")
        for balancer_id, runner in runtime.balancer.runners.items()
        if runner.online
    )
    if runtime.evse is not None:
        in_use.add((DOMAIN, f"{portal_id}_evse_{runtime.evse.link.base_topic}"))
    return in_use


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: VictronBalanceConfigEntry, device: DeviceEntry
) -> bool:
    """A device may be deleted once it is gone (a balancer unplugged, an old EVSE)."""
    return not device.identifiers & _devices_in_use(entry)


async def async_unload_entry(hass: HomeAssistant, entry: VictronBalanceConfigEntry) -> bool:
    """Unload the entities, then stop the link and disconnect."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.close()
    return unloaded
