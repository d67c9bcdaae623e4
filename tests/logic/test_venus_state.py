"""Folding Venus messages into state, and the battery view."""

from __future__ import annotations

import json
from typing import Any

from custom_components.victron_balance.logic.venus_state import (
    MAX_IGNORED_TOPICS,
    MAX_ROUTES,
    BatteryView,
    VenusState,
    battery_instance_from_service,
    dvcc_enabled,
    parse_cell_id,
    phase_total,
    select_battery_instance,
)
from custom_components.victron_balance.logic.venus_topics import SYSTEM, ServiceKey
from custom_components.victron_balance.logic.venus_values import ANY_CELL_BALANCE, ANY_CELL_VOLTAGE

PORTAL = "p1"
BATTERY = ServiceKey("battery", 512)


def value(raw: Any) -> bytes:
    return json.dumps({"value": raw}).encode()


def feed(state: VenusState, path: str, raw: Any, service: str = "battery/512") -> Any:
    return state.apply(f"N/{PORTAL}/{service}{path}", value(raw))


def test_values_are_stored_and_changes_reported() -> None:
    state = VenusState(PORTAL)
    assert feed(state, "/Soc", 55).changed == BATTERY
    assert state.value(BATTERY, "/Soc") == 55.0
    assert feed(state, "/Soc", 55.0).changed is None  # same value: nothing to tell
    assert state.has(BATTERY)


def test_null_is_unknown_but_null_cell_is_absent() -> None:
    state = VenusState(PORTAL)
    feed(state, "/Soc", 50)
    feed(state, "/Soc", None)
    assert "/Soc" in state.services[BATTERY]
    assert state.value(BATTERY, "/Soc") is None
    feed(state, "/Voltages/Cell17", 3.3)
    feed(state, "/Voltages/Cell17", None)  # dbus-mqtt-battery: no such cell
    assert not BatteryView(state, 512).cell_present(17)


def test_bad_values_become_unknown_with_a_problem() -> None:
    state = VenusState(PORTAL)
    feed(state, "/Voltages/Cell1", 3.3)
    update = feed(state, "/Voltages/Cell1", 7.2)
    assert update.problem is not None and "outside" in update.problem
    assert BatteryView(state, 512).cell_present(1)
    assert BatteryView(state, 512).cell_voltage(1) is None
    assert state.rejected == 1


def test_malformed_messages_are_rejected_without_state_change() -> None:
    state = VenusState(PORTAL)
    assert state.apply(f"N/{PORTAL}/battery/512/Soc", b"garbage").problem
    assert state.apply(f"N/{PORTAL}/battery/xx/Soc", value(1)).problem
    assert state.apply("N/other/battery/512/Soc", value(1)).problem
    assert state.apply(f"N/{PORTAL}/battery/512/Voltages/Cell33", value(3.3)).problem
    assert state.apply(f"N/{PORTAL}/heartbeat", b"oops").problem
    assert state.services == {}
    assert state.rejected == 5


def test_unknown_paths_and_services_are_skipped_silently() -> None:
    state = VenusState(PORTAL)
    update = state.apply(f"N/{PORTAL}/vebus/276/Dc/0/Voltage", value(52.0))
    assert update.problem is None and update.changed is None
    assert state.apply(f"N/{PORTAL}/battery/512/Nope", value(1)).changed is None
    assert state.apply(f"N/{PORTAL}/unknown_portal_topic", value(1)).changed is None
    assert state.services == {}


def test_vanishing_device() -> None:
    state = VenusState(PORTAL)
    feed(state, "/Soc", 50)
    feed(state, "/Dc/0/Voltage", 53.0)
    assert state.apply(f"N/{PORTAL}/battery/512/Soc", b"").changed == BATTERY
    assert state.apply(f"N/{PORTAL}/battery/512/Soc", b"").changed is None
    assert state.apply(f"N/{PORTAL}/battery/512/Dc/0/Voltage", b"").vanished == BATTERY
    assert not state.has(BATTERY)


def test_portal_messages() -> None:
    state = VenusState(PORTAL)
    assert state.apply(f"N/{PORTAL}/heartbeat", value(1)).heartbeat
    done = state.apply(
        f"N/{PORTAL}/full_publish_completed",
        b'{"full-publish-completed-echo":"t1","value":1}',
    )
    assert done.full_publish_completed and done.echo_token == "t1"
    assert state.apply(f"N/{PORTAL}/keepalive", b"1").plugin_started


def test_settings_limits_are_kept_until_the_service_vanishes() -> None:
    state = VenusState(PORTAL)
    topic = f"N/{PORTAL}/settings/0/Settings/SystemSetup/MaxChargeCurrent"
    state.apply(topic, b'{"max":10000,"min":-1,"value":50}')
    key = ServiceKey("settings", 0)
    assert state.limits[(key, "/Settings/SystemSetup/MaxChargeCurrent")] == (-1, 10000)
    state.apply(topic, b"")
    assert state.limits == {}


def test_battery_view_statistics() -> None:
    state = VenusState(PORTAL)
    for number, voltage in enumerate([3.31, 3.35, 3.29, 3.33], start=1):
        feed(state, f"/Voltages/Cell{number}", voltage)
    feed(state, "/Balances/Cell2", 1)
    battery = BatteryView(state, 512)
    assert list(battery.cell_voltages()) == [1, 2, 3, 4]
    low, high = battery.min_cell(), battery.max_cell()
    assert low is not None and (low.number, low.voltage) == (3, 3.29)
    assert high is not None and (high.number, high.voltage) == (2, 3.35)
    assert battery.cell_delta_mv() == 60.0
    assert battery.cell_balancing(2) is True
    assert battery.cell_balancing(1) is None


def test_battery_view_falls_back_to_bms_summary() -> None:
    state = VenusState(PORTAL)
    feed(state, "/System/MinCellVoltage", 3.2)
    feed(state, "/System/MinVoltageCellId", "C4")
    feed(state, "/System/MaxCellVoltage", 3.4)
    battery = BatteryView(state, 512)
    low, high = battery.min_cell(), battery.max_cell()
    assert low is not None and (low.number, low.voltage) == (4, 3.2)
    assert high is not None and high.number is None
    assert battery.cell_delta_mv() == 200.0
    assert BatteryView(VenusState(PORTAL), 512).cell_delta_mv() is None


def test_cell_ids() -> None:
    assert [parse_cell_id(raw) for raw in ("C3", "12", 5, None, "x", True)] == [
        3,
        12,
        5,
        None,
        None,
        None,
    ]


def test_battery_selection() -> None:
    state = VenusState(PORTAL)
    assert select_battery_instance(state, None) is None
    feed(state, "/Soc", 50, service="battery/7")
    feed(state, "/Soc", 50, service="battery/3")
    assert select_battery_instance(state, None) == 3  # first present
    feed(state, "/ActiveBatteryService", "com.victronenergy.battery/7", service="system/0")
    assert select_battery_instance(state, None) == 7  # the system's active one
    assert select_battery_instance(state, 3) == 3  # the user's choice wins
    assert battery_instance_from_service("com.victronenergy.vebus/276") is None
    assert battery_instance_from_service(None) is None


def test_dvcc_and_phase_totals() -> None:
    state = VenusState(PORTAL)
    assert dvcc_enabled(state) is None
    feed(state, "/Control/Dvcc", False, service="system/0")
    assert dvcc_enabled(state) is False
    feed(state, "/Settings/Services/Bol", 1, service="settings/0")
    assert dvcc_enabled(state) is True
    assert phase_total(state, "/Ac/Grid") is None
    feed(state, "/Ac/Grid/L1/Power", 100, service="system/0")
    feed(state, "/Ac/Grid/L3/Power", -40.5, service="system/0")
    assert phase_total(state, "/Ac/Grid") == 59.5
    assert state.value(SYSTEM, "/Ac/Grid/L2/Power") is None


def test_alarm_levels() -> None:
    state = VenusState(PORTAL)
    feed(state, "/Alarms/CellImbalance", 1)  # a warning
    battery = BatteryView(state, 512)
    assert not battery.alarm_active()
    assert battery.alarm_active(min_level=1)
    feed(state, "/Alarms/HighTemperature", 2)  # an alarm
    assert BatteryView(state, 512).alarm_active()


def test_paths_not_used_are_counted_not_stored_and_routes_are_bounded() -> None:
    state = VenusState(PORTAL)
    for number in range(50):
        state.apply(f"N/{PORTAL}/settings/0/Settings/Unused/{number}", value(number))
    assert state.ignored == 50
    assert state.services == {}
    assert state._routes == {}  # nothing is kept for a path the integration ignores
    # A second full publish: the same topics are known as ignored, counted again.
    for number in range(50):
        state.apply(f"N/{PORTAL}/settings/0/Settings/Unused/{number}", value(number))
    assert state.ignored == 100
    assert state.services == {}
    for number in range(MAX_IGNORED_TOPICS + 10):
        state.apply(f"N/{PORTAL}/settings/0/Settings/Other/{number}", value(number))
    assert len(state._ignored_topics) == MAX_IGNORED_TOPICS  # the names are bounded too
    assert state.ignored == 100 + MAX_IGNORED_TOPICS + 10
    for instance in range(MAX_ROUTES + 10):
        state.apply(f"N/{PORTAL}/battery/{instance}/Soc", value(50))
    assert len(state._routes) == MAX_ROUTES  # memory stays bounded
    assert state.value(ServiceKey("battery", MAX_ROUTES + 5), "/Soc") == 50.0  # still stored


def test_an_update_names_the_path_and_the_cell_group() -> None:
    state = VenusState(PORTAL)
    update = feed(state, "/Voltages/Cell3", 3.3)
    assert (update.changed, update.path, update.group) == (
        BATTERY,
        "/Voltages/Cell3",
        ANY_CELL_VOLTAGE,
    )
    assert update.structure  # a new path
    update = feed(state, "/Voltages/Cell3", 3.31)
    assert not update.structure and update.path == "/Voltages/Cell3"
    assert feed(state, "/Balances/Cell3", 1).group == ANY_CELL_BALANCE
    assert feed(state, "/Soc", 50).group is None
    vanished = state.apply(f"N/{PORTAL}/battery/512/Voltages/Cell3", b"")
    assert (vanished.path, vanished.group, vanished.structure) == (
        "/Voltages/Cell3",
        ANY_CELL_VOLTAGE,
        True,
    )
