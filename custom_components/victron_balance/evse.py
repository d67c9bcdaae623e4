"""The openEVSE charger: its push coordinator and the control loop.

`EvseCoordinator` hands the station's readings to entities as they arrive.
`EvseControl` holds the user's mode and thresholds (in a Store), turns them into
one openEVSE claim every tick (fixed modes directly, PV surplus through the pure
`PvSurplusController` fed from Venus), publishes the station as a Venus EV
charger (seed 002) and adopts changes made in the Victron GUI/VRM.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from homeassistant.const import (
    ATTR_UNIT_OF_MEASUREMENT,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    SUN_EVENT_SUNRISE,
    SUN_EVENT_SUNSET,
)
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import (
    ConfigEntryError,
    ConfigEntryNotReady,
    ServiceValidationError,
)
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.storage import Store
from homeassistant.helpers.sun import get_astral_event_date
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .broker import async_create_session, status_will
from .const import (
    CONF_EV_CHARGER_INSTANCE,
    CONF_EV_CHARGER_TOPIC,
    CONF_EVSE_BASE_TOPIC,
    CONF_EVSE_BROKER,
    CONF_EVSE_IN_VENUS,
    CONF_SOLAR_FORECAST_ENTITY,
    DOMAIN,
    LOGGER,
)
from .coordinator import VenusCoordinator, VictronBalanceConfigEntry
from .logic.ev_charger_json import (
    DEFAULT_INSTANCE as EV_CHARGER_INSTANCE,
)
from .logic.ev_charger_json import (
    DEFAULT_TOPIC as EV_CHARGER_TOPIC,
)
from .logic.ev_charger_json import (
    WRITABLE_PATHS,
    ChargerView,
    WritebackDetector,
    build_json,
    station_state_known,
)
from .logic.evse_control import (
    ClaimKeeper,
    SolarForecast,
    forecast_energy_wh,
    pv_timing,
    surplus_inputs,
    surplus_settings,
    surplus_target,
)
from .logic.evse_modes import (
    EvseSettings,
    SettingsError,
    Situation,
    Target,
    adopt_gui_change,
    fixed_target,
    venus_mode,
    venus_set_current,
)
from .logic.log_limiter import RateLimitedLogger
from .logic.openevse import EvseReadings
from .logic.pv_surplus import PvSurplusController, SurplusDecision, SurplusSettings
from .logic.safety.evse import ClaimPermit, EvseFacts, ev_charger_document, permit_claim
from .logic.venus_state import Update
from .logic.venus_topics import ServiceKey
from .transport.mqtt_session import (
    CannotConnect,
    InvalidAuth,
    MqttSession,
    SessionError,
    TaskFactory,
)
from .transport.openevse_link import OpenEvseLink

STORAGE_VERSION = 1
TICK = timedelta(seconds=1)
VENUS_PUBLISH_S = 10.0  # the driver exits after 60 s without a JSON


class EvseCoordinator(DataUpdateCoordinator[EvseReadings]):
    """Pushes the station's readings to entities as they arrive (no polling)."""

    config_entry: VictronBalanceConfigEntry

    def __init__(
        self, hass: HomeAssistant, entry: VictronBalanceConfigEntry, link: OpenEvseLink
    ) -> None:
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"openEVSE {link.base_topic}",
            update_interval=None,
        )
        self.link = link
        self._flush: asyncio.Handle | None = None
        self._was_online = False
        link.add_listener(self._on_link_change)

    async def _async_update_data(self) -> EvseReadings:
        if not self.link.online:
            raise UpdateFailed(translation_domain=DOMAIN, translation_key="evse_offline")
        return self.link.readings

    @callback
    def _on_link_change(self) -> None:
        online = self.link.online
        if online and self._flush is None:
            self._flush = self.hass.loop.call_soon(self._publish)
        elif not online and self._was_online:
            if self._flush is not None:
                self._flush.cancel()
                self._flush = None
            self.async_set_update_error(
                UpdateFailed(translation_domain=DOMAIN, translation_key="evse_offline")
            )
        self._was_online = online

    @callback
    def _publish(self) -> None:
        self._flush = None
        if self.link.online:
            self.async_set_updated_data(self.link.readings)


class EvseControl:
    """Turns the user's EVSE mode into claims, and shows the station in Venus."""

    def __init__(
        self,
        hass: HomeAssistant,
        venus: VenusCoordinator,
        coordinator: EvseCoordinator,
        own_session: MqttSession | None,
    ) -> None:
        self.hass = hass
        self.venus = venus
        self.coordinator = coordinator
        self.link = coordinator.link
        self.own_session = own_session  # None: the station shares the Venus broker
        entry = venus.config_entry
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry.entry_id}.evse"
        )
        self.settings = EvseSettings()
        self.surplus = PvSurplusController(self._surplus_settings())
        self.target: Target | None = None
        self.decision: SurplusDecision | None = None
        self.claims_sent = 0
        self.gui_changes = 0
        self._claims = ClaimKeeper()
        self._writeback = WritebackDetector()
        self._seen_venus: dict[str, Any] = {}
        self._venus_json: dict[str, Any] | None = None
        self._venus_published_at: float | None = None
        self._errors = RateLimitedLogger(LOGGER)
        self._unsubscribers: list[CALLBACK_TYPE] = []
        self._tick_lock = asyncio.Lock()
        self._send_error: SessionError | None = None

    # --- lifecycle --------------------------------------------------------------

    async def async_load(self) -> None:
        """Restore the user's settings; unreadable ones fall back to Off."""
        stored = await self._store.async_load()
        if stored:
            try:
                self.settings = EvseSettings.from_dict(stored)
            except (KeyError, TypeError, ValueError) as err:
                LOGGER.warning("Stored EVSE settings unreadable (%s); mode Off", err)
        self.surplus.update_settings(self._surplus_settings())

    @callback
    def async_start(self) -> None:
        """Tick once a second and listen for Victron GUI changes."""
        entry = self.venus.config_entry
        self._unsubscribers = [
            async_track_time_interval(
                self.hass, self._on_tick, TICK, name="victron_balance evse", cancel_on_shutdown=True
            ),
            self.venus.link.add_update_listener(self._on_venus_update),
        ]
        entry.async_create_background_task(self.hass, self.async_tick(), "victron_balance evse")

    async def async_shutdown(self) -> None:
        """Stop the loop and hand the station back (release our claim)."""
        for unsubscribe in self._unsubscribers:
            unsubscribe()
        self._unsubscribers = []
        if self.link.online:
            await self._hand_back()
        await self.link.close()
        if self.own_session is not None:
            await self.own_session.close()

    # --- settings ---------------------------------------------------------------

    async def async_update(self, **changes: Any) -> None:
        """Change settings (validated here) and act on them at once."""
        try:
            settings = self.settings.with_changes(**changes)
        except SettingsError as err:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key=err.key,
                translation_placeholders={"error": str(err)},
            ) from err
        await self._apply_settings(settings, for_user=True)

    async def _apply_settings(self, settings: EvseSettings, *, for_user: bool = False) -> None:
        """Keep and act on `settings`; for a user's change, raise if the claim failed."""
        if settings.mode is not self.settings.mode:
            self.surplus.reset()
        self.settings = settings
        self.surplus.update_settings(self._surplus_settings())
        await self._store.async_save(settings.to_dict())
        try:
            await self.async_tick(for_user=for_user)
        finally:
            self.coordinator.async_update_listeners()

    def _surplus_settings(self) -> SurplusSettings:
        """The PV controller's settings: the user's numbers and the timing options."""
        return surplus_settings(self.settings, pv_timing(self.venus.config_entry.options))

    def solar_forecast(self) -> SolarForecast | None:
        """The forecast entity's view of the rest of today (None: no entity chosen).

        An entity that is unavailable or not an energy in Wh/kWh/MWh gives no forecast
        (the controller then works as without one) and a log line, never a guess.
        """
        entity_id = self.venus.config_entry.options.get(CONF_SOLAR_FORECAST_ENTITY)
        if not entity_id:
            return None
        state = self.hass.states.get(str(entity_id))
        remaining = None
        if state is None or state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
            self._errors.warning("forecast", f"Solar forecast {entity_id} unavailable")
        else:
            unit = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
            remaining = forecast_energy_wh(state.state, unit)
            if remaining is None:
                self._errors.warning(
                    "forecast",
                    f"Solar forecast {entity_id} is not an energy: {state.state!r} {unit}",
                )
        today = dt_util.now().date()
        sunrise = get_astral_event_date(self.hass, SUN_EVENT_SUNRISE, today)
        sunset = get_astral_event_date(self.hass, SUN_EVENT_SUNSET, today)
        if sunrise is None or sunset is None or sunset <= sunrise:
            return SolarForecast(remaining, None, None)  # polar day or night: no arc
        sunset_in = max((sunset - dt_util.utcnow()).total_seconds(), 0.0)
        return SolarForecast(remaining, sunset_in, (sunset - sunrise).total_seconds())

    # --- the loop ---------------------------------------------------------------

    @callback
    def _on_tick(self, _now: Any) -> None:
        if not self._tick_lock.locked():
            self.venus.config_entry.async_create_background_task(
                self.hass, self.async_tick(), "victron_balance evse tick"
            )

    def situation(self) -> Situation:
        """What the loop knows now."""
        return Situation(
            evse_online=self.link.online,
            venus_alive=self.venus.link.alive,
            station_max_current_a=self.link.readings.max_current_a,
        )

    def compute_target(self, now: float) -> Target:
        """The claim to hold now, and why."""
        situation = self.situation()
        fixed = fixed_target(self.settings, situation)
        if fixed is not None:
            self.decision = None
            return fixed
        wanted = self._surplus_settings()
        if wanted != self.surplus.settings:
            self.surplus.update_settings(wanted)  # the timing options changed
        inputs = surplus_inputs(
            now,
            self.venus.link.state,
            self.link.readings,
            self.venus.battery(),
            self.solar_forecast(),
        )
        decision = self.surplus.update(inputs)
        self.decision = decision
        return surplus_target(decision, self.settings, situation)

    async def async_tick(self, *, for_user: bool = False) -> None:
        """One control step: decide, claim, show in Venus.

        The timer's step is skipped while one runs; a user's waits for it, and raises
        the broker's error when its claim (or release) could not be sent.
        """
        if self._tick_lock.locked() and not for_user:
            return
        async with self._tick_lock:
            self._send_error = None
            now = self.hass.loop.time()
            wish = self.compute_target(now)
            permit = None if wish.claim is None else self._permit(wish)
            # What is shown (entities, Venus) is what the gate let through.
            target = wish if permit is None else replace(wish, claim=permit.request)
            changed = target != self.target
            self.target = target
            await self._claim(target, permit, now)
            await self._publish_to_venus(now)
            if changed:
                self.coordinator.async_update_listeners()
            if for_user and self._send_error is not None:
                raise self._send_error

    def gate_facts(self) -> EvseFacts:
        """What the EVSE gate checks a claim against, now."""
        return EvseFacts(
            station_online=self.link.online,
            venus_alive=self.venus.link.alive,
            user_max_a=self.settings.max_current_a,
            station_max_a=self.link.readings.max_current_a,
        )

    def _permit(self, wish: Target) -> ClaimPermit:
        assert wish.claim is not None
        permit = permit_claim(wish.claim, self.gate_facts())
        if permit.changed is not None:
            # The modes already keep within these limits: a change here means a bug
            # or a station that reports odd limits, worth a line in the log.
            sent = permit.request.current_a
            self._errors.warning(
                f"gate_{permit.changed}",
                f"openEVSE {self.link.base_topic}: claim {wish.claim.current_a} A "
                f"({wish.reason}) sent as {'pause' if sent is None else f'{sent} A'} "
                f"by the safety gate ({permit.changed})",
            )
        return permit

    async def _claim(self, target: Target, permit: ClaimPermit | None, now: float) -> None:
        if target.hand_back:
            await self._hand_back()
            return
        if permit is None:
            # Offline: nothing to send. It may come back without our claim (a power
            # cut, or auto-release), so send it again as soon as it is online.
            self._claims.forget()
            return
        request = permit.request
        if not self._claims.due(request, self.link.readings.claim, now):
            return
        try:
            await self.link.claim(permit)
        except SessionError as err:
            self._send_error = err
            self._errors.warning("claim", f"openEVSE claim not sent: {err}")
            return
        if request != self._claims.sent:
            LOGGER.info(
                "openEVSE %s: %s (%s)",
                self.link.base_topic,
                "pause" if request.current_a is None else f"{request.current_a} A",
                target.reason,
            )
        self._claims.record(request, now)
        self.claims_sent += 1

    async def _hand_back(self) -> None:
        """Release our claim if we hold one (Off: the station is not ours to run)."""
        if not self._claims.must_release(self.link.readings.claim):
            return
        try:
            await self.link.release()
        except SessionError as err:
            self._send_error = err
            self._errors.warning("release", f"openEVSE claim not released: {err}")
            return
        if self._claims.sent is not None:
            LOGGER.info("openEVSE %s handed back (claim released)", self.link.base_topic)
        self._claims.forget()
        # The station's retained `claim` clears shortly; until then do not repeat.
        self.link.readings.claim = None

    # --- the EVSE inside Venus --------------------------------------------------

    @property
    def venus_enabled(self) -> bool:
        """Publish the station as a Venus EV charger (dbus-mqtt-ev-charger)."""
        return bool(self.venus.config_entry.options.get(CONF_EVSE_IN_VENUS, True))

    @property
    def venus_topic(self) -> str:
        """The driver's JSON topic."""
        options = self.venus.config_entry.options
        return str(options.get(CONF_EV_CHARGER_TOPIC, EV_CHARGER_TOPIC))

    @property
    def venus_instance(self) -> int:
        """The driver's device instance."""
        options = self.venus.config_entry.options
        return int(options.get(CONF_EV_CHARGER_INSTANCE, EV_CHARGER_INSTANCE))

    def venus_view(self) -> ChargerView:
        """Our controls as the Victron GUI should show them."""
        target = self.target
        claim = None if target is None else target.claim
        settings = self.settings
        return ChargerView(
            mode=venus_mode(settings.mode),
            start_stop=settings.charging_enabled,
            set_current_a=venus_set_current(settings, claim),
            max_current_a=settings.max_current_a,
            pause_reason=None if target is None else target.reason,
        )

    async def _publish_to_venus(self, now: float) -> None:
        if not self.venus_enabled or not self.link.online:
            return  # no JSON: the driver's service vanishes after 60 s, as it should
        if not station_state_known(self.link.readings):
            return  # not "disconnected, 0 W" while the car may be charging
        document = ev_charger_document(build_json(self.link.readings, self.venus_view(), None))
        if document is None:
            self._errors.warning("venus_json_power", "EV charger JSON not sent: no plausible power")
            return
        if document.dropped:
            self._errors.warning(
                "venus_json_dropped",
                f"EV charger JSON sent without implausible {', '.join(document.dropped)}",
            )
        data = document.data
        due = self._venus_published_at is None or now - self._venus_published_at >= VENUS_PUBLISH_S
        if data == self._venus_json and not due:
            return
        try:
            await self.venus.link.session.publish(self.venus_topic, json.dumps(data))
        except SessionError as err:
            self._errors.warning("venus_json", f"EV charger JSON not published: {err}")
            return
        self._venus_json = data
        self._venus_published_at = now
        self._writeback.published(now, data)

    @callback
    def _on_venus_update(self, update: Update) -> None:
        # Called for every Venus message: only the EV charger service matters here.
        key = update.changed or update.vanished
        if key is not None and key.service == "evcharger":
            self._check_gui_changes()

    @callback
    def _check_gui_changes(self) -> None:
        """Adopt SetCurrent/StartStop/Mode values someone set in the Victron GUI."""
        if not self.venus_enabled:
            return
        key = ServiceKey("evcharger", self.venus_instance)
        state = self.venus.link.state
        if not state.has(key):
            self._seen_venus.clear()
            return
        now = self.hass.loop.time()
        settings = self.settings
        for path in WRITABLE_PATHS:
            value = state.value(key, path)
            if value == self._seen_venus.get(path):
                continue  # only look at values that just changed
            self._seen_venus[path] = value
            change = self._writeback.adopt(now, path, value)
            if change is None:
                continue
            LOGGER.info("Victron GUI set %s to %s; adopting it", change.path, change.value)
            self.gui_changes += 1
            settings = adopt_gui_change(settings, change.path, change.value)
        if settings != self.settings:
            self.venus.config_entry.async_create_background_task(
                self.hass, self._apply_settings(settings), "victron_balance evse gui change"
            )

    # --- diagnostics ------------------------------------------------------------

    def diagnostics(self) -> dict[str, Any]:
        """The control state for the diagnostics download."""
        target = self.target
        return {
            "base_topic": self.link.base_topic,
            "online": self.link.online,
            "separate_broker": self.own_session is not None,
            "settings": self.settings.to_dict(),
            "target": None
            if target is None
            else {
                "current_a": None if target.claim is None else target.claim.current_a,
                "claim": target.claim is not None,
                "reason": target.reason,
            },
            "surplus": self.surplus.diagnostics(),
            "claims_sent": self.claims_sent,
            "gui_changes": self.gui_changes,
            "messages": self.link.messages,
            "rejected": self.link.rejected,
            "venus_json": self._venus_json,
        }


EVSE_OPTION_KEYS = (
    CONF_EVSE_BASE_TOPIC,
    CONF_EVSE_BROKER,
    CONF_EVSE_IN_VENUS,
    CONF_EV_CHARGER_TOPIC,
    CONF_EV_CHARGER_INSTANCE,
)


def evse_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options that shape the openEVSE connection (a change needs a reload)."""
    return {key: options[key] for key in EVSE_OPTION_KEYS if key in options}


async def async_setup_evse(
    hass: HomeAssistant,
    entry: VictronBalanceConfigEntry,
    venus: VenusCoordinator,
    task_factory: TaskFactory,
) -> EvseControl | None:
    """Connect the configured openEVSE (None when there is none).

    On the Venus broker it shares that session; on a broker of its own it gets a
    second session, whose failure to connect makes the entry retry its setup.
    """
    base_topic = str(entry.options.get(CONF_EVSE_BASE_TOPIC) or "").strip("/")
    if not base_topic:
        return None
    broker = entry.options.get(CONF_EVSE_BROKER)
    own_session: MqttSession | None = None
    session = venus.link.session
    if broker:
        try:
            # The Will says on the station's broker that we are gone (for its users'
            # automations: our claim stays in force until released).
            own_session = await async_create_session(
                hass,
                broker,
                name=f"openevse {base_topic}",
                task_factory=task_factory,
                will=status_will(venus.portal_id, "evse"),
            )
            await own_session.start()
        except (ssl.SSLError, ValueError) as err:
            raise ConfigEntryError(
                translation_domain=DOMAIN,
                translation_key="evse_invalid_ca_certificate",
                translation_placeholders={"error": str(err)},
            ) from err
        except InvalidAuth as err:
            raise ConfigEntryError(
                translation_domain=DOMAIN, translation_key="evse_invalid_auth"
            ) from err
        except CannotConnect as err:
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN,
                translation_key="evse_cannot_connect",
                translation_placeholders={"error": str(err)},
            ) from err
        session = own_session
    link = OpenEvseLink(session, base_topic)
    await link.start()
    control = EvseControl(hass, venus, EvseCoordinator(hass, entry, link), own_session)
    await control.async_load()
    return control
