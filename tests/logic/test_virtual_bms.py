"""The virtual BMS JSON and the driver's detection."""

from __future__ import annotations

import json
from typing import Any

import pytest

from custom_components.victron_balance.logic.venus_state import (
    BatteryView,
    VenusState,
    select_battery_instance,
)
from custom_components.victron_balance.logic.virtual_bms import (
    VirtualLimits,
    build_battery_json,
    is_complete,
    virtual_bms_status,
)

PORTAL = "p"


def feed(state: VenusState, service: str, path: str, value: Any) -> None:
    state.apply(f"N/{PORTAL}/{service}{path}", json.dumps({"value": value}).encode())


def real_battery() -> VenusState:
    state = VenusState(PORTAL)
    for path, value in {
        "/Dc/0/Voltage": 53.6,
        "/Dc/0/Current": 10.0,
        "/Dc/0/Temperature": 21.0,
        "/Soc": 88.0,
        "/InstalledCapacity": 280.0,
        "/Alarms/HighVoltage": 0,
        "/Voltages/Cell1": 3.35,
        "/Voltages/Cell2": 3.36,
        "/Balances/Cell2": 1,
    }.items():
        feed(state, "battery/512", path, value)
    return state


LIMITS = VirtualLimits(56.8, 12.5, 100.0, allow_to_charge=True)


def test_json_carries_the_real_pack_and_our_limits() -> None:
    document = build_battery_json(BatteryView(real_battery(), 512), LIMITS)
    assert document["Dc"] == {"Power": 536.0, "Voltage": 53.6, "Current": 10.0, "Temperature": 21.0}
    assert document["Soc"] == 88.0
    assert document["Info"] == {
        "MaxChargeVoltage": 56.8,
        "MaxChargeCurrent": 12.5,
        "MaxDischargeCurrent": 100.0,
    }
    assert document["Io"] == {"AllowToCharge": 1, "AllowToDischarge": 1}
    assert document["Voltages"] == {"Cell1": 3.35, "Cell2": 3.36}
    assert document["Balances"] == {"Cell1": 0, "Cell2": 1}
    assert document["Alarms"] == {"HighVoltage": 0}
    assert is_complete(document)
    json.dumps(document)  # plain JSON types only


def test_incomplete_pack_data_is_detected() -> None:
    state = VenusState(PORTAL)
    feed(state, "battery/512", "/Dc/0/Voltage", 53.0)
    assert not is_complete(build_battery_json(BatteryView(state, 512), LIMITS))


def test_charge_can_be_refused() -> None:
    blocked = VirtualLimits(52.0, 0.0, 100.0, allow_to_charge=False)
    document = build_battery_json(BatteryView(real_battery(), 512), blocked)
    assert document["Io"]["AllowToCharge"] == 0


@pytest.mark.parametrize("bad", [float("nan"), -1.0, float("inf")])
def test_limits_must_be_sane(bad: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        VirtualLimits(bad, 10.0, 10.0, allow_to_charge=True)


def test_driver_detection() -> None:
    state = real_battery()
    assert virtual_bms_status(state, 100).present is False
    feed(state, "battery/100", "/ProductId", 65535)
    assert virtual_bms_status(state, 100).present
    assert not virtual_bms_status(state, 100).active
    feed(state, "system/0", "/ActiveBmsService", "com.victronenergy.battery.mqtt_battery_100")
    assert virtual_bms_status(state, 100).active


def test_own_virtual_bms_is_never_followed() -> None:
    state = real_battery()
    feed(state, "battery/100", "/ProductId", 65535)
    feed(state, "system/0", "/ActiveBatteryService", "com.victronenergy.battery/100")
    assert select_battery_instance(state, None) == 100
    assert select_battery_instance(state, None, exclude=frozenset({100})) == 512
