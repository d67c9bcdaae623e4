"""Entities of the relay balancers (one device each) and the manual-balancing advice.

Each platform module calls one `async_setup_balancer_*` function here. A balancer
found at runtime gets its device and entities then (like cells that appear later).
Live readings (status, active cell, remaining time, the plan) are unavailable while
the device is offline; settings, the switch, wear and the fault stay available, since
they are Home Assistant's own and mean something while the device is away.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.number import (
    NumberDeviceClass,
    NumberEntity,
    NumberEntityDescription,
    NumberMode,
)
from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfElectricPotential, UnitOfTime
from homeassistant.core import callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.typing import StateType

from .balancer import BalancerRunner, BalancerStatus, manual_advice
from .const import BALANCER_MAKER, DOMAIN
from .coordinator import VenusCoordinator, VictronBalanceConfigEntry
from .entity import FIGURE_SPACE, BatteryEntity, below_gx
from .errors import entity_action
from .logic.balancer.advisory import Advice
from .logic.balancer.planner import RANGES, Strategy

type AddEntities = Callable[[Iterable[Entity]], None]


def balancer_device_info(runner: BalancerRunner) -> DeviceInfo:
    """One device per balancer, reached through the GX's broker (shown below it, `below_gx`)."""
    portal_id = runner.coordinator.portal_id
    info = runner.info
    return DeviceInfo(
        identifiers={(DOMAIN, f"{portal_id}_balancer_{runner.balancer_id}")},
        name=f"Balancer {runner.balancer_id}",
        manufacturer=BALANCER_MAKER,
        model=f"Relay balancer, {info.relays} {info.kind}s",
    )


def add_balancers_as_they_appear(
    entry: VictronBalanceConfigEntry,
    add_entities: AddEntities,
    make_entities: Callable[[BalancerRunner], Iterable[Entity]],
) -> None:
    """Entities for every balancer known now, and for each one found later."""
    manager = entry.runtime_data.balancer

    @callback
    def added(runner: BalancerRunner) -> None:
        add_entities(make_entities(runner))

    for runner in list(manager.runners.values()):
        added(runner)
    entry.async_on_unload(manager.async_add_listener(added))


class BalancerEntity(Entity):
    """An entity of one balancer, updated after each of its ticks."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    _live = True  # unavailable while the device is offline

    def __init__(
        self,
        runner: BalancerRunner,
        description: EntityDescription,
        unique_suffix: str | None = None,
    ) -> None:
        self.runner = runner
        self.entity_description = description
        suffix = unique_suffix or description.key.removeprefix("balancer_")
        self._attr_unique_id = (
            f"{runner.coordinator.portal_id}_balancer_{runner.balancer_id}_{suffix}"
        )
        self._last_shown: Any = object()

    @property
    def device_info(self) -> DeviceInfo:
        """The balancer device below the GX (read when the entity is added)."""
        return below_gx(self, self.runner.coordinator, balancer_device_info(self.runner))

    @property
    def available(self) -> bool:
        """Live values need the device online."""
        return self.runner.online or not self._live

    def shown_state(self) -> Any:
        """What the entity shows; compared to skip identical writes."""
        raise NotImplementedError

    async def async_added_to_hass(self) -> None:
        """Follow the runner."""
        await super().async_added_to_hass()
        self.async_on_remove(self.runner.async_add_listener(self._handle_runner_update))

    @callback
    def _handle_runner_update(self) -> None:
        shown = (self.available, self.shown_state())
        if shown != self._last_shown:
            self._last_shown = shown
            self.async_write_ha_state()


# ---------------------------------------------------------------------- sensors
@dataclass(frozen=True, kw_only=True)
class BalancerSensorDescription(SensorEntityDescription):
    """A figure of one balancer; `number` is the cell or relay for per-index ones."""

    value_fn: Callable[[BalancerRunner, int], StateType]
    attributes_fn: Callable[[BalancerRunner, int], dict[str, Any] | None] = (
        lambda _runner, _number: None
    )
    live: bool = True
    per: str | None = None  # "cell" or "relay": one sensor per relay


def _remaining_minutes(runner: BalancerRunner, _number: int) -> float | None:
    seconds = runner.remaining_s
    return None if seconds is None else round(seconds / 60.0, 1)


def _planned_minutes(runner: BalancerRunner, number: int) -> float | None:
    scan = runner.last_scan
    if scan is None:
        return None
    if scan.plan is None:
        return 0.0  # scanned, nothing to do (below the run voltage)
    return round(scan.plan.minutes[number - 1], 1)


def _plan_attributes(runner: BalancerRunner, _number: int) -> dict[str, Any]:
    """The planned charge per cell (minutes, cell 1 first): the cells card marks them."""
    scan = runner.last_scan
    planned = None if scan is None or scan.plan is None else scan.plan.minutes
    return {"planned_minutes": None if planned is None else [round(m, 1) for m in planned]}


def _relay_life(runner: BalancerRunner, _number: int) -> float:
    return round(runner.relay_life_pct()[0], 4)


def _relay_cycles(runner: BalancerRunner, number: int) -> int:
    wear = runner.wear.relays[number - 1]
    return wear.load + wear.dry


def _relay_cycle_split(runner: BalancerRunner, number: int) -> dict[str, Any]:
    wear = runner.wear.relays[number - 1]
    return {"load": wear.load, "dry": wear.dry}


_MINUTES = UnitOfTime.MINUTES

BALANCER_SENSORS: tuple[BalancerSensorDescription, ...] = (
    BalancerSensorDescription(
        key="balancer_status",
        translation_key="balancer_status",
        device_class=SensorDeviceClass.ENUM,
        options=[status.value for status in BalancerStatus],
        value_fn=lambda runner, _number: runner.status.value,
    ),
    BalancerSensorDescription(
        key="balancer_active_cell",
        translation_key="balancer_active_cell",
        value_fn=lambda runner, _number: runner.active_cell,
        attributes_fn=_plan_attributes,
    ),
    BalancerSensorDescription(
        key="balancer_remaining",
        translation_key="balancer_remaining",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=_MINUTES,
        suggested_display_precision=1,
        value_fn=_remaining_minutes,
    ),
    BalancerSensorDescription(
        key="balancer_relay_life",
        translation_key="balancer_relay_life",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        live=False,
        value_fn=_relay_life,
        attributes_fn=lambda runner, _number: {"relay": runner.relay_life_pct()[1]},
    ),
    BalancerSensorDescription(
        key="balancer_cell_planned",
        translation_key="balancer_cell_planned",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=_MINUTES,
        suggested_display_precision=1,
        per="cell",
        value_fn=_planned_minutes,
    ),
    BalancerSensorDescription(
        key="balancer_relay_cycles",
        translation_key="balancer_relay_cycles",
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        state_class=SensorStateClass.TOTAL_INCREASING,
        live=False,
        per="relay",
        value_fn=_relay_cycles,
        attributes_fn=_relay_cycle_split,
    ),
)


class BalancerSensor(BalancerEntity, SensorEntity):
    """A figure of one balancer (per cell / relay when the description says so)."""

    entity_description: BalancerSensorDescription

    def __init__(
        self, runner: BalancerRunner, description: BalancerSensorDescription, number: int = 0
    ) -> None:
        key = description.key.removeprefix("balancer_")
        suffix = key if description.per is None else f"{description.per}_{number}_{key}"
        super().__init__(runner, description, suffix)
        self._live = description.live
        self.number = number
        if description.per is not None:
            # Padded like the battery's cells, so device pages list 1, 2 ... 10 in order.
            self._attr_translation_placeholders = {
                description.per: str(number).rjust(2, FIGURE_SPACE)
            }

    @property
    def native_value(self) -> StateType:
        """The figure."""
        return self.entity_description.value_fn(self.runner, self.number)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """A few details, where useful."""
        return self.entity_description.attributes_fn(self.runner, self.number)

    def shown_state(self) -> Any:
        """Compare on value and attributes."""
        return (self.native_value, self.extra_state_attributes)


def _balancer_sensors(runner: BalancerRunner) -> list[Entity]:
    entities: list[Entity] = []
    for description in BALANCER_SENSORS:
        if description.per is None:
            entities.append(BalancerSensor(runner, description))
        else:
            entities.extend(
                BalancerSensor(runner, description, number)
                for number in range(1, runner.info.relays + 1)
            )
    return entities


# ---------------------------------------------------------------- manual advice
@dataclass(frozen=True, kw_only=True)
class AdviceSensorDescription(SensorEntityDescription):
    """Seed 003's manual balancing, for packs without balancer hardware.

    Derived from the whole battery: computed once per flush, from a complete one.
    """

    value_fn: Callable[[Advice], StateType]
    attributes_fn: Callable[[Advice], dict[str, Any] | None]
    derived: bool = True


def _charge_cell(advice: Advice) -> StateType:
    return advice.charge[0].cell if advice.charge else None


def _charge_details(advice: Advice) -> dict[str, Any] | None:
    if not advice.charge:
        return None
    first = advice.charge[0].to_dict()
    return {
        "supply_voltage": first["supply_v"],
        "supply_current": first["current_a"],
        "minutes": first["minutes"],
        "cells": [item.cell for item in advice.charge],
    }


def _drain_cell(advice: Advice) -> StateType:
    return None if advice.drain is None else advice.drain.cell


def _drain_details(advice: Advice) -> dict[str, Any] | None:
    if advice.drain is None:
        return None
    drain = advice.drain.to_dict()
    return {key: drain[key] for key in ("load_w", "step_ah", "step_minutes", "steps")}


ADVICE_SENSORS: tuple[AdviceSensorDescription, ...] = (
    AdviceSensorDescription(
        key="manual_charge_cell",
        translation_key="manual_charge_cell",
        value_fn=_charge_cell,
        attributes_fn=_charge_details,
    ),
    AdviceSensorDescription(
        key="manual_drain_cell",
        translation_key="manual_drain_cell",
        value_fn=_drain_cell,
        attributes_fn=_drain_details,
    ),
)


class ManualAdviceSensor(BatteryEntity, SensorEntity):
    """Which cell to charge with a bench supply, or to drain (on the battery device)."""

    entity_description: AdviceSensorDescription

    def __init__(self, coordinator: VenusCoordinator, description: AdviceSensorDescription) -> None:
        super().__init__(coordinator, description, description.key)

    def _advice(self) -> Advice | None:
        coordinator = self.coordinator

        def compute() -> Advice | None:
            complete = coordinator.complete_battery()
            return None if complete is None else manual_advice(coordinator, battery=complete)

        return coordinator.once_per_flush("manual_advice", compute)

    @property
    def native_value(self) -> StateType:
        """The cell number; unknown when there is nothing to do."""
        advice = self._advice()
        return None if advice is None else self.entity_description.value_fn(advice)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """How: supply voltage and time, or drain load and step."""
        advice = self._advice()
        return None if advice is None else self.entity_description.attributes_fn(advice)

    def shown_state(self) -> Any:
        """Compare on value and attributes."""
        return (self.native_value, self.extra_state_attributes)


def async_setup_balancer_sensors(entry: VictronBalanceConfigEntry, add: AddEntities) -> None:
    """Balancer sensors (now and as balancers appear) and the manual advice."""
    coordinator = entry.runtime_data.venus
    add([ManualAdviceSensor(coordinator, description) for description in ADVICE_SENSORS])
    add_balancers_as_they_appear(entry, add, _balancer_sensors)


# ---------------------------------------------------------------- binary sensor
BALANCER_FAULT = BinarySensorEntityDescription(
    key="balancer_fault",
    translation_key="balancer_fault",
    device_class=BinarySensorDeviceClass.PROBLEM,
)


class BalancerFaultSensor(BalancerEntity, BinarySensorEntity):
    """A latched fault: the balancer stopped and waits for the user."""

    _live = False

    def __init__(self, runner: BalancerRunner) -> None:
        super().__init__(runner, BALANCER_FAULT)

    @property
    def is_on(self) -> bool:
        """A fault is latched."""
        return self.runner.fault is not None

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Why."""
        fault = self.runner.fault
        return None if fault is None else fault.to_dict()

    def shown_state(self) -> Any:
        """Compare on the fault."""
        return self.runner.fault


def async_setup_balancer_binary_sensors(entry: VictronBalanceConfigEntry, add: AddEntities) -> None:
    """The fault flag of every balancer."""
    add_balancers_as_they_appear(entry, add, lambda runner: [BalancerFaultSensor(runner)])


# ---------------------------------------------------------------------- switch
BALANCER_ENABLED = SwitchEntityDescription(
    key="balancer_enabled", translation_key="balancer_enabled"
)


class BalancerSwitch(BalancerEntity, SwitchEntity):
    """Balancing on or off; on again after a fault acknowledges it."""

    _live = False

    def __init__(self, runner: BalancerRunner) -> None:
        super().__init__(runner, BALANCER_ENABLED)

    @property
    def is_on(self) -> bool:
        """Balancing is switched on."""
        return self.runner.enabled

    def shown_state(self) -> Any:
        """Compare on the switch."""
        return self.runner.enabled

    @entity_action
    async def async_turn_on(self, **kwargs: Any) -> None:
        """Start balancing (the next scan starts at once)."""
        await self.runner.async_set_enabled(True)

    @entity_action
    async def async_turn_off(self, **kwargs: Any) -> None:
        """Stop through the safe steps."""
        await self.runner.async_set_enabled(False)


def async_setup_balancer_switches(entry: VictronBalanceConfigEntry, add: AddEntities) -> None:
    """The balancing switch of every balancer."""
    add_balancers_as_they_appear(entry, add, lambda runner: [BalancerSwitch(runner)])


# ---------------------------------------------------------------------- select
BALANCER_STRATEGY = SelectEntityDescription(
    key="balancer_strategy",
    translation_key="balancer_strategy",
    entity_category=EntityCategory.CONFIG,
    options=[strategy.value for strategy in Strategy],
)


class BalancerStrategySelect(BalancerEntity, SelectEntity):
    """Lee Hart's running average, the true mean, or amp-hour tracking."""

    _live = False

    def __init__(self, runner: BalancerRunner) -> None:
        super().__init__(runner, BALANCER_STRATEGY)

    @property
    def current_option(self) -> str:
        """The strategy of the next scan."""
        return self.runner.settings.strategy.value

    def shown_state(self) -> Any:
        """Compare on the option."""
        return self.current_option

    @entity_action
    async def async_select_option(self, option: str) -> None:
        """HA has checked that the option exists."""
        settings = replace(self.runner.settings, strategy=Strategy(option))
        await self.runner.async_set_settings(settings)


def async_setup_balancer_selects(entry: VictronBalanceConfigEntry, add: AddEntities) -> None:
    """The strategy select of every balancer."""
    add_balancers_as_they_appear(entry, add, lambda runner: [BalancerStrategySelect(runner)])


# ---------------------------------------------------------------------- numbers
@dataclass(frozen=True, kw_only=True)
class BalancerNumberDescription(NumberEntityDescription):
    """A setting of the planner (`BalancerSettings` field `setting`)."""

    setting: str


BALANCER_NUMBERS: tuple[BalancerNumberDescription, ...] = (
    BalancerNumberDescription(
        key="balancer_tbase",
        translation_key="balancer_tbase",
        entity_category=EntityCategory.CONFIG,
        native_unit_of_measurement="min/V²",
        mode=NumberMode.BOX,
        setting="tbase",
    ),
    BalancerNumberDescription(
        key="balancer_floor_voltage",
        translation_key="balancer_floor_voltage",
        device_class=NumberDeviceClass.VOLTAGE,
        entity_category=EntityCategory.CONFIG,
        native_unit_of_measurement=UnitOfElectricPotential.VOLT,
        mode=NumberMode.BOX,
        setting="floor_voltage",
    ),
    BalancerNumberDescription(
        key="balancer_max_minutes",
        translation_key="balancer_max_minutes",
        device_class=NumberDeviceClass.DURATION,
        entity_category=EntityCategory.CONFIG,
        native_unit_of_measurement=_MINUTES,
        mode=NumberMode.BOX,
        setting="max_minutes",
    ),
)


class BalancerNumber(BalancerEntity, NumberEntity):
    """Tbase, floor voltage or maximum minutes; ranges depend on cells vs modules."""

    entity_description: BalancerNumberDescription
    _live = False

    def __init__(self, runner: BalancerRunner, description: BalancerNumberDescription) -> None:
        super().__init__(runner, description)
        bounds = RANGES[runner.info.kind][description.setting]
        self._attr_native_min_value = bounds.low
        self._attr_native_max_value = bounds.high
        self._attr_native_step = bounds.step

    @property
    def native_value(self) -> float:
        """The stored setting."""
        value: float = getattr(self.runner.settings, self.entity_description.setting)
        return value

    def shown_state(self) -> Any:
        """Compare on the value."""
        return self.native_value

    @entity_action
    async def async_set_native_value(self, value: float) -> None:
        """Check the range on every path, then store."""
        try:
            settings = self.runner.settings.with_value(self.entity_description.setting, value)
        except ValueError as err:
            low, high = self.native_min_value, self.native_max_value
            shown = str(value) if math.isfinite(value) else "nan"
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="invalid_parameter",
                translation_placeholders={"value": shown, "min": str(low), "max": str(high)},
            ) from err
        await self.runner.async_set_settings(settings)


def async_setup_balancer_numbers(entry: VictronBalanceConfigEntry, add: AddEntities) -> None:
    """The planner settings of every balancer."""
    add_balancers_as_they_appear(
        entry,
        add,
        lambda runner: [BalancerNumber(runner, description) for description in BALANCER_NUMBERS],
    )


# Every description per platform (tests/test_package.py checks names and icons).
DESCRIPTIONS: dict[str, tuple[EntityDescription, ...]] = {
    "sensor": (*BALANCER_SENSORS, *ADVICE_SENSORS),
    "binary_sensor": (BALANCER_FAULT,),
    "switch": (BALANCER_ENABLED,),
    "select": (BALANCER_STRATEGY,),
    "number": BALANCER_NUMBERS,
}
