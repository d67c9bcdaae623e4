"""Sensors: the GX system values, the battery pack and every cell."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    EntityCategory,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfPower,
    UnitOfTemperature,
    UnitOfTime,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .balancer_entities import async_setup_balancer_sensors
from .charge_runner import ChargeRunner
from .coordinator import VenusCoordinator, VictronBalanceConfigEntry
from .energy_entities import energy_sensors
from .entity import (
    BatteryEntity,
    CellEntity,
    VenusEntity,
    add_cells_as_they_appear,
    watch_paths,
)
from .evse import EvseControl
from .evse_entity import EvseEntity
from .logic.openevse import EvseReadings, EvseStatus
from .logic.pv_surplus import Reason
from .logic.top_balance.controller import Decision, TopBalanceState
from .logic.venus_state import (
    BatteryView,
    VenusState,
    charger_current_limit,
    float_value,
    phase_total,
)
from .logic.venus_topics import SYSTEM
from .state_writer import Watch

PARALLEL_UPDATES = 0

UNIT_AMPERE_HOURS = "Ah"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True, kw_only=True)
class GxSensorDescription(SensorEntityDescription):
    """A sensor of the GX system service; `watches`: the paths value_fn reads."""

    value_fn: Callable[[VenusState], StateType]
    watches: tuple[Watch, ...] = ()


@dataclass(frozen=True, kw_only=True)
class BatterySensorDescription(SensorEntityDescription):
    """A sensor of the followed battery.

    `watches`: the battery paths value_fn reads. `derived`: computed from the whole
    battery, so only from a complete one (see entity.BatteryEntity).
    """

    value_fn: Callable[[BatteryView], StateType]
    watches: tuple[Watch, ...] = ()
    derived: bool = False


def _power(
    key: str, value_fn: Callable[[VenusState], StateType], *paths: str, **kwargs: Any
) -> GxSensorDescription:
    return GxSensorDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        value_fn=value_fn,
        watches=watch_paths(SYSTEM.service, *paths),
        **kwargs,
    )


def _phases(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}/L{phase}/Power" for phase in (1, 2, 3))


def _grid_phase(phase: int) -> GxSensorDescription:
    path = f"/Ac/Grid/L{phase}/Power"
    return _power(
        f"grid_power_l{phase}",
        lambda state: float_value(state.value(SYSTEM, path)),
        path,
        entity_registry_enabled_default=False,
    )


GX_SENSORS: tuple[GxSensorDescription, ...] = (
    _power(
        "pv_power", lambda state: float_value(state.value(SYSTEM, "/Dc/Pv/Power")), "/Dc/Pv/Power"
    ),
    _power("grid_power", lambda state: phase_total(state, "/Ac/Grid"), *_phases("/Ac/Grid")),
    *(_grid_phase(phase) for phase in (1, 2, 3)),
    _power(
        "consumption",
        lambda state: phase_total(state, "/Ac/Consumption"),
        *_phases("/Ac/Consumption"),
    ),
    GxSensorDescription(
        key="effective_charge_voltage",
        translation_key="effective_charge_voltage",
        device_class=SensorDeviceClass.VOLTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricPotential.VOLT,
        suggested_display_precision=2,
        value_fn=lambda state: float_value(state.value(SYSTEM, "/Control/EffectiveChargeVoltage")),
        watches=watch_paths(SYSTEM.service, "/Control/EffectiveChargeVoltage"),
    ),
    GxSensorDescription(
        key="charger_current_limit",
        translation_key="charger_current_limit",
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=charger_current_limit,
        watches=(("vebus", "/Link/ChargeCurrent"), ("solarcharger", "/Link/ChargeCurrent")),
    ),
    GxSensorDescription(
        key="active_bms",
        translation_key="active_bms",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda state: _text(state.value(SYSTEM, "/ActiveBmsService")),
        watches=watch_paths(SYSTEM.service, "/ActiveBmsService"),
    ),
)


def _battery_measurement(
    key: str,
    path: str,
    *,
    device_class: SensorDeviceClass | None,
    unit: str | None,
    precision: int,
    **kwargs: Any,
) -> BatterySensorDescription:
    """A measurement the battery service publishes at ``path``, as a float."""
    return BatterySensorDescription(
        key=key,
        translation_key=key,
        device_class=device_class,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=unit,
        suggested_display_precision=precision,
        value_fn=lambda battery: float_value(battery.value(path)),
        watches=watch_paths("battery", path),
        **kwargs,
    )


def _cell_extreme_voltage(
    extreme: Callable[[BatteryView], Any],
) -> Callable[[BatteryView], StateType]:
    def value(battery: BatteryView) -> StateType:
        cell = extreme(battery)
        return None if cell is None else float(cell.voltage)

    return value


def _cell_extreme_number(
    extreme: Callable[[BatteryView], Any],
) -> Callable[[BatteryView], StateType]:
    """The number of the lowest or highest cell."""

    def value(battery: BatteryView) -> StateType:
        cell = extreme(battery)
        return None if cell is None else cell.number

    return value


def _cell_count(battery: BatteryView) -> StateType:
    reported = battery.value("/System/NrOfCellsPerBattery")
    return len(battery.cell_voltages()) or (reported if isinstance(reported, int) else None) or None


_VOLT = UnitOfElectricPotential.VOLT
_AMP = UnitOfElectricCurrent.AMPERE
_VOLTAGE = SensorDeviceClass.VOLTAGE
_CURRENT = SensorDeviceClass.CURRENT

BATTERY_SENSORS: tuple[BatterySensorDescription, ...] = (
    _battery_measurement(
        "voltage", "/Dc/0/Voltage", device_class=_VOLTAGE, unit=_VOLT, precision=2
    ),
    _battery_measurement("current", "/Dc/0/Current", device_class=_CURRENT, unit=_AMP, precision=1),
    _battery_measurement(
        "power",
        "/Dc/0/Power",
        device_class=SensorDeviceClass.POWER,
        unit=UnitOfPower.WATT,
        precision=0,
    ),
    _battery_measurement(
        "state_of_charge",
        "/Soc",
        device_class=SensorDeviceClass.BATTERY,
        unit=PERCENTAGE,
        precision=1,
    ),
    _battery_measurement(
        "temperature",
        "/Dc/0/Temperature",
        device_class=SensorDeviceClass.TEMPERATURE,
        unit=UnitOfTemperature.CELSIUS,
        precision=1,
    ),
    _battery_measurement(
        "consumed_amphours",
        "/ConsumedAmphours",
        device_class=None,
        unit=UNIT_AMPERE_HOURS,
        precision=1,
    ),
    _battery_measurement(
        "time_to_go",
        "/TimeToGo",
        device_class=SensorDeviceClass.DURATION,
        unit=UnitOfTime.SECONDS,
        precision=1,
        suggested_unit_of_measurement=UnitOfTime.HOURS,
    ),
    _battery_measurement(
        "bms_charge_voltage_limit",
        "/Info/MaxChargeVoltage",
        device_class=_VOLTAGE,
        unit=_VOLT,
        precision=2,
        entity_category=EntityCategory.DIAGNOSTIC,
    ),
    _battery_measurement(
        "bms_charge_current_limit",
        "/Info/MaxChargeCurrent",
        device_class=_CURRENT,
        unit=_AMP,
        precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
    ),
    _battery_measurement(
        "bms_discharge_current_limit",
        "/Info/MaxDischargeCurrent",
        device_class=_CURRENT,
        unit=_AMP,
        precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
    ),
    BatterySensorDescription(
        key="min_cell_voltage",
        translation_key="min_cell_voltage",
        device_class=_VOLTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=_VOLT,
        suggested_display_precision=3,
        value_fn=_cell_extreme_voltage(BatteryView.min_cell),
        derived=True,
    ),
    BatterySensorDescription(
        key="max_cell_voltage",
        translation_key="max_cell_voltage",
        device_class=_VOLTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=_VOLT,
        suggested_display_precision=3,
        value_fn=_cell_extreme_voltage(BatteryView.max_cell),
        derived=True,
    ),
    BatterySensorDescription(
        key="min_cell",
        translation_key="min_cell",
        value_fn=_cell_extreme_number(BatteryView.min_cell),
        derived=True,
    ),
    BatterySensorDescription(
        key="max_cell",
        translation_key="max_cell",
        value_fn=_cell_extreme_number(BatteryView.max_cell),
        derived=True,
    ),
    BatterySensorDescription(
        key="cell_delta",
        translation_key="cell_delta",
        device_class=_VOLTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricPotential.MILLIVOLT,
        suggested_display_precision=0,
        value_fn=BatteryView.cell_delta_mv,
        derived=True,
    ),
    BatterySensorDescription(
        key="cell_count",
        translation_key="cell_count",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_cell_count,
        derived=True,
    ),
)

CELL_VOLTAGE = SensorEntityDescription(
    key="cell_voltage",
    translation_key="cell_voltage",
    device_class=_VOLTAGE,
    state_class=SensorStateClass.MEASUREMENT,
    native_unit_of_measurement=_VOLT,
    suggested_display_precision=3,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: VictronBalanceConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the GX, battery and cell sensors; cells that appear later are added then."""
    coordinator = entry.runtime_data.venus
    async_add_entities(
        [GxSensor(coordinator, description) for description in GX_SENSORS]
        + [BatterySensor(coordinator, description) for description in BATTERY_SENSORS]
        + [SettingsWritesSensor(coordinator, entry.runtime_data.charge)]
        + [
            TopBalanceSensor(coordinator, entry.runtime_data.charge, description)
            for description in TOP_BALANCE_SENSORS
        ]
        + list(energy_sensors(coordinator))
    )
    add_cells_as_they_appear(entry, async_add_entities, CellVoltageSensor)
    async_setup_balancer_sensors(entry, async_add_entities)
    if (evse := entry.runtime_data.evse) is not None:
        async_add_entities(
            [EvseSensor(evse, description) for description in EVSE_SENSORS]
            + [EvseControlSensor(evse, description) for description in EVSE_CONTROL_SENSORS]
        )


class GxSensor(VenusEntity, SensorEntity):
    """A system value of the GX."""

    entity_description: GxSensorDescription

    def __init__(self, coordinator: VenusCoordinator, description: GxSensorDescription) -> None:
        super().__init__(coordinator, description, description.key)

    @property
    def native_value(self) -> StateType:
        """The value from the system service."""
        return self.entity_description.value_fn(self.coordinator.data)

    def shown_state(self) -> Any:
        """Compare on the value."""
        return self.native_value


SETTINGS_WRITES = SensorEntityDescription(
    key="settings_writes",
    translation_key="settings_writes",
    entity_category=EntityCategory.DIAGNOSTIC,
    state_class=SensorStateClass.MEASUREMENT,
    native_unit_of_measurement="writes/h",
)


class SettingsWritesSensor(VenusEntity, SensorEntity):
    """How often the integration wrote GX settings (flash) in the last hour."""

    def __init__(self, coordinator: VenusCoordinator, runner: ChargeRunner) -> None:
        super().__init__(coordinator, SETTINGS_WRITES, SETTINGS_WRITES.key)
        self.runner = runner

    async def async_added_to_hass(self) -> None:
        """Follow the runner (it writes the settings)."""
        await super().async_added_to_hass()
        self.follow(self.runner.async_add_listener)

    @property
    def native_value(self) -> int:
        """Writes in the last hour."""
        return self.runner.writes_last_hour()

    def shown_state(self) -> Any:
        """Compare on the count."""
        return self.native_value


@dataclass(frozen=True, kw_only=True)
class TopBalanceSensorDescription(SensorEntityDescription):
    """A figure of the managed top balance."""

    value_fn: Callable[[ChargeRunner], StateType]


def _decision_value(
    read: Callable[[Decision], StateType],
) -> Callable[[ChargeRunner], StateType]:
    def value(runner: ChargeRunner) -> StateType:
        decision = runner.supervisor.decision
        return None if decision is None else read(decision)

    return value


def _first_cells(decision: Decision) -> StateType:
    # Cells that crossed in the same sample are all first: the reading cannot tell.
    return ", ".join(str(cell) for cell in decision.first_cells_at_hvc) or None


TOP_BALANCE_SENSORS: tuple[TopBalanceSensorDescription, ...] = (
    TopBalanceSensorDescription(
        key="top_balance_state",
        translation_key="top_balance_state",
        device_class=SensorDeviceClass.ENUM,
        options=[state.value for state in TopBalanceState],
        value_fn=lambda runner: runner.supervisor.controller.state.value,
    ),
    TopBalanceSensorDescription(
        key="top_balance_progress",
        translation_key="top_balance_progress",
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=0,
        value_fn=_decision_value(lambda decision: round(decision.progress_pct, 1)),
    ),
    TopBalanceSensorDescription(
        key="top_balance_eta",
        translation_key="top_balance_eta",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        suggested_unit_of_measurement=UnitOfTime.HOURS,
        suggested_display_precision=1,
        value_fn=_decision_value(lambda decision: decision.eta_s),
    ),
    TopBalanceSensorDescription(
        key="top_balance_cells_at_shunt",
        translation_key="top_balance_cells_at_shunt",
        value_fn=_decision_value(lambda decision: len(decision.cells_at_shunt)),
    ),
    TopBalanceSensorDescription(
        key="top_balance_first_cell_at_hvc",
        translation_key="top_balance_first_cell_at_hvc",
        value_fn=_decision_value(_first_cells),
    ),
    TopBalanceSensorDescription(
        key="top_balance_ah_delivered",
        translation_key="top_balance_ah_delivered",
        native_unit_of_measurement=UNIT_AMPERE_HOURS,
        suggested_display_precision=1,
        value_fn=_decision_value(lambda decision: round(decision.ah_delivered, 2)),
    ),
)


class TopBalanceSensor(BatteryEntity, SensorEntity):
    """A figure of the managed top balance (on the battery device)."""

    entity_description: TopBalanceSensorDescription

    def __init__(
        self,
        coordinator: VenusCoordinator,
        runner: ChargeRunner,
        description: TopBalanceSensorDescription,
    ) -> None:
        super().__init__(coordinator, description, description.key)
        self.runner = runner

    @property
    def available(self) -> bool:
        """Shown while Venus is reachable, with or without a run."""
        return self.coordinator.last_update_success

    @property
    def native_value(self) -> StateType:
        """The figure."""
        return self.entity_description.value_fn(self.runner)

    async def async_added_to_hass(self) -> None:
        """Also follow the runner's steps."""
        await super().async_added_to_hass()
        self.follow(self.runner.async_add_listener)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """The cell numbers behind the count (or the tie)."""
        decision = self.runner.supervisor.decision
        if decision is None:
            return None
        if self.entity_description.key == "top_balance_cells_at_shunt":
            return {"cells": list(decision.cells_at_shunt)}
        if self.entity_description.key == "top_balance_first_cell_at_hvc":
            return {"cells": list(decision.first_cells_at_hvc)}
        return None

    def shown_state(self) -> Any:
        """Compare on the value and attributes."""
        return (self.native_value, self.extra_state_attributes)


class BatterySensor(BatteryEntity, SensorEntity):
    """A value of the battery pack."""

    entity_description: BatterySensorDescription

    def __init__(
        self, coordinator: VenusCoordinator, description: BatterySensorDescription
    ) -> None:
        super().__init__(coordinator, description, description.key)

    @property
    def native_value(self) -> StateType:
        """The value from the battery service."""
        battery = self.battery
        return None if battery is None else self.entity_description.value_fn(battery)

    def shown_state(self) -> Any:
        """Compare on the value."""
        return self.native_value


class CellVoltageSensor(CellEntity, SensorEntity):
    """The voltage of one cell."""

    def __init__(self, coordinator: VenusCoordinator, number: int) -> None:
        super().__init__(coordinator, CELL_VOLTAGE, number)

    @property
    def native_value(self) -> float | None:
        """The cell voltage; unknown when the reading was rejected."""
        battery = self.battery
        return None if battery is None else battery.cell_voltage(self.cell)

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """The cell's number and the BMS's balancing flag (for the cells card)."""
        battery = self.battery
        return {
            "cell": self.cell,
            "balancing": None if battery is None else battery.cell_balancing(self.cell),
        }

    def shown_state(self) -> Any:
        """Compare on the value and the balancing flag."""
        return (self.native_value, self.extra_state_attributes)


# --- EV charger (openEVSE) ---------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class EvseSensorDescription(SensorEntityDescription):
    """A reading of the openEVSE station."""

    value_fn: Callable[[EvseReadings], StateType]


EVSE_SENSORS: tuple[EvseSensorDescription, ...] = (
    EvseSensorDescription(
        key="evse_status",
        translation_key="evse_status",
        device_class=SensorDeviceClass.ENUM,
        options=[status.value for status in EvseStatus],
        value_fn=lambda readings: None if (s := readings.evse_status) is None else s.value,
    ),
    EvseSensorDescription(
        key="evse_pilot",
        translation_key="evse_pilot",
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=0,
        value_fn=lambda readings: readings.pilot_a,
    ),
    EvseSensorDescription(
        key="evse_current",
        translation_key="evse_current",
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=1,
        value_fn=lambda readings: readings.current_a,
    ),
    EvseSensorDescription(
        key="evse_power",
        translation_key="evse_power",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        value_fn=lambda readings: readings.power_w,
    ),
    EvseSensorDescription(
        key="evse_session_energy",
        translation_key="evse_session_energy",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,  # back to 0 with each new session
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        value_fn=lambda readings: readings.session_energy_kwh,
    ),
    EvseSensorDescription(
        key="evse_total_energy",
        translation_key="evse_total_energy",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,  # for the Energy dashboard
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        value_fn=lambda readings: readings.total_energy_kwh,
    ),
    EvseSensorDescription(
        key="evse_temperature",
        translation_key="evse_temperature",
        device_class=SensorDeviceClass.TEMPERATURE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfTemperature.CELSIUS,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda readings: readings.temperature_c,
    ),
)


class EvseSensor(EvseEntity, SensorEntity):
    """A reading of the station."""

    entity_description: EvseSensorDescription

    @property
    def native_value(self) -> StateType:
        """The reading, as the station last sent it."""
        return self.entity_description.value_fn(self.control.link.readings)


@dataclass(frozen=True, kw_only=True)
class EvseControlSensorDescription(SensorEntityDescription):
    """What the control loop does with the station."""

    value_fn: Callable[[EvseControl], StateType]


EVSE_CONTROL_REASONS: tuple[str, ...] = (
    "evse_offline",
    "stopped",
    "off",
    "venus_unavailable",
    "fast_32",
    "fast_16",
    "manual",
    *(reason.value for reason in Reason),
)


def _control_reason(control: EvseControl) -> StateType:
    target = control.target
    if target is None:
        return None
    # A reason this version does not know shows as unknown rather than breaking the enum.
    return target.reason if target.reason in EVSE_CONTROL_REASONS else None


def _target_current(control: EvseControl) -> StateType:
    target = control.target
    if target is None or target.claim is None:
        return None
    return 0 if target.claim.current_a is None else target.claim.current_a


EVSE_CONTROL_SENSORS: tuple[EvseControlSensorDescription, ...] = (
    EvseControlSensorDescription(
        key="evse_control_reason",
        translation_key="evse_control_reason",
        device_class=SensorDeviceClass.ENUM,
        options=list(EVSE_CONTROL_REASONS),
        value_fn=_control_reason,
    ),
    EvseControlSensorDescription(
        key="pv_surplus",
        translation_key="pv_surplus",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        value_fn=lambda control: None if (w := control.surplus.surplus_w) is None else round(w),
    ),
    EvseControlSensorDescription(
        key="evse_target_current",
        translation_key="evse_target_current",
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=0,
        value_fn=_target_current,
    ),
)


class EvseControlSensor(EvseEntity, SensorEntity):
    """The control loop's decision (available while the station is)."""

    entity_description: EvseControlSensorDescription

    @property
    def native_value(self) -> StateType:
        """The decision now."""
        return self.entity_description.value_fn(self.control)
