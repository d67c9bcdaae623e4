"""The vebus (MultiPlus), solarcharger (MPPT) and grid meter services and their live values.

``Link/ChargeCurrent`` and ``Link/ChargeVoltage`` are where DVCC's limits become
visible (behaviour 23): the user MaxChargeCurrent never appears under system/0,
only here, once the 3 s loop has applied it. They are null while DVCC does not
control the charger.
"""

from __future__ import annotations

from simulator.chargers import Flows, GridMeterConfig, MpptConfig, MultiPlusConfig
from simulator.dvcc import ChargerLimits
from simulator.energy import EnergyTotals
from simulator.items import JsonValue, Service

# vebus /State and solarcharger /State (com.victronenergy charger states).
STATE_OFF = 0
STATE_BULK = 3
STATE_ABSORPTION = 4
STATE_INVERTING = 9


def _identity(service: Service, product_id: int, name: str, process: str, conn: str) -> None:
    service.add("/ProductId", product_id)
    service.add("/ProductName", name)
    service.add("/DeviceInstance", service.instance)
    service.add("/Connected", 1)
    service.add("/FirmwareVersion", 1282)
    service.add("/Mgmt/ProcessName", process)
    service.add("/Mgmt/ProcessVersion", "sim")
    service.add("/Mgmt/Connection", conn)
    service.add("/CustomName", "")


def build_vebus_service(config: MultiPlusConfig) -> Service:
    """com.victronenergy.vebus.ttyS4: a MultiPlus-II on one phase."""
    service = Service("vebus", config.instance, "com.victronenergy.vebus.ttyS4")
    _identity(service, 0x2623, "MultiPlus-II 48/5000/70-50", "mk2-dbus", "VE.Bus")
    for path, value in (
        ("/Mode", 3),
        ("/State", STATE_OFF),
        ("/Dc/0/Voltage", None),
        ("/Dc/0/Current", 0.0),
        ("/Dc/0/Power", 0.0),
        ("/Ac/ActiveIn/L1/P", 0.0),
        ("/Ac/Out/L1/P", 0.0),
        ("/Ac/NumberOfPhases", 1),
        ("/Link/ChargeCurrent", None),
        ("/Link/ChargeVoltage", None),
        ("/Hub4/L1/AcPowerSetpoint", 0.0),
    ):
        service.add(path, value)
    return service


def build_solarcharger_service(config: MpptConfig) -> Service:
    """com.victronenergy.solarcharger.ttyS5: a SmartSolar MPPT on VE.Direct."""
    service = Service("solarcharger", config.instance, "com.victronenergy.solarcharger.ttyS5")
    _identity(service, 0xA057, "SmartSolar MPPT 250/100", "vedirect-dbus", "VE.Direct")
    for path, value in (
        ("/State", STATE_OFF),
        ("/Dc/0/Voltage", None),
        ("/Dc/0/Current", 0.0),
        ("/Yield/Power", 0.0),
        ("/Yield/User", 0.0),  # total yield, kWh
        ("/Pv/V", 0.0),
        ("/Link/NetworkMode", 0),
        ("/Link/ChargeCurrent", None),
        ("/Link/ChargeVoltage", None),
        ("/Settings/ChargeCurrentLimit", config.max_charge_current),
    ):
        service.add(path, value)
    return service


def build_grid_meter_service(config: GridMeterConfig) -> Service:
    """com.victronenergy.grid.cgwacs_ttyUSB0_mb1: an ET112 energy meter at the grid."""
    service = Service("grid", config.instance, "com.victronenergy.grid.cgwacs_ttyUSB0_mb1")
    _identity(service, 0xB34B, "Carlo Gavazzi ET112", "dbus-cgwacs", "/dev/ttyUSB0")
    for path, value in (
        ("/Ac/Power", 0.0),
        ("/Ac/L1/Power", 0.0),
        ("/Ac/Energy/Forward", 0.0),  # imported, kWh
        ("/Ac/Energy/Reverse", 0.0),  # exported, kWh
    ):
        service.add(path, value)
    return service


def grid_meter_values(flows: Flows, energy: EnergyTotals) -> dict[str, JsonValue]:
    """Live grid meter values (the meter counts in 10 Wh steps)."""
    return {
        "/Ac/Power": round(flows.grid_power),
        "/Ac/L1/Power": round(flows.grid_power),
        "/Ac/Energy/Forward": round(energy.grid_import, 2),
        "/Ac/Energy/Reverse": round(energy.grid_export, 2),
    }


def _state(current: float, limit: float | None, at_voltage: bool) -> int:
    if current <= 0.05:
        return STATE_OFF
    if at_voltage and (limit is None or current < limit - 0.5):
        return STATE_ABSORPTION
    return STATE_BULK


def vebus_values(
    flows: Flows, limits: ChargerLimits, pack_voltage: float, at_voltage: bool
) -> dict[str, JsonValue]:
    """Live vebus values for one published instant."""
    current = flows.vebus_dc_current
    state = STATE_INVERTING if current < -0.05 else _state(current, limits.current, at_voltage)
    return {
        "/State": state,
        "/Dc/0/Voltage": round(pack_voltage, 2),
        "/Dc/0/Current": round(current, 1),
        "/Dc/0/Power": round(current * pack_voltage),
        "/Ac/ActiveIn/L1/P": round(flows.vebus_ac_in),
        "/Ac/Out/L1/P": round(flows.vebus_ac_out),
        "/Link/ChargeCurrent": limits.current,
        "/Link/ChargeVoltage": limits.voltage,
    }


def solarcharger_values(
    flows: Flows,
    limits: ChargerLimits,
    pack_voltage: float,
    at_voltage: bool,
    energy: EnergyTotals | None = None,
) -> dict[str, JsonValue]:
    """Live solarcharger values for one published instant."""
    current = flows.mppt_current
    counters: dict[str, JsonValue] = {}
    if energy is not None:
        counters["/Yield/User"] = round(energy.pv_yield, 2)
    return counters | {
        "/State": _state(current, limits.current, at_voltage),
        "/Dc/0/Voltage": round(pack_voltage, 2),
        "/Dc/0/Current": round(current, 1),
        "/Yield/Power": round(flows.pv_power),
        "/Pv/V": 0.0 if flows.pv_available <= 0 else 120.0,
        "/Link/NetworkMode": 0 if limits.current is None else 13,
        "/Link/ChargeCurrent": limits.current,
        "/Link/ChargeVoltage": limits.voltage,
    }
