"""Builders for the services the simulated GX publishes: system, settings, battery.

Every service carries the identity paths velib's ``add_mandatory_paths`` gives a
driver: ProductId, ProductName, DeviceInstance, Connected, FirmwareVersion,
Mgmt/ProcessName, Mgmt/ProcessVersion, Mgmt/Connection and CustomName.
"""

from __future__ import annotations

import random

from simulator.battery import (
    MAX_CELL_VOLTAGE,
    MAX_CHARGE_CURRENT,
    MAX_DISCHARGE_CURRENT,
    MIN_CELL_VOLTAGE,
    BatteryConfig,
    cell_path,
    derive,
)
from simulator.items import JsonValue, Number, Service

MQTT_BATTERY_PRODUCT_ID = 65535
SERIALBATTERY_PRODUCT_ID = 0xBA77
NO_BATTERY_MONITOR = "No battery monitor found"

BATTERY_ALARMS = (
    "LowVoltage",
    "HighVoltage",
    "LowSoc",
    "HighChargeCurrent",
    "HighDischargeCurrent",
    "CellImbalance",
    "HighChargeTemperature",
    "LowChargeTemperature",
    "LowCellVoltage",
    "HighTemperature",
    "LowTemperature",
    "InternalFailure",
    # dbus-serialbattery also publishes these (dbushelper.py).
    "HighCellVoltage",
    "BmsCable",
    "HighInternalTemperature",
    "FuseBlown",
)

# system/0 paths that mirror the active battery (battery path -> system path).
BATTERY_MIRROR = {
    "/Dc/0/Voltage": "/Dc/Battery/Voltage",
    "/Dc/0/Current": "/Dc/Battery/Current",
    "/Dc/0/Power": "/Dc/Battery/Power",
    "/Dc/0/Temperature": "/Dc/Battery/Temperature",
    "/Soc": "/Dc/Battery/Soc",
    "/ConsumedAmphours": "/Dc/Battery/ConsumedAmphours",
    "/TimeToGo": "/Dc/Battery/TimeToGo",
    "/InstalledCapacity": "/Dc/Battery/Capacity",
}


def _identity(
    service: Service,
    *,
    product_id: int,
    product_name: str,
    process: str,
    connection: str,
    firmware: JsonValue,
) -> None:
    service.add("/ProductId", product_id)
    service.add("/ProductName", product_name)
    service.add("/DeviceInstance", service.instance)
    service.add("/Connected", 1)
    service.add("/FirmwareVersion", firmware)
    service.add("/Mgmt/ProcessName", process)
    service.add("/Mgmt/ProcessVersion", "sim")
    service.add("/Mgmt/Connection", connection)
    service.add("/CustomName", "")


def build_platform_service() -> Service:
    """com.victronenergy.platform (venus-platform): the GX's own firmware version."""
    service = Service("platform", 0, "com.victronenergy.platform")
    service.add("/Firmware/Installed/Version", "v3.60")
    service.add("/Firmware/Installed/Build", "20250617090000")
    return service


def build_system_service(portal_id: str) -> Service:
    """com.victronenergy.system (dbus-systemcalc-py); battery-derived paths start null."""
    service = Service("system", 0, "com.victronenergy.system")
    _identity(
        service,
        product_id=0,
        product_name="Venus",
        process="dbus-systemcalc-py",
        connection="data from other dbus processes",
        firmware="v3.60",
    )
    service.add("/Serial", portal_id)
    service.add("/Dc/Pv/Power", 0.0)
    # A single-phase site: L2/L3 are invalid, not zero.
    service.add("/Ac/Grid/NumberOfPhases", 1)
    service.add("/Ac/Grid/L1/Power", 230.0)
    service.add("/Ac/Grid/L2/Power", None)
    service.add("/Ac/Grid/L3/Power", None)
    service.add("/Ac/Consumption/L1/Power", 230.0)
    service.add("/Ac/Consumption/L2/Power", None)
    service.add("/Ac/Consumption/L3/Power", None)
    for path in BATTERY_MIRROR.values():
        service.add(path, None)
    service.add("/Dc/Battery/ChargeVoltage", None)
    service.add("/Control/Dvcc", False)
    service.add("/Control/EffectiveChargeVoltage", None)
    service.add("/Control/MaxChargeCurrent", 0)
    # No chargers are simulated, so DVCC has nothing to act on (behaviour 24).
    service.add("/Control/SolarChargeVoltage", 0)
    service.add("/Control/SolarChargeCurrent", 0)
    service.add("/Control/BmsParameters", 0)
    service.add("/ActiveBatteryService", None)
    service.add("/ActiveBmsService", None)
    service.add("/ActiveBmsInstance", None)
    service.add("/Dvcc/Alarms/MultipleBatteries", 0)
    service.add("/AutoSelectedBatteryService", NO_BATTERY_MONITOR)
    service.add("/AvailableBatteries", "{}")
    service.add("/AvailableBmsServices", [])
    service.add("/Batteries", [])
    return service


# (path, default, min, max, integer) as localsettings registers them.
SETTINGS: tuple[tuple[str, Number, Number, Number, bool], ...] = (
    ("/Settings/SystemSetup/MaxChargeCurrent", -1, -1, 10000, True),
    ("/Settings/SystemSetup/MaxChargeVoltage", 0.0, 0.0, 80.0, False),
    ("/Settings/Services/Bol", 0, 0, 7, True),
    ("/Settings/SystemSetup/BmsInstance", -1, -255, 1000, True),
    ("/Settings/SystemSetup/DvccControlAllMultis", 1, 0, 1, True),
    ("/Settings/CGwacs/OvervoltageFeedIn", 0, 0, 1, True),
    ("/Settings/CGwacs/BatteryLife/MinimumSocLimit", 10.0, 0.0, 100.0, False),
    # Fillers, so a full publish is not only the interesting paths.
    ("/Settings/CGwacs/AcPowerSetPoint", 50.0, -1000000.0, 1000000.0, False),
    ("/Settings/CGwacs/Hub4Mode", 1, 1, 3, True),
    ("/Settings/CGwacs/BatteryLife/State", 2, 0, 12, True),
    ("/Settings/CGwacs/MaxDischargePower", -1.0, -1.0, 1000000.0, False),
    ("/Settings/SystemSetup/AcInput1", 1, 0, 3, True),
    ("/Settings/Gui/DisplayOff", 600, 0, 1000000, True),
    ("/Settings/Relay/Function", 0, 0, 6, True),
)


def build_settings_service() -> Service:
    """com.victronenergy.settings (localsettings): every setting writable with min/max."""
    service = Service("settings", 0, "com.victronenergy.settings")
    _identity(
        service,
        product_id=0,
        product_name="localsettings",
        process="localsettings",
        connection="local",
        firmware="1.76",
    )
    for path, default, low, high, integer in SETTINGS:
        service.add(path, default, minimum=low, maximum=high, writable=True, integer=integer)
    return service


def initial_cell_voltages(config: BatteryConfig, seed: int) -> list[float]:
    """Cells around 3.30 V with a few mV spread, reproducible from the seed."""
    rng = random.Random(f"cells-{seed}-{config.instance}")
    return [round(3.30 + rng.uniform(-0.004, 0.004), 3) for _ in range(config.cells)]


def build_battery_service(config: BatteryConfig, seed: int) -> Service:
    """A 280 Ah LiFePO4 BMS service with static (no physics yet) values."""
    service = Service("battery", config.instance, config.dbus_name)
    if config.flavour == "mqtt_battery":
        _identity(
            service,
            product_id=MQTT_BATTERY_PRODUCT_ID,
            product_name="MQTT Battery",
            process="dbus-mqtt-battery.py",
            connection="MQTT Battery service",
            firmware="1.0.0",
        )
        service.add("/UpdateIndex", 0)
    else:
        _identity(
            service,
            product_id=SERIALBATTERY_PRODUCT_ID,
            product_name="SerialBattery(JKBMS)",
            process="dbus-serialbattery.py",
            connection="Serial /dev/ttyUSB0",
            firmware="v2.0.20250729",
        )
    soc = 50.0
    service.add("/Dc/0/Voltage", None)
    service.add("/Dc/0/Current", 0.0)
    service.add("/Dc/0/Power", None)
    service.add("/Dc/0/Temperature", 22.0)
    service.add("/Soc", soc)
    service.add("/ConsumedAmphours", round(config.capacity_ah * (1 - soc / 100), 1))
    # Idle battery: time-to-go is invalid.
    service.add("/TimeToGo", None)
    service.add("/Capacity", round(config.capacity_ah * soc / 100, 1))
    service.add("/InstalledCapacity", float(config.capacity_ah))  # a float, e.g. 280.0
    service.add("/Info/MaxChargeVoltage", round(MAX_CELL_VOLTAGE * config.cells, 3))
    service.add("/Info/MaxChargeCurrent", MAX_CHARGE_CURRENT)
    service.add("/Info/MaxDischargeCurrent", MAX_DISCHARGE_CURRENT)
    service.add("/Info/BatteryLowVoltage", round(MIN_CELL_VOLTAGE * config.cells, 3))
    service.add("/Info/ChargeMode", "Bulk")
    service.add("/System/MinCellVoltage", None)
    service.add("/System/MaxCellVoltage", None)
    service.add("/System/MinVoltageCellId", None)
    service.add("/System/MaxVoltageCellId", None)
    service.add(
        "/System/NrOfCellsPerBattery", config.cells if config.flavour == "serialbattery" else 0
    )
    voltages = initial_cell_voltages(config, seed)
    for index in range(1, config.cell_slots + 1):
        present = index <= config.cells
        service.add(cell_path("Voltages", index), voltages[index - 1] if present else None)
        service.add(cell_path("Balances", index), 0 if present else None)
    if config.flavour == "serialbattery":
        service.add("/Voltages/Sum", None)
        service.add("/Voltages/Diff", None)
        # serialbattery's lifetime counters (kWh); dbus-mqtt-battery has none.
        service.add("/History/ChargedEnergy", 0.0)
        service.add("/History/DischargedEnergy", 0.0)
    service.add("/Balancing", 0)
    service.add("/Io/AllowToCharge", 1)
    service.add("/Io/AllowToDischarge", 1)
    service.add("/Io/AllowToBalance", 1)
    for alarm in BATTERY_ALARMS:
        service.add(f"/Alarms/{alarm}", 0)
    for path, value in derive(service, config).items():
        service.items[path].value = value
    return service
