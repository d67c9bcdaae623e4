"""The slice of dbus-systemcalc-py the integration sees on system/0.

Battery selection, the Dc/Battery mirror and a minimal DVCC (behaviours 21, 22,
24, 25 of venus-observed.md): with ``Settings/Services/Bol`` bit 0 set and an
active BMS that publishes ``Info/MaxChargeVoltage``, the charge voltage is
min(BMS CVL, user MaxChargeVoltage if > 0); otherwise it is null. The user
MaxChargeCurrent never appears under system/0 (behaviour 23).
"""

from __future__ import annotations

from simulator.dvcc import BmsLimits, DvccSettings
from simulator.items import ItemStore, JsonValue, Service, dump_json
from simulator.services import BATTERY_MIRROR, NO_BATTERY_MONITOR

AUTO_BMS = -1
NO_BMS = -255


def _number(value: JsonValue) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _get(service: Service | None, path: str) -> JsonValue:
    if service is None:
        return None
    item = service.items.get(path)
    return None if item is None else item.value


def is_bms(battery: Service) -> bool:
    """systemcalc treats a battery as a BMS when it publishes Info/MaxChargeVoltage."""
    return _number(_get(battery, "/Info/MaxChargeVoltage")) is not None


def _setting(store: ItemStore, path: str) -> float | None:
    item = store.item("settings", 0, path)
    return None if item is None else _number(item.value)


def select_bms(store: ItemStore, batteries: list[Service]) -> Service | None:
    """Honour Settings/SystemSetup/BmsInstance: -1 auto, -255 none, else that instance."""
    wanted = _setting(store, "/Settings/SystemSetup/BmsInstance")
    wanted_instance = AUTO_BMS if wanted is None else int(wanted)
    if wanted_instance == NO_BMS:
        return None
    candidates = [b for b in batteries if is_bms(b)]
    if wanted_instance == AUTO_BMS:
        return candidates[0] if candidates else None
    return next((b for b in candidates if b.instance == wanted_instance), None)


def derive_system(store: ItemStore) -> dict[str, JsonValue]:
    """The system/0 values implied by the batteries and settings right now."""
    batteries = store.services_of_type("battery")
    # Auto-selected battery monitor: the lowest instance.
    active = batteries[0] if batteries else None
    bms = select_bms(store, batteries)
    updates: dict[str, JsonValue] = {
        system_path: _get(active, battery_path)
        for battery_path, system_path in BATTERY_MIRROR.items()
    }
    updates["/ActiveBatteryService"] = (
        None if active is None else f"com.victronenergy.battery/{active.instance}"
    )
    updates["/AutoSelectedBatteryService"] = (
        NO_BATTERY_MONITOR if active is None else _get(active, "/ProductName")
    )
    updates["/ActiveBmsService"] = None if bms is None else bms.name
    updates["/ActiveBmsInstance"] = None if bms is None else bms.instance
    # Two services that publish a charge voltage limit: raised whichever is chosen (33).
    updates["/Dvcc/Alarms/MultipleBatteries"] = int(sum(1 for b in batteries if is_bms(b)) > 1)
    # A JSON *string* holding JSON (type drift, behaviour 11).
    updates["/AvailableBatteries"] = dump_json(
        {
            f"com.victronenergy.battery/{b.instance}": {
                "channel": None,
                "name": _get(b, "/ProductName"),
                "type": "battery",
            }
            for b in batteries
        }
    )
    # ... while these are real arrays.
    updates["/AvailableBmsServices"] = [
        {"instance": b.instance, "name": _get(b, "/ProductName")} for b in batteries if is_bms(b)
    ]
    updates["/Batteries"] = [
        {
            "active_battery_service": b is active,
            "current": _get(b, "/Dc/0/Current"),
            "id": b.name,
            "instance": b.instance,
            "name": _get(b, "/ProductName"),
            "power": _get(b, "/Dc/0/Power"),
            "soc": _get(b, "/Soc"),
            "temperature": _get(b, "/Dc/0/Temperature"),
            "voltage": _get(b, "/Dc/0/Voltage"),
        }
        for b in batteries
    ]
    bol = _setting(store, "/Settings/Services/Bol")
    dvcc = bol is not None and int(bol) & 1 == 1
    # Type drift: false while off, 1 once on.
    updates["/Control/Dvcc"] = 1 if dvcc else False
    charge_voltage: float | None = None
    bms_cvl = _number(_get(bms, "/Info/MaxChargeVoltage"))
    if dvcc and bms_cvl is not None:
        # The user limit can only lower the BMS CVL, never raise it.
        user_cvl = _setting(store, "/Settings/SystemSetup/MaxChargeVoltage")
        charge_voltage = bms_cvl if not user_cvl or user_cvl <= 0 else min(bms_cvl, user_cvl)
    updates["/Dc/Battery/ChargeVoltage"] = charge_voltage
    updates["/Control/EffectiveChargeVoltage"] = charge_voltage
    # A boolean flag, not amps: true while a BMS current limit is being applied.
    bms_ccl = _number(_get(bms, "/Info/MaxChargeCurrent"))
    updates["/Control/MaxChargeCurrent"] = True if dvcc and bms_ccl is not None else 0
    # With a charger to act on, DVCC reports that it drives them (else 0, behaviour 24).
    solar = bool(store.services_of_type("solarcharger"))
    chargers = solar or bool(store.services_of_type("vebus"))
    acting = dvcc and bms is not None and chargers
    updates["/Control/SolarChargeVoltage"] = 1 if acting and solar else 0
    updates["/Control/SolarChargeCurrent"] = 1 if acting and solar else 0
    updates["/Control/BmsParameters"] = 1 if acting else 0
    return updates


def dvcc_settings(store: ItemStore) -> DvccSettings:
    """The DVCC settings as localsettings holds them now."""
    bol = _setting(store, "/Settings/Services/Bol")
    ccl = _setting(store, "/Settings/SystemSetup/MaxChargeCurrent")
    cvl = _setting(store, "/Settings/SystemSetup/MaxChargeVoltage")
    return DvccSettings(
        bol=0 if bol is None else int(bol),
        max_charge_current=-1 if ccl is None else int(ccl),
        max_charge_voltage=0.0 if cvl is None else cvl,
    )


def bms_limits(battery: Service) -> BmsLimits:
    """What DVCC reads from a BMS battery service."""
    allow = _number(_get(battery, "/Io/AllowToCharge"))
    return BmsLimits(
        cvl=_number(_get(battery, "/Info/MaxChargeVoltage")),
        ccl=_number(_get(battery, "/Info/MaxChargeCurrent")),
        allow_to_charge=allow is None or allow != 0,
    )


def active_bms(store: ItemStore) -> Service | None:
    """The battery service DVCC follows."""
    return select_bms(store, store.services_of_type("battery"))
