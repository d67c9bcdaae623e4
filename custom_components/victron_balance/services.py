"""Services of victron_balance, registered once in async_setup."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv

from .const import DOMAIN
from .coordinator import VictronBalanceConfigEntry
from .errors import service_action
from .logic.dvcc_limits import ChargeMode
from .logic.top_balance.report import advice, drift
from .number import checked_in_range

ATTR_CONFIG_ENTRY_ID = "config_entry_id"
ATTR_MODE = "mode"
ATTR_CURRENT = "current"
ATTR_VOLTAGE = "voltage"
ATTR_TARGET = "target_cell_voltage"
ATTR_MAX_CURRENT = "max_current"
ATTR_BLEED_CURRENT = "bleed_current"
ATTR_LOAD_W = "load_w"

SET_CHARGE_LIMITS_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Optional(ATTR_MODE): vol.In([ChargeMode.FOLLOW_BMS.value, ChargeMode.LIMITED.value]),
        vol.Optional(ATTR_CURRENT): vol.Coerce(float),
        vol.Optional(ATTR_VOLTAGE): vol.Coerce(float),
    }
)


def _loaded_entry(hass: HomeAssistant, entry_id: str) -> VictronBalanceConfigEntry:
    entry: VictronBalanceConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_found",
            translation_placeholders={"entry_id": entry_id},
        )
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"entry_id": entry_id},
        )
    return entry


@service_action
async def _set_charge_limits(call: ServiceCall) -> None:
    """The numbers' and the select's paths: limits first, then the mode."""
    entry = _loaded_entry(call.hass, call.data[ATTR_CONFIG_ENTRY_ID])
    runner = entry.runtime_data.charge
    current = call.data.get(ATTR_CURRENT)
    voltage = call.data.get(ATTR_VOLTAGE)
    if current is not None or voltage is not None:
        await runner.async_set_limits(current_a=current, voltage_v=voltage)
    mode = call.data.get(ATTR_MODE)
    if mode is not None:
        await runner.async_select_mode(ChargeMode(mode))


START_TOP_BALANCE_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Optional(ATTR_TARGET): vol.Coerce(float),
        vol.Optional(ATTR_MAX_CURRENT): vol.Coerce(float),
        vol.Optional(ATTR_BLEED_CURRENT): vol.Coerce(float),
    }
)
ENTRY_ONLY_SCHEMA = vol.Schema({vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string})


@service_action
async def _start_top_balance(call: ServiceCall) -> None:
    """Parameters (the numbers' ranges), then the select's path."""
    entry = _loaded_entry(call.hass, call.data[ATTR_CONFIG_ENTRY_ID])
    runner = entry.runtime_data.charge
    preset = runner.preset
    target = call.data.get(ATTR_TARGET)
    if target is not None:
        checked_in_range(target, preset.target_min_v, preset.max_cell_v, "invalid_parameter")
    max_current = call.data.get(ATTR_MAX_CURRENT)
    if max_current is not None:
        checked_in_range(max_current, 1.0, 200.0, "invalid_parameter")
    bleed = call.data.get(ATTR_BLEED_CURRENT)
    if bleed is not None:
        checked_in_range(bleed, 0.05, 10.0, "invalid_parameter")
    await runner.async_set_parameters(
        target_cell_v=target, max_current_a=max_current, bleed_current_a=bleed
    )
    await runner.async_select_mode(ChargeMode.TOP_BALANCE)


@service_action
async def _stop_top_balance(call: ServiceCall) -> None:
    """Ends a top balance or a hold, as choosing another mode does."""
    entry = _loaded_entry(call.hass, call.data[ATTR_CONFIG_ENTRY_ID])
    await entry.runtime_data.charge.async_stop_virtual_control()


REPORT_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Optional(ATTR_LOAD_W): vol.All(vol.Coerce(float), vol.Range(min=1, max=100_000)),
    }
)


async def _top_balance_report(call: ServiceCall) -> ServiceResponse:
    """Past runs (seed 003's notes), per-cell drift, and advice for a severe imbalance."""
    entry = _loaded_entry(call.hass, call.data[ATTR_CONFIG_ENTRY_ID])
    runner = entry.runtime_data.charge
    supervisor = runner.supervisor
    reports = supervisor.reports
    response: dict[str, Any] = {
        "reports": [report.to_dict() for report in reports],
        "drift": {
            str(cell): {**asdict(history), "drifting": history.drifting}
            for cell, history in drift(reports).items()
        },
        "advice": None,
    }
    coordinator = entry.runtime_data.venus
    battery = coordinator.battery()
    pack = coordinator.pack()
    capacity = None if battery is None else battery.value("/InstalledCapacity")
    if battery is not None and pack is not None and isinstance(capacity, float) and capacity > 0:
        # Advice only from a complete pack: never from the cells seen so far.
        cells = battery.cell_voltages()
        voltages = [v for n in range(1, pack.cells + 1) if (v := cells.get(n)) is not None]
        if len(voltages) == pack.cells:
            result = advice(
                voltages,
                runner.preset,
                capacity,
                bleed_current_a=supervisor.params.bleed_current_a,
                load_w=call.data.get(ATTR_LOAD_W),
                target_cell_v=supervisor.params.cell_target(runner.preset),
            )
            response["advice"] = asdict(result)
    return response


BALANCER_PLAN_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Optional("balancer_id"): cv.string,
        vol.Optional("supply_current"): vol.All(vol.Coerce(float), vol.Range(min=0.1, max=100)),
        vol.Optional("drain_load_w"): vol.All(vol.Coerce(float), vol.Range(min=0.1, max=10_000)),
    }
)


async def _balancer_plan(call: ServiceCall) -> ServiceResponse:
    """The per-cell balancing plan now, and which cell to charge or drain by hand."""
    entry = _loaded_entry(call.hass, call.data[ATTR_CONFIG_ENTRY_ID])
    return entry.runtime_data.balancer.plan_response(
        call.data.get("balancer_id"),
        call.data.get("supply_current"),
        call.data.get("drain_load_w"),
    )


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the services."""
    hass.services.async_register(
        DOMAIN, "set_charge_limits", _set_charge_limits, schema=SET_CHARGE_LIMITS_SCHEMA
    )
    hass.services.async_register(
        DOMAIN, "start_top_balance", _start_top_balance, schema=START_TOP_BALANCE_SCHEMA
    )
    hass.services.async_register(
        DOMAIN, "stop_top_balance", _stop_top_balance, schema=ENTRY_ONLY_SCHEMA
    )
    hass.services.async_register(
        DOMAIN,
        "top_balance_report",
        _top_balance_report,
        schema=REPORT_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    hass.services.async_register(
        DOMAIN,
        "balancer_plan",
        _balancer_plan,
        schema=BALANCER_PLAN_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
