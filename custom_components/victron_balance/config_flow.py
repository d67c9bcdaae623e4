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
    CONF_KEEPALIVE_INTERVAL,
    CONF_PORTAL_ID,
    CONF_TLS,
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
from .logic.keepalive import DEFAULT_INTERVAL
from .logic.top_balance.chemistry import PRESETS
from .logic.virtual_bms import DEFAULT_INSTANCE as VIRTUAL_BMS_INSTANCE
from .logic.virtual_bms import DEFAULT_TOPIC as VIRTUAL_BMS_TOPIC
from .transport.mqtt_session import CannotConnect, InvalidAuth
from .transport.venus_link import NoPortalFound, discover_portal_id

_PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
_PORT = NumberSelector(NumberSelectorConfig(min=1, max=65535, mode=NumberSelectorMode.BOX))


def _connection_schema(defaults: Mapping[str, Any], *, with_portal: bool) -> vol.Schema:
    fields: dict[Any, Any] = {
        vol.Required(CONF_HOST, default=defaults.get(CONF_HOST, vol.UNDEFINED)): TextSelector(),
        vol.Required(CONF_PORT, default=defaults.get(CONF_PORT, DEFAULT_PORT)): _PORT,
        vol.Optional(
            CONF_USERNAME, description={"suggested_value": defaults.get(CONF_USERNAME)}
        ): TextSelector(),
        vol.Optional(
            CONF_PASSWORD, description={"suggested_value": defaults.get(CONF_PASSWORD)}
        ): _PASSWORD,
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


async def _probe(hass: HomeAssistant, data: Mapping[str, Any]) -> tuple[str | None, dict[str, str]]:
    """Connect and find the portal id; return it or form errors."""
    try:
        session = await async_create_session(hass, data, name="config flow probe")
    except (ssl.SSLError, ValueError):
        return None, {CONF_CA_CERTIFICATE: "invalid_ca_certificate"}
    try:
        await session.start()
    except InvalidAuth:
        return None, {"base": "invalid_auth"}
    except CannotConnect:
        return None, {"base": "cannot_connect"}
    wanted = data.get(CONF_PORTAL_ID)
    try:
        portal_id = await discover_portal_id(session, DISCOVERY_TIMEOUT, wanted)
    except NoPortalFound:
        return None, {"base": "no_venus_found"}
    except Exception:
        LOGGER.exception("Unexpected error while looking for Venus OS")
        return None, {"base": "unknown"}
    finally:
        await session.close()
    return portal_id, {}


class VictronBalanceConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up a Venus OS system."""

    VERSION = 1

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: VictronBalanceConfigEntry) -> OptionsFlow:
        """Options: battery choice and keepalive interval."""
        return VictronBalanceOptionsFlow()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the broker and find the GX on it."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _clean(user_input)
            portal_id, errors = await _probe(self.hass, data)
            if portal_id is not None and portal_id != data.get(CONF_PORTAL_ID, portal_id):
                # The broker serves another GX than the one asked for.
                portal_id, errors = None, {CONF_PORTAL_ID: "portal_not_found"}
            if portal_id is not None:
                await self.async_set_unique_id(portal_id)
                self._abort_if_unique_id_configured()
                data[CONF_PORTAL_ID] = portal_id
                return self.async_create_entry(title=f"Venus OS {portal_id}", data=data)
        return self.async_show_form(
            step_id="user",
            data_schema=_connection_schema(user_input or {}, with_portal=True),
            errors=errors,
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
            data = {**entry.data, **_clean(user_input)}
            if not user_input.get(CONF_PASSWORD):
                data.pop(CONF_PASSWORD, None)
            portal_id, errors = await _probe(self.hass, data)
            if portal_id is not None:
                return self.async_update_reload_and_abort(entry, data=data)
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
            data = {**_clean(user_input), CONF_PORTAL_ID: entry.data[CONF_PORTAL_ID]}
            portal_id, errors = await _probe(self.hass, data)
            if portal_id is not None:
                await self.async_set_unique_id(portal_id)
                self._abort_if_unique_id_mismatch(reason="wrong_portal")
                return self.async_update_reload_and_abort(entry, data=data)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=_connection_schema(user_input or entry.data, with_portal=False),
            errors=errors,
        )


class VictronBalanceOptionsFlow(OptionsFlow):
    """Options that apply while running (no reload needed)."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Pick the battery and the keepalive interval."""
        if user_input is not None:
            return self.async_create_entry(
                data={
                    CONF_BATTERY_INSTANCE: user_input[CONF_BATTERY_INSTANCE],
                    CONF_CHEMISTRY: user_input[CONF_CHEMISTRY],
                    CONF_VIRTUAL_BMS_TOPIC: user_input[CONF_VIRTUAL_BMS_TOPIC].strip()
                    or VIRTUAL_BMS_TOPIC,
                    CONF_VIRTUAL_BMS_INSTANCE: int(user_input[CONF_VIRTUAL_BMS_INSTANCE]),
                    CONF_KEEPALIVE_INTERVAL: int(user_input[CONF_KEEPALIVE_INTERVAL]),
                }
            )
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
            }
        )
        return self.async_show_form(step_id="init", data_schema=schema)
