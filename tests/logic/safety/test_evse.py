"""The EVSE gate (E1-E4): claims within every limit, a pause always, plausible JSON."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from custom_components.victron_balance.logic.openevse import ClaimRequest
from custom_components.victron_balance.logic.safety.evse import (
    EvseFacts,
    current_limit,
    ev_charger_document,
    permit_claim,
)

SEEING = EvseFacts(station_online=True, venus_alive=True, user_max_a=32, station_max_a=40.0)


def test_a_pause_always_passes() -> None:
    blind = EvseFacts(station_online=False, venus_alive=False, user_max_a=6, station_max_a=0.0)
    for facts in (SEEING, blind):
        permit = permit_claim(ClaimRequest(None), facts)
        assert permit.request == ClaimRequest(None)
        assert permit.changed is None
        assert '"disabled"' in permit.payload()


def test_charging_needs_the_station_and_venus() -> None:
    for online, alive in ((False, True), (True, False)):
        facts = EvseFacts(online, alive, user_max_a=32, station_max_a=32.0)
        permit = permit_claim(ClaimRequest(16), facts)
        assert permit.request == ClaimRequest(None)
        assert permit.changed == "blind"


def test_a_current_above_a_limit_is_lowered_to_it() -> None:
    assert permit_claim(ClaimRequest(50), SEEING).request == ClaimRequest(32)  # the user's
    station = EvseFacts(True, True, user_max_a=32, station_max_a=13.7)
    permit = permit_claim(ClaimRequest(16), station)
    assert permit.request == ClaimRequest(13)  # the station's, whole amps down
    assert permit.changed == "lowered"
    assert permit_claim(ClaimRequest(16), SEEING).changed is None


def test_below_six_amps_is_a_pause_never_a_raise() -> None:
    assert permit_claim(ClaimRequest(5), SEEING).request == ClaimRequest(None)
    tiny = EvseFacts(True, True, user_max_a=32, station_max_a=3.0)
    assert permit_claim(ClaimRequest(16), tiny).changed == "bad_limit"
    broken = EvseFacts(True, True, user_max_a=32, station_max_a=math.nan)
    assert permit_claim(ClaimRequest(16), broken).request == ClaimRequest(None)
    assert current_limit(EvseFacts(True, True, 100, None)) == 80.0  # the hardware's


def test_a_current_that_is_not_whole_amps_is_a_pause() -> None:
    for odd in (16.5, True):
        permit = permit_claim(ClaimRequest(odd), SEEING)  # type: ignore[arg-type]
        assert permit.request == ClaimRequest(None)


@given(
    wish=st.one_of(st.none(), st.integers(-10, 200)),
    online=st.booleans(),
    alive=st.booleans(),
    user_max=st.integers(6, 80),
    station_max=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
)
def test_every_permit_is_within_every_limit(
    wish: int | None, online: bool, alive: bool, user_max: int, station_max: float | None
) -> None:
    facts = EvseFacts(online, alive, user_max, station_max)
    current = permit_claim(ClaimRequest(wish), facts).request.current_a
    if current is None:
        return
    assert online and alive
    assert isinstance(current, int)
    assert 6 <= current <= user_max
    assert station_max is None or current <= station_max
    assert current <= (wish or 0)


def test_the_venus_json_keeps_only_plausible_values() -> None:
    good = {
        "Ac": {"Power": 3680.0, "L1": {"Power": 3680.0}, "Energy": {"Forward": 12.5}},
        "Current": 16.0,
        "MaxCurrent": 32,
        "SetCurrent": 16,
        "Mode": 1,
        "StartStop": 1,
        "Status": 2,
    }
    document = ev_charger_document(good)
    assert document is not None
    assert document.data == good
    assert document.dropped == ()
    bad = {**good, "Current": math.inf, "SetCurrent": 40, "Ac": {**good["Ac"], "L1": {"Power": -5}}}  # type: ignore[dict-item]
    document = ev_charger_document(bad)
    assert document is not None
    assert set(document.dropped) == {"Current", "SetCurrent", "Ac.L1.Power"}
    assert "Current" not in document.data
    assert "SetCurrent" not in document.data
    assert document.data["Ac"]["Power"] == 3680.0


def test_a_venus_json_without_a_plausible_power_is_not_sent() -> None:
    assert ev_charger_document({"Ac": {"Power": math.nan}, "Status": 0}) is None
    assert ev_charger_document({"Status": 0}) is None
