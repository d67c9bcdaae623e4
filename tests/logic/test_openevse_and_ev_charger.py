"""openEVSE parsing, EVSE mode decisions and the Venus EV charger JSON (pure, no HA)."""

from __future__ import annotations

import json

import pytest

from custom_components.victron_balance.logic.ev_charger_json import (
    ChargerView,
    GuiChange,
    VenusEvMode,
    VenusEvStatus,
    WritebackDetector,
    build_json,
    station_state_known,
    venus_status,
)
from custom_components.victron_balance.logic.evse_modes import (
    EvseMode,
    EvseSettings,
    SettingsError,
    Situation,
    adopt_gui_change,
    capped_current,
    fixed_target,
    venus_mode,
    venus_set_current,
)
from custom_components.victron_balance.logic.openevse import (
    ClaimRequest,
    EvseProblem,
    EvseReadings,
    EvseStatus,
    claim_matches,
    parse_announcement,
)

ONLINE = Situation(evse_online=True, venus_alive=True, station_max_current_a=32.0)


# --- openEVSE dialect ----------------------------------------------------------------


def test_announcement_connected_and_last_will() -> None:
    connected = parse_announcement(
        "openevse/announce/1a2b",
        b'{"state":"connected","id":"c44f331a2b","name":"garage","mqtt":"openevse-1a2b/",'
        b'"http":"http://openevse-1a2b.local/"}',
    )
    assert connected.connected
    assert (connected.short_id, connected.base_topic) == ("1a2b", "openevse-1a2b")
    assert connected.http_url == "http://openevse-1a2b.local/"
    will = parse_announcement("openevse/announce/1a2b", b'{"state":"disconnected","id":"x"}')
    assert not will.connected
    assert will.base_topic is None
    odd = parse_announcement(
        "openevse/announce/1a2b", b'{"state":"connected","mqtt":"","http":"javascript:x"}'
    )
    assert odd.base_topic is None and odd.http_url is None and odd.name is None


@pytest.mark.parametrize(
    ("topic", "payload", "problem"),
    [
        ("openevse/other/1a2b", b"{}", "not an announce topic"),
        ("openevse/announce/1a2b/x", b"{}", "not an announce topic"),
        ("openevse/announce/", b"{}", "without an id"),
        ("openevse/announce/1a2b", b"\xff", "not JSON"),
        ("openevse/announce/1a2b", b"[1]", "not a JSON object"),
        ("openevse/announce/1a2b", b'{"state":"maybe"}', "neither connected"),
    ],
)
def test_bad_announcements(topic: str, payload: bytes, problem: str) -> None:
    with pytest.raises(EvseProblem, match=problem):
        parse_announcement(topic, payload)


def test_readings_units_and_derived_flags() -> None:
    readings = EvseReadings()
    for key, payload in [
        ("amp", b"16000"),
        ("voltage", b"230.5"),
        ("pilot", b"16"),
        ("max_current", b"32"),
        ("power", b"3680"),
        ("temp", b"312"),
        ("state", b"3"),
        ("status", b"active"),
        ("vehicle", b"1"),
        ("session_energy", b"1500.5"),
        ("total_energy", b"1234.567"),
        ("claim", b'{"state":"active","charge_current":16}'),
        ("override", b'{"state":"null"}'),
    ]:
        assert readings.apply(key, payload)
    assert readings.current_a == 16.0
    assert readings.temperature_c == pytest.approx(31.2)
    assert readings.session_energy_kwh == pytest.approx(1.5005)
    assert readings.total_energy_kwh == pytest.approx(1234.567)
    assert readings.evse_status is EvseStatus.CHARGING
    assert readings.charging and readings.plugged_in and not readings.in_error
    assert readings.claim == {"state": "active", "charge_current": 16}
    assert readings.override is None
    assert not readings.apply("divert_active", b"1")  # known topic we do not use
    readings.apply("state", b"8")
    assert readings.in_error and readings.evse_status is EvseStatus.STUCK_RELAY


def test_plugged_in_falls_back_to_the_state_code() -> None:
    readings = EvseReadings()
    assert readings.evse_status is None
    readings.apply("state", b"2")
    assert readings.plugged_in
    readings.apply("state", b"254")
    assert not readings.plugged_in


@pytest.mark.parametrize(
    ("key", "payload"),
    [
        ("amp", b"abc"),
        ("amp", b"inf"),
        ("amp", b"\xff"),
        ("power", b"-1"),
        ("voltage", b"9999"),
        ("pilot", b"101"),
        ("max_current", b"-2"),
        ("temp", b"nan"),
        ("state", b"3.5"),
        ("state", b"12"),
        ("status", b"on"),
        ("vehicle", b"2"),
        ("session_energy", b"-3"),
        ("total_energy", b"1e12"),
        ("claim", b"{bad"),
        ("override", b"[]"),
    ],
)
def test_bad_values_change_nothing(key: str, payload: bytes) -> None:
    readings = EvseReadings()
    with pytest.raises(EvseProblem):
        readings.apply(key, payload)
    assert readings == EvseReadings()


def test_claim_payloads_and_matching() -> None:
    charge = ClaimRequest(16)
    pause = ClaimRequest(None)
    assert charge.active and not pause.active
    assert json.loads(charge.payload()) == {
        "state": "active",
        "charge_current": 16,
        "auto_release": False,
    }
    assert json.loads(pause.payload()) == {"state": "disabled", "auto_release": False}
    assert claim_matches(charge, {"state": "active", "charge_current": 16.0})
    assert not claim_matches(charge, {"state": "active", "charge_current": "16"})
    assert not claim_matches(charge, {"state": "disabled", "charge_current": 16})
    assert not claim_matches(charge, None)
    assert claim_matches(pause, {"state": "disabled", "charge_current": 16})
    assert not claim_matches(pause, {"state": "active"})


# --- modes ------------------------------------------------------------------------------


def test_fixed_targets_and_safety_fallbacks() -> None:
    settings = EvseSettings(mode=EvseMode.FAST_32)
    target = fixed_target(settings, ONLINE)
    assert target is not None and target.claim == ClaimRequest(32)
    assert target.reason == "fast_32"
    offline = fixed_target(settings, Situation(False, True, None))
    assert offline is not None and offline.claim is None and offline.reason == "evse_offline"
    blind = fixed_target(settings, Situation(True, False, 32.0))
    assert blind is not None and blind.claim == ClaimRequest(None)
    assert blind.reason == "venus_unavailable"
    stopped = fixed_target(settings.with_changes(charging_enabled=False), ONLINE)
    assert stopped is not None and (stopped.claim, stopped.reason) == (
        ClaimRequest(None),
        "stopped",
    )
    off = fixed_target(EvseSettings(), ONLINE)
    assert off is not None and off.reason == "off"
    assert off.hand_back and off.claim is None
    # The charging switch pauses the car even in Off.
    paused = fixed_target(EvseSettings(charging_enabled=False), ONLINE)
    assert paused is not None and paused.claim == ClaimRequest(None) and not paused.hand_back
    assert fixed_target(EvseSettings(mode=EvseMode.PV_SURPLUS), ONLINE) is None
    manual = fixed_target(EvseSettings(mode=EvseMode.MANUAL, manual_current_a=9), ONLINE)
    assert manual is not None and manual.claim == ClaimRequest(9)


def test_current_caps() -> None:
    settings = EvseSettings(max_current_a=20)
    assert capped_current(32, settings, ONLINE) == 20
    assert capped_current(16.7, settings, ONLINE) == 16
    assert capped_current(16, settings, Situation(True, True, 10.0)) == 10
    # A station limit below 6 A is nonsense and ignored; never below 6 A.
    assert capped_current(3, settings, Situation(True, True, 2.0)) == 6


def test_settings_validation_and_storage() -> None:
    settings = EvseSettings(mode=EvseMode.PV_SURPLUS, pv_min_current_a=8)
    assert EvseSettings.from_dict(settings.to_dict()) == settings
    with pytest.raises(SettingsError) as err:
        settings.with_changes(pv_max_current_a=7)
    assert err.value.key == "invalid_pv_current_range"
    with pytest.raises(SettingsError) as err:
        settings.with_changes(max_current_a=81)
    assert err.value.key == "invalid_evse_current"
    with pytest.raises(SettingsError) as err:
        settings.with_changes(battery_lower_soc=80.0)
    assert err.value.key == "invalid_soc_thresholds"
    with pytest.raises(SettingsError):
        settings.with_changes(priority_soc=float("nan"))
    for bad in ([], {"mode": "warp"}, {**settings.to_dict(), "charging_enabled": "yes"}):
        with pytest.raises((KeyError, TypeError, ValueError)):
            EvseSettings.from_dict(bad)


def test_venus_mapping_of_modes() -> None:
    assert venus_mode(EvseMode.PV_SURPLUS) is VenusEvMode.AUTO
    assert venus_mode(EvseMode.FAST_16) is VenusEvMode.MANUAL
    settings = EvseSettings(mode=EvseMode.FAST_16)
    assert venus_set_current(settings, None) == 16
    assert venus_set_current(settings, ClaimRequest(12)) == 12
    assert venus_set_current(EvseSettings(manual_current_a=7), ClaimRequest(None)) == 7


def test_gui_changes_map_onto_settings() -> None:
    settings = EvseSettings(mode=EvseMode.FAST_32, max_current_a=20)
    assert not adopt_gui_change(settings, "/StartStop", 0).charging_enabled
    manual = adopt_gui_change(settings, "/SetCurrent", 40)
    assert (manual.mode, manual.manual_current_a) == (EvseMode.MANUAL, 20)
    assert adopt_gui_change(settings, "/SetCurrent", 2).manual_current_a == 6
    pv = adopt_gui_change(settings, "/Mode", 1)
    assert pv.mode is EvseMode.PV_SURPLUS
    # SetCurrent in Auto only sets the manual current for later.
    assert adopt_gui_change(pv, "/SetCurrent", 10).mode is EvseMode.PV_SURPLUS
    assert adopt_gui_change(pv, "/Mode", 0).mode is EvseMode.MANUAL
    assert adopt_gui_change(settings, "/Mode", 0) == settings
    assert adopt_gui_change(settings, "/Mode", 2) == settings  # Scheduled: stay Manual
    assert adopt_gui_change(settings, "/Other", 1) == settings


# --- Venus EV charger JSON -----------------------------------------------------------


def readings(**values: bytes) -> EvseReadings:
    result = EvseReadings()
    for key, payload in values.items():
        result.apply(key, payload)
    return result


def test_status_mapping() -> None:
    assert venus_status(readings(state=b"1", vehicle=b"0"), None) is VenusEvStatus.DISCONNECTED
    assert venus_status(readings(state=b"3", vehicle=b"1"), None) is VenusEvStatus.CHARGING
    assert venus_status(readings(state=b"2", vehicle=b"1"), None) is VenusEvStatus.CONNECTED
    sleeping = readings(state=b"254", vehicle=b"1")
    assert venus_status(sleeping, "waiting_for_sun") is VenusEvStatus.WAITING_FOR_SUN
    assert venus_status(sleeping, "low_soc_pause") is VenusEvStatus.LOW_SOC
    assert venus_status(sleeping, "priority_soc") is VenusEvStatus.LOW_SOC
    assert venus_status(sleeping, "stopped") is VenusEvStatus.WAITING_FOR_START
    assert venus_status(readings(state=b"7"), None) is VenusEvStatus.GROUND_ERROR
    assert venus_status(readings(state=b"10"), None) is VenusEvStatus.OVERHEATING


def test_json_for_the_driver() -> None:
    view = ChargerView(VenusEvMode.AUTO, True, 12, 32, "surplus")
    data = build_json(
        readings(power=b"2760", amp=b"12000", state=b"3", vehicle=b"1", total_energy=b"10.5"),
        view,
        125,
    )
    assert data == {
        "Ac": {"Power": 2760.0, "L1": {"Power": 2760.0}, "Energy": {"Forward": 10.5}},
        "Current": 12.0,
        "MaxCurrent": 32,
        "SetCurrent": 12,
        "AutoStart": 1,
        "Mode": 1,
        "StartStop": 1,
        "Status": 2,
        "ChargingTime": 125,
    }
    # Ac.Power is what makes the driver accept a JSON: never left out.
    assert build_json(EvseReadings(), view, None)["Ac"] == {"Power": 0.0, "L1": {"Power": 0.0}}


def test_the_station_state_must_be_known_before_a_json() -> None:
    """Status topics are not retained: after a restart nothing is known for a while."""
    assert not station_state_known(EvseReadings())
    assert not station_state_known(readings(vehicle=b"1"))  # plugged, doing what?
    assert station_state_known(readings(state=b"1"))  # no car: true as it is
    assert not station_state_known(readings(state=b"3"))  # charging at what power?
    assert station_state_known(readings(state=b"3", power=b"7000"))
    charging = readings(state=b"3", amp=b"16000", voltage=b"230")
    assert station_state_known(charging)  # older firmware: no power, amps x volts
    view = ChargerView(VenusEvMode.MANUAL, True, 16, 32)
    assert build_json(charging, view, None)["Ac"]["Power"] == pytest.approx(3680.0)


def test_writeback_tells_gui_writes_from_our_own_echoes() -> None:
    detector = WritebackDetector(memory_s=15.0)
    assert detector.adopt(0.0, "/SetCurrent", 10) is None  # nothing published yet
    detector.published(0.0, {"SetCurrent": 16, "StartStop": 0, "Mode": 0})
    detector.published(1.0, {"SetCurrent": 16, "StartStop": 1, "Mode": 0})
    # The old StartStop 0 may still arrive before our 1: ours, not the GUI's.
    assert detector.adopt(1.5, "/StartStop", 0) is None
    assert detector.adopt(2.0, "/StartStop", 1) is None  # our latest: confirmed
    # Now a 0 can only come from the GUI.
    assert detector.adopt(3.0, "/StartStop", 0) == GuiChange("/StartStop", 0)
    # Our JSON sent just before the GUI write reverts it for a moment: not a GUI write.
    assert detector.adopt(3.6, "/StartStop", 1) is None
    detector.published(4.0, {"StartStop": 0})
    assert detector.adopt(4.5, "/StartStop", 0) is None  # our JSON shown: confirmed
    assert detector.adopt(5.0, "/StartStop", 1) == GuiChange("/StartStop", 1)
    assert detector.adopt(4.0, "/SetCurrent", 10.0) == GuiChange("/SetCurrent", 10)
    assert detector.adopt(4.0, "/SetCurrent", 10.5) is None  # not a whole number
    assert detector.adopt(4.0, "/SetCurrent", None) is None
    assert detector.adopt(4.0, "/Mode", True) == GuiChange("/Mode", 1)
    assert detector.adopt(4.0, "/Unknown", 1) is None
    # Old values age out of the in-flight memory.
    detector.published(30.0, {"SetCurrent": 20})
    assert detector.adopt(31.0, "/SetCurrent", 16) == GuiChange("/SetCurrent", 16)
    detector.published(32.0, {"SetCurrent": "x"})  # not an int: ignored


def test_a_gui_value_shown_when_we_publish_does_not_confirm_it() -> None:
    """The race seen under load: JSON A (16) is on its way, the GUI sets 10 (adopted),
    we publish 10 while Venus still shows the GUI's 10, then A's 16 arrives."""
    detector = WritebackDetector(memory_s=15.0)
    detector.published(0.0, {"SetCurrent": 16})
    assert detector.adopt(0.5, "/SetCurrent", 10) == GuiChange("/SetCurrent", 10)
    detector.published(1.0, {"SetCurrent": 10})
    assert detector.adopt(1.5, "/SetCurrent", 16) is None  # JSON A's revert: ours
    assert detector.adopt(2.0, "/SetCurrent", 10) is None  # our JSON: confirmed
    assert detector.adopt(3.0, "/SetCurrent", 16) == GuiChange("/SetCurrent", 16)
