"""Config, options, reauth and reconfigure flows for victron_balance."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import ConfigFlow, ConfigFlowResult, OptionsFlow
from homeassistant.const import CONF_HOST, CONF_PASSWORD, CONF_PORT, CONF_USERNAME
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .broker import async_create_session
from .const import (
    BATTERY_AUTO,
    CONF_BATTERY_INSTANCE,
    CONF_CA_CERTIFICATE,
    CONF_CHEMISTRY,
    CONF_EV_CHARGER_INSTANCE,
    CONF_EV_CHARGER_TOPIC,
    CONF_EVSE_BASE_TOPIC,
    CONF_EVSE_BROKER,
    CONF_EVSE_IN_VENUS,
    CONF_KEEPALIVE_INTERVAL,
    CONF_PORTAL_ID,
    CONF_SOLAR_FORECAST_ENTITY,
    CONF_TLS,
    CONF_UPDATE_INTERVAL,
    CONF_VERIFY_TLS,
    CONF_VIRTUAL_BMS_INSTANCE,
    CONF_VIRTUAL_BMS_TOPIC,
    DEFAULT_CHEMISTRY,
    DEFAULT_PORT,
    DISCOVERY_TIMEOUT,
    DOMAIN,
    KEEPALIVE_MAX,
    KEEPALIVE_MIN,
    LOGGER,
)
from .coordinator import VictronBalanceConfigEntry
from .evse import EVSE_OPTION_KEYS
from .logic import update_interval
from .logic.ev_charger_json import DEFAULT_INSTANCE as EV_CHARGER_INSTANCE
from .logic.ev_charger_json import DEFAULT_TOPIC as EV_CHARGER_TOPIC
from .logic.evse_control import PV_TIMING_OPTIONS
from .logic.keepalive import DEFAULT_INTERVAL
from .logic.openevse import ANNOUNCE_FILTER, EvseProblem, parse_announcement
from .logic.top_balance.chemistry import PRESETS
from .logic.virtual_bms import DEFAULT_INSTANCE as VIRTUAL_BMS_INSTANCE
from .logic.virtual_bms import DEFAULT_TOPIC as VIRTUAL_BMS_TOPIC
from .transport.mqtt_session import CannotConnect, InvalidAuth, MqttSession
from .transport.openevse_link import discover_openevse
from .transport.venus_link import NoPortalFound, discover_portal_id

_PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
_PORT = NumberSelector(NumberSelectorConfig(min=1, max=65535, mode=NumberSelectorMode.BOX))


# The fields of a broker connection (the portal id belongs to the GX, not to them).
CONNECTION_FIELDS = (
    CONF_HOST,
    CONF_PORT,
    CONF_USERNAME,
    CONF_PASSWORD,
    CONF_TLS,
    CONF_VERIFY_TLS,
    CONF_CA_CERTIFICATE,
)


def _connection_schema(defaults: Mapping[str, Any], *, with_portal: bool) -> vol.Schema:
    """The broker form; the password is never filled in (the form goes to the browser)."""
    fields: dict[Any, Any] = {
        vol.Required(CONF_HOST, default=defaults.get(CONF_HOST, vol.UNDEFINED)): TextSelector(),
        vol.Required(CONF_PORT, default=defaults.get(CONF_PORT, DEFAULT_PORT)): _PORT,
        vol.Optional(
            CONF_USERNAME, description={"suggested_value": defaults.get(CONF_USERNAME)}
        ): TextSelector(),
        vol.Optional(CONF_PASSWORD): _PASSWORD,
        vol.Required(CONF_TLS, default=defaults.get(CONF_TLS, False)): BooleanSelector(),
        vol.Required(
            CONF_VERIFY_TLS, default=defaults.get(CONF_VERIFY_TLS, True)
        ): BooleanSelector(),
        vol.Optional(
            CONF_CA_CERTIFICATE, description={"suggested_value": defaults.get(CONF_CA_CERTIFICATE)}
        ): TextSelector(TextSelectorConfig(multiline=True)),
    }
    if with_portal:
        fields[
            vol.Optional(
                CONF_PORTAL_ID, description={"suggested_value": defaults.get(CONF_PORTAL_ID)}
            )
        ] = TextSelector()
    return vol.Schema(fields)


def _clean(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Normalise form input: int port, trimmed text, empty optional fields dropped."""
    data: dict[str, Any] = {}
    for key, raw in user_input.items():
        value = raw.strip() if isinstance(raw, str) else raw
        if value == "":
            continue
        data[key] = value
    if CONF_PORT in data:
        data[CONF_PORT] = int(data[CONF_PORT])
    return data


def _keep_stored_password(data: dict[str, Any], stored: Mapping[str, Any]) -> dict[str, Any]:
    """A password left empty keeps the stored one, as long as a username is given.

    The forms never show the stored password; clearing the username clears both (a
    broker sees no password without a username).
    """
    if not data.get(CONF_USERNAME):
        data.pop(CONF_PASSWORD, None)
    elif not data.get(CONF_PASSWORD) and stored.get(CONF_PASSWORD):
        data[CONF_PASSWORD] = stored[CONF_PASSWORD]
    return data


def _connection_updates(data: Mapping[str, Any]) -> dict[str, Any]:
    """Entry data updates for a connection form: a field left empty is cleared (None)."""
    return {field: data.get(field) for field in CONNECTION_FIELDS}


EVSE_DISCOVERY_WAIT = 2.0  # announcements are retained: they arrive right away
CONF_CONFIGURE_EVSE = "configure_evse"
CONF_CONFIGURE_PV_SURPLUS = "configure_pv_surplus"
CONF_EVSE_SEPARATE_BROKER = "evse_separate_broker"


class _Probe:
    """What a connection test found: the portal id, stations, or form errors."""

    def __init__(self) -> None:
        self.portal_id: str | None = None
        self.errors: dict[str, str] = {}
        self.stations: list[str] = []

    def on_announce(self, topic: str, payload: bytes) -> None:
        try:
            announcement = parse_announcement(topic, payload)
        except EvseProblem:
            return
        if announcement.connected and announcement.base_topic not in (None, *self.stations):
            self.stations.append(str(announcement.base_topic))


async def _probe(hass: HomeAssistant, data: Mapping[str, Any]) -> tuple[str | None, dict[str, str]]:
    """Connect and find the portal id; return it or form errors."""
    probe = await _probe_venus(hass, data)
    return probe.portal_id, probe.errors


async def _probe_venus(hass: HomeAssistant, data: Mapping[str, Any]) -> _Probe:
    """Connect, find the portal id and note openEVSE stations announced meanwhile."""
    probe = _Probe()
    session, probe.errors = await _connect(hass, data, "config flow probe")
    if session is None:
        return probe
    wanted = data.get(CONF_PORTAL_ID)
    try:
        await session.subscribe(ANNOUNCE_FILTER, probe.on_announce)
        probe.portal_id = await discover_portal_id(session, DISCOVERY_TIMEOUT, wanted)
    except NoPortalFound:
        probe.errors = {"base": "no_venus_found"}
    except Exception:
        LOGGER.exception("Unexpected error while looking for Venus OS")
        probe.errors = {"base": "unknown"}
    finally:
        await session.close()
    return probe


async def _connect(
    hass: HomeAssistant, data: Mapping[str, Any], name: str
) -> tuple[MqttSession | None, dict[str, str]]:
    """A connected session, or form errors."""
    try:
        session = await async_create_session(hass, data, name=name)
    except (ssl.SSLError, ValueError):
        return None, {CONF_CA_CERTIFICATE: "invalid_ca_certificate"}
    try:
        await session.start()
    except InvalidAuth:
        return None, {"base": "invalid_auth"}
    except CannotConnect:
        return None, {"base": "cannot_connect"}
    return session, {}


def _openevse_schema(
    stations: list[str], defaults: Mapping[str, Any], *, with_broker_choice: bool
) -> vol.Schema:
    current = defaults.get(CONF_EVSE_BASE_TOPIC)
    choices = sorted({*stations, *([current] if current else [])})
    fields: dict[Any, Any] = {
        vol.Optional(
            CONF_EVSE_BASE_TOPIC,
            description={"suggested_value": current or next(iter(choices), None)},
        ): SelectSelector(
            SelectSelectorConfig(
                options=choices, custom_value=True, mode=SelectSelectorMode.DROPDOWN
            )
        ),
    }
    if with_broker_choice:
        fields[
            vol.Required(CONF_EVSE_SEPARATE_BROKER, default=bool(defaults.get(CONF_EVSE_BROKER)))
        ] = BooleanSelector()
    fields[vol.Required(CONF_EVSE_IN_VENUS, default=defaults.get(CONF_EVSE_IN_VENUS, True))] = (
        BooleanSelector()
    )
    fields[
        vol.Required(
            CONF_EV_CHARGER_TOPIC, default=defaults.get(CONF_EV_CHARGER_TOPIC, EV_CHARGER_TOPIC)
        )
    ] = TextSelector()
    fields[
        vol.Required(
            CONF_EV_CHARGER_INSTANCE,
            default=defaults.get(CONF_EV_CHARGER_INSTANCE, EV_CHARGER_INSTANCE),
        )
    ] = NumberSelector(NumberSelectorConfig(min=0, max=1000, step=1, mode=NumberSelectorMode.BOX))
    return vol.Schema(fields)


def _evse_options(
    user_input: Mapping[str, Any], broker: Mapping[str, Any] | None
) -> dict[str, Any]:
    """EVSE options from the openEVSE form; no base topic means no EVSE."""
    base = str(user_input.get(CONF_EVSE_BASE_TOPIC) or "").strip().strip("/")
    if not base:
        return {}
    options: dict[str, Any] = {
        CONF_EVSE_BASE_TOPIC: base,
        CONF_EVSE_IN_VENUS: bool(user_input[CONF_EVSE_IN_VENUS]),
        CONF_EV_CHARGER_TOPIC: str(user_input[CONF_EV_CHARGER_TOPIC]).strip() or EV_CHARGER_TOPIC,
        CONF_EV_CHARGER_INSTANCE: int(user_input[CONF_EV_CHARGER_INSTANCE]),
    }
    if broker:
        options[CONF_EVSE_BROKER] = dict(broker)
    return options


class VictronBalanceConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up a Venus OS system."""

    VERSION = 1

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: VictronBalanceConfigEntry) -> OptionsFlow:
        """Options: battery choice and keepalive interval."""
        return VictronBalanceOptionsFlow()

    def __init__(self) -> None:
        """Start with nothing found."""
        self._data: dict[str, Any] = {}
        self._stations: list[str] = []

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the broker and find the GX on it."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _clean(user_input)
            probe = await _probe_venus(self.hass, data)
            portal_id, errors = probe.portal_id, probe.errors
            if portal_id is not None and portal_id != data.get(CONF_PORTAL_ID, portal_id):
                # The broker serves another GX than the one asked for.
                portal_id, errors = None, {CONF_PORTAL_ID: "portal_not_found"}
            if portal_id is not None:
                await self.async_set_unique_id(portal_id)
                self._abort_if_unique_id_configured()
                data[CONF_PORTAL_ID] = portal_id
                self._data = data
                if probe.stations:
                    # An openEVSE announces itself on this broker: offer it.
                    self._stations = probe.stations
                    return await self.async_step_openevse()
                return self._create()
        return self.async_show_form(
            step_id="user",
            data_schema=_connection_schema(user_input or {}, with_portal=True),
            errors=errors,
        )

    async def async_step_openevse(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Pick the openEVSE found on the Venus broker (or none)."""
        if user_input is not None:
            return self._create(_evse_options(user_input, None))
        return self.async_show_form(
            step_id="openevse",
            data_schema=_openevse_schema(self._stations, {}, with_broker_choice=False),
            description_placeholders={"stations": ", ".join(self._stations)},
        )

    def _create(self, options: dict[str, Any] | None = None) -> ConfigFlowResult:
        portal_id = self._data[CONF_PORTAL_ID]
        return self.async_create_entry(
            title=f"Venus OS {portal_id}", data=self._data, options=options or {}
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The broker refused the stored credentials."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for new credentials."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            credentials = _keep_stored_password(_clean(user_input), entry.data)
            updates = {field: credentials.get(field) for field in (CONF_USERNAME, CONF_PASSWORD)}
            portal_id, errors = await _probe(self.hass, {**entry.data, **updates})
            if portal_id is not None:
                return self._update_and_abort(entry, updates, reason="reauth_successful")
        schema = vol.Schema(
            {
                vol.Optional(
                    CONF_USERNAME, description={"suggested_value": entry.data.get(CONF_USERNAME)}
                ): TextSelector(),
                vol.Optional(CONF_PASSWORD): _PASSWORD,
            }
        )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=schema,
            errors=errors,
            description_placeholders={"host": entry.data[CONF_HOST]},
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the broker address, TLS or credentials of an existing entry."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            connection = _keep_stored_password(_clean(user_input), entry.data)
            data = {**connection, CONF_PORTAL_ID: entry.data[CONF_PORTAL_ID]}
            portal_id, errors = await _probe(self.hass, data)
            if portal_id is not None:
                await self.async_set_unique_id(portal_id)
                self._abort_if_unique_id_mismatch(reason="wrong_portal")
                return self._update_and_abort(
                    entry, _connection_updates(connection), reason="reconfigure_successful"
                )
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=_connection_schema(user_input or entry.data, with_portal=False),
            errors=errors,
        )

    def _update_and_abort(
        self, entry: VictronBalanceConfigEntry, updates: Mapping[str, Any], *, reason: str
    ) -> ConfigFlowResult:
        """Store the new connection data; the entry reloads with it.

        A loaded entry reloads through its update listener (Home Assistant 2026 reports a
        flow that reloads such an entry itself); one that is not loaded is reloaded here.
        """
        if entry.update_listeners:
            self.hass.config_entries.async_update_entry(entry, data={**entry.data, **updates})
            return self.async_abort(reason=reason)
        return self.async_update_reload_and_abort(entry, data_updates=updates, reason=reason)


class VictronBalanceOptionsFlow(OptionsFlow):
    """Options; the openEVSE ones reload the entry, the rest apply while running."""

    def __init__(self) -> None:
        """Nothing chosen yet."""
        self._options: dict[str, Any] = {}
        self._evse_form: dict[str, Any] = {}
        self._pv_surplus_next = False

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Pick the battery and the keepalive interval."""
        if user_input is not None:
            self._options = {
                **self.config_entry.options,
                CONF_BATTERY_INSTANCE: user_input[CONF_BATTERY_INSTANCE],
                CONF_CHEMISTRY: user_input[CONF_CHEMISTRY],
                CONF_VIRTUAL_BMS_TOPIC: user_input[CONF_VIRTUAL_BMS_TOPIC].strip()
                or VIRTUAL_BMS_TOPIC,
                CONF_VIRTUAL_BMS_INSTANCE: int(user_input[CONF_VIRTUAL_BMS_INSTANCE]),
                CONF_KEEPALIVE_INTERVAL: int(user_input[CONF_KEEPALIVE_INTERVAL]),
                CONF_UPDATE_INTERVAL: user_input[CONF_UPDATE_INTERVAL],
            }
            self._pv_surplus_next = bool(user_input.get(CONF_CONFIGURE_PV_SURPLUS))
            if user_input.get(CONF_CONFIGURE_EVSE):
                return await self.async_step_openevse()
            if self._pv_surplus_next:
                return await self.async_step_pv_surplus()
            return self.async_create_entry(data=self._options)
        options = self.config_entry.options
        current = str(options.get(CONF_BATTERY_INSTANCE, BATTERY_AUTO))
        choices = {BATTERY_AUTO, current}
        runtime = getattr(self.config_entry, "runtime_data", None)
        if runtime is not None:
            choices.update(str(instance) for instance in runtime.link.state.instances("battery"))
        schema = vol.Schema(
            {
                vol.Required(CONF_BATTERY_INSTANCE, default=current): SelectSelector(
                    SelectSelectorConfig(
                        options=sorted(choices, key=lambda c: (c != BATTERY_AUTO, c)),
                        mode=SelectSelectorMode.DROPDOWN,
                        translation_key=CONF_BATTERY_INSTANCE,
                    )
                ),
                vol.Required(
                    CONF_CHEMISTRY, default=options.get(CONF_CHEMISTRY, DEFAULT_CHEMISTRY)
                ): SelectSelector(
                    SelectSelectorConfig(
                        options=list(PRESETS),
                        mode=SelectSelectorMode.DROPDOWN,
                        translation_key=CONF_CHEMISTRY,
                    )
                ),
                vol.Required(
                    CONF_VIRTUAL_BMS_TOPIC,
                    default=options.get(CONF_VIRTUAL_BMS_TOPIC, VIRTUAL_BMS_TOPIC),
                ): TextSelector(),
                vol.Required(
                    CONF_VIRTUAL_BMS_INSTANCE,
                    default=options.get(CONF_VIRTUAL_BMS_INSTANCE, VIRTUAL_BMS_INSTANCE),
                ): NumberSelector(
                    NumberSelectorConfig(min=0, max=1000, step=1, mode=NumberSelectorMode.BOX)
                ),
                vol.Required(CONF_CONFIGURE_EVSE, default=False): BooleanSelector(),
                vol.Required(CONF_CONFIGURE_PV_SURPLUS, default=False): BooleanSelector(),
                vol.Required(
                    CONF_KEEPALIVE_INTERVAL,
                    default=options.get(CONF_KEEPALIVE_INTERVAL, int(DEFAULT_INTERVAL)),
                ): NumberSelector(
                    NumberSelectorConfig(
                        min=KEEPALIVE_MIN,
                        max=KEEPALIVE_MAX,
                        step=1,
                        unit_of_measurement="s",
                        mode=NumberSelectorMode.SLIDER,
                    )
                ),
                vol.Required(
                    CONF_UPDATE_INTERVAL,
                    default=options.get(
                        CONF_UPDATE_INTERVAL, update_interval.DEFAULT_UPDATE_INTERVAL.value
                    ),
                ): SelectSelector(
                    SelectSelectorConfig(
                        options=[preset.value for preset in update_interval.UpdateInterval],
                        mode=SelectSelectorMode.DROPDOWN,
                        translation_key=CONF_UPDATE_INTERVAL,
                    )
                ),
            }
        )
        return self.async_show_form(step_id="init", data_schema=schema)

    async def async_step_openevse(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The openEVSE: its base topic (empty: none) and where it is shown in Venus."""
        if user_input is not None:
            if user_input.get(CONF_EVSE_SEPARATE_BROKER):
                self._evse_form = user_input
                return await self.async_step_openevse_broker()
            return await self._save_evse(_evse_options(user_input, None))
        stations: list[str] = []
        runtime = getattr(self.config_entry, "runtime_data", None)
        if runtime is not None and not self.config_entry.options.get(CONF_EVSE_BROKER):
            stations = sorted(await discover_openevse(runtime.session, EVSE_DISCOVERY_WAIT))
        return self.async_show_form(
            step_id="openevse",
            data_schema=_openevse_schema(
                stations, self.config_entry.options, with_broker_choice=True
            ),
            description_placeholders={"stations": ", ".join(stations) or "-"},
        )

    async def async_step_openevse_broker(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The openEVSE's own broker: connect to it and look for the station there."""
        errors: dict[str, str] = {}
        stored = self.config_entry.options.get(CONF_EVSE_BROKER) or {}
        if user_input is not None:
            broker = _keep_stored_password(_clean(user_input), stored)
            session, errors = await _connect(self.hass, broker, "config flow openEVSE broker")
            if session is not None:
                try:
                    stations = await discover_openevse(session, EVSE_DISCOVERY_WAIT)
                finally:
                    await session.close()
                form = dict(self._evse_form)
                if not str(form.get(CONF_EVSE_BASE_TOPIC) or "").strip() and stations:
                    form[CONF_EVSE_BASE_TOPIC] = sorted(stations)[0]
                if str(form.get(CONF_EVSE_BASE_TOPIC) or "").strip():
                    return await self._save_evse(_evse_options(form, broker))
                errors = {"base": "no_openevse_found"}
        defaults = user_input or stored
        return self.async_show_form(
            step_id="openevse_broker",
            data_schema=_connection_schema(defaults, with_portal=False),
            errors=errors,
        )

    async def _save_evse(self, evse: dict[str, Any]) -> ConfigFlowResult:
        """Replace the EVSE options (the entry reloads to connect the station)."""
        options = self._options or dict(self.config_entry.options)
        for key in EVSE_OPTION_KEYS:
            options.pop(key, None)
        self._options = {**options, **evse}
        if self._pv_surplus_next:
            return await self.async_step_pv_surplus()
        return self.async_create_entry(data=self._options)

    async def async_step_pv_surplus(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """PV surplus: the solar forecast to use (none: as without) and the timing."""
        options = self._options or dict(self.config_entry.options)
        if user_input is not None:
            chosen = dict(options)
            chosen.pop(CONF_SOLAR_FORECAST_ENTITY, None)
            if user_input.get(CONF_SOLAR_FORECAST_ENTITY):
                chosen[CONF_SOLAR_FORECAST_ENTITY] = user_input[CONF_SOLAR_FORECAST_ENTITY]
            for option in PV_TIMING_OPTIONS:
                chosen[option.key] = float(user_input[option.key])
            return self.async_create_entry(data=chosen)
        fields: dict[Any, Any] = {
            vol.Optional(
                CONF_SOLAR_FORECAST_ENTITY,
                description={"suggested_value": options.get(CONF_SOLAR_FORECAST_ENTITY)},
            ): EntitySelector(EntitySelectorConfig(domain="sensor", device_class="energy")),
        }
        for option in PV_TIMING_OPTIONS:
            fields[vol.Required(option.key, default=options.get(option.key, option.default))] = (
                NumberSelector(
                    NumberSelectorConfig(
                        min=option.minimum,
                        max=option.maximum,
                        step=1,
                        unit_of_measurement="s",
                        mode=NumberSelectorMode.BOX,
                    )
                )
            )
        return self.async_show_form(step_id="pv_surplus", data_schema=vol.Schema(fields))
