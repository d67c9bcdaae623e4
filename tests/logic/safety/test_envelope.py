"""The virtual BMS as a filter that only tightens the real BMS (I1, I3)."""

from __future__ import annotations

import json

import pytest

from custom_components.victron_balance.logic.safety.envelope import (
    EnvelopeConfig,
    VirtualBmsEnvelope,
    Wish,
    filter_limits,
)
from custom_components.victron_balance.logic.safety.real_bms import BmsReading
from custom_components.victron_balance.logic.virtual_bms import (
    DRIVER_ALARMS,
    WireLimits,
    carried_alarms,
    is_complete,
)

CONFIG = EnvelopeConfig(
    cells=4, cap_cell_v=3.55, safe_cvl_cell_v=3.45, safe_ccl_a=70.0, safe_dcl_a=100.0
)


def reading(**overrides: object) -> BmsReading:
    items: dict[str, object] = {
        "/Info/MaxChargeVoltage": 13.8,
        "/Info/MaxChargeCurrent": 50.0,
        "/Info/MaxDischargeCurrent": 60.0,
        "/Io/AllowToCharge": True,
        "/Io/AllowToDischarge": True,
        "/Dc/0/Temperature": 20.0,
        "/Dc/0/Voltage": 13.2,
        "/Dc/0/Current": 5.0,
        "/Soc": 80.0,
        "/InstalledCapacity": 100.0,
        "/Alarms/HighVoltage": 0,
        **{f"/Voltages/Cell{n}": 3.3 for n in range(1, 5)},
        **{f"/Balances/Cell{n}": n == 2 for n in range(1, 5)},
    }
    for path, value in overrides.items():
        if value is None:
            items.pop(path, None)
        else:
            items[path] = value
    return BmsReading.of(items, 4)


def test_the_wish_is_held_to_the_real_bms() -> None:
    limits = filter_limits(Wish(cvl_v=14.2, ccl_a=70.0, dcl_a=200.0), reading(), CONFIG)
    wire = limits.wire
    assert (wire.max_charge_current, wire.max_discharge_current) == (50.0, 60.0)
    assert wire.max_charge_voltage == 13.8  # not elevated: the real BMS's CVL holds
    assert wire.allow_to_charge and wire.allow_to_discharge
    assert limits.reasons == ()


def test_only_an_active_run_may_raise_the_cvl_and_never_above_the_cap() -> None:
    run = filter_limits(Wish(cvl_v=14.2, ccl_a=70.0, elevate_cvl=True), reading(), CONFIG)
    assert run.wire.max_charge_voltage == 14.2
    too_high = filter_limits(Wish(cvl_v=15.0, elevate_cvl=True), reading(), CONFIG)
    assert too_high.wire.max_charge_voltage == pytest.approx(4 * 3.55)


def test_missing_real_limits_use_the_safe_values() -> None:
    bare = reading(
        **{
            "/Info/MaxChargeVoltage": None,
            "/Info/MaxChargeCurrent": None,
            "/Info/MaxDischargeCurrent": None,
        }
    )
    wire = filter_limits(Wish(), bare, CONFIG).wire
    assert wire.max_charge_voltage == pytest.approx(4 * 3.45)
    assert wire.max_charge_current == 70.0
    assert wire.max_discharge_current == 100.0


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"/Io/AllowToCharge": False}, "bms_blocks_charge"),
        ({"/Alarms/HighVoltage": 2}, "alarm:HighVoltage"),
        ({"/Alarms/BmsCable": 2}, "alarm:BmsCable"),
        ({"/Dc/0/Temperature": -5.0}, "charge_temperature"),
        ({"/Dc/0/Temperature": 60.0}, "charge_temperature"),
    ],
)
def test_no_charge_where_the_real_bms_or_the_pack_forbids_it(
    overrides: dict[str, object], reason: str
) -> None:
    limits = filter_limits(Wish(ccl_a=70.0), reading(**overrides), CONFIG)
    assert not limits.wire.allow_to_charge
    assert limits.wire.max_charge_current == 0.0
    assert reason in limits.reasons


def test_warnings_and_low_side_alarms_do_not_block_charging() -> None:
    for overrides in ({"/Alarms/HighVoltage": 1}, {"/Alarms/LowCellVoltage": 2}):
        assert filter_limits(Wish(), reading(**overrides), CONFIG).wire.allow_to_charge


def test_discharge_only_where_the_real_bms_allows_it() -> None:
    wire = filter_limits(Wish(), reading(**{"/Io/AllowToDischarge": False}), CONFIG).wire
    assert not wire.allow_to_discharge
    assert wire.max_discharge_current == 0.0


def test_rounding_never_exceeds_the_real_limit() -> None:
    wire = filter_limits(Wish(), reading(**{"/Info/MaxChargeCurrent": 0.96}), CONFIG).wire
    assert wire.max_charge_current == 0.9


def test_a_document_carries_the_real_pack_and_the_filtered_limits() -> None:
    envelope = VirtualBmsEnvelope()
    document = envelope.document(Wish(ccl_a=30.0), reading(), CONFIG)
    assert document is not None
    assert not document.stale
    payload = json.loads(json.dumps(document.payload))  # plain JSON
    assert payload["Dc"] == {"Power": 66.0, "Voltage": 13.2, "Current": 5.0, "Temperature": 20.0}
    assert payload["Soc"] == 80.0
    assert payload["Info"] == {
        "MaxChargeVoltage": 13.8,
        "MaxChargeCurrent": 30.0,
        "MaxDischargeCurrent": 60.0,
    }
    assert payload["Io"] == {"AllowToCharge": 1, "AllowToDischarge": 1}
    assert payload["Voltages"] == {f"Cell{n}": 3.3 for n in range(1, 5)}
    assert payload["Balances"] == {"Cell1": 0, "Cell2": 1, "Cell3": 0, "Cell4": 0}
    assert payload["System"] == {"NrOfCellsPerBattery": 4}
    assert set(payload["Alarms"]) == set(DRIVER_ALARMS)  # every one, to clear old ones
    assert is_complete(payload)


def test_stale_readings_still_produce_a_safe_document() -> None:
    """I3: blind, but not silent: the last complete readings, no charge."""
    envelope = VirtualBmsEnvelope()
    assert envelope.document(Wish(), None, CONFIG) is None  # nothing ever seen
    envelope.document(Wish(ccl_a=30.0), reading(), CONFIG)
    for blind in (None, reading(**{"/Soc": None}), reading(**{"/Voltages/Cell3": None})):
        document = envelope.document(Wish(cvl_v=14.2, ccl_a=30.0, elevate_cvl=True), blind, CONFIG)
        assert document is not None
        assert document.stale
        assert not document.limits.wire.allow_to_charge
        assert document.limits.wire.max_charge_current == 0.0
        assert document.limits.wire.max_charge_voltage <= 13.8
        assert "stale_readings" in document.limits.reasons
        assert document.payload["Soc"] == 80.0  # the last complete reading
    assert envelope.diagnostics()["stale_documents"] == 3


def test_just_restarted_the_readings_there_are_are_used() -> None:
    document = VirtualBmsEnvelope().document(Wish(), reading(**{"/Voltages/Cell3": None}), CONFIG)
    assert document is not None
    assert document.stale
    assert not document.limits.wire.allow_to_charge


def test_alarms_the_driver_lacks_are_carried_as_the_nearest_one() -> None:
    carried = carried_alarms({"HighCellVoltage": 2, "HighVoltage": 1, "InternalFailure": 2})
    assert carried == {"HighVoltage": 2}


def test_reading_round_trip_and_garbage() -> None:
    original = reading()
    assert BmsReading.from_dict(original.to_dict()) == original
    with pytest.raises(ValueError, match="unreadable"):
        BmsReading.from_dict({"cells": "no"})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cells": 0},
        {"cap_cell_v": float("nan")},
        {"safe_ccl_a": -1.0},
        {"safe_cvl_cell_v": 3.6},  # above the cap
    ],
)
def test_config_is_checked(kwargs: dict[str, float]) -> None:
    values = {
        "cells": 4,
        "cap_cell_v": 3.55,
        "safe_cvl_cell_v": 3.45,
        "safe_ccl_a": 70.0,
        "safe_dcl_a": 100.0,
    }
    with pytest.raises(ValueError, match=r"cells|finite|exceed"):
        EnvelopeConfig(**{**values, **kwargs})  # type: ignore[arg-type]


def test_wire_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="finite"):
        WireLimits(float("nan"), 1.0, 1.0, True, True)
