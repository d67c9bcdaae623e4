"""One scan: settings, the run condition, strategies and the voltage cap."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from custom_components.victron_balance.logic.balancer.amp_hours import AmpHourTracker, PackMode
from custom_components.victron_balance.logic.balancer.contract import BalancerInfo
from custom_components.victron_balance.logic.balancer.lee_hart import (
    LEAD_ACID_12V,
    LIFEPO4_CELL,
    Averaging,
    plan,
)
from custom_components.victron_balance.logic.balancer.planner import (
    MIN_MINUTES,
    BalancerSettings,
    DriveRefusal,
    ScanOutcome,
    Strategy,
    at_charge_cap,
    cap_steps,
    charge_cap_v,
    charge_limit_s,
    drive_refusal,
    new_tracker,
    scan,
    sequencer_config,
)
from custom_components.victron_balance.logic.balancer.sequencer import (
    ChargeStep,
    SequencerState,
)

SEED = [12.6, 12.4, 12.7, 12.5]  # seed 004: 12 V modules


def test_defaults_are_the_presets() -> None:
    cell = BalancerSettings.default("cell")
    assert (cell.tbase, cell.floor_voltage, cell.max_minutes) == (1000.0, 3.0, 60.0)
    assert cell.parameters.run_above_voltage == LIFEPO4_CELL.run_above_voltage
    module = BalancerSettings.default("module")
    assert module.parameters == LEAD_ACID_12V
    assert module.strategy is Strategy.LEE_HART


def test_values_are_checked_against_the_kind() -> None:
    cell = BalancerSettings.default("cell")
    assert cell.with_value("tbase", 300).tbase == 300.0
    assert cell.with_value("floor_voltage", 2.8).floor_voltage == 2.8
    assert cell.with_value("max_minutes", 5).max_minutes == 5.0
    with pytest.raises(ValueError, match="outside"):
        cell.with_value("floor_voltage", 10.0)  # a module's floor, not a cell's
    with pytest.raises(ValueError, match="number"):
        cell.with_value("tbase", "a lot")
    with pytest.raises(ValueError, match="outside"):
        cell.with_value("tbase", float("nan"))
    with pytest.raises(ValueError, match="unknown setting"):
        cell.with_value("kind", 1)
    assert (
        BalancerSettings.default("module").with_value("floor_voltage", 10.5).floor_voltage == 10.5
    )
    with pytest.raises(ValueError, match="unknown kind"):
        BalancerSettings.default("pack")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown kind"):
        replace(cell, kind="pack")
    with pytest.raises(ValueError, match="outside"):
        replace(cell, max_minutes=0)


def test_stored_settings_round_trip_and_bad_values_fall_back() -> None:
    settings = replace(BalancerSettings.default("cell"), strategy=Strategy.TRUE_MEAN, tbase=250.0)
    assert BalancerSettings.from_dict("cell", settings.to_dict()) == settings
    restored = BalancerSettings.from_dict(
        "cell", {"strategy": "magic", "tbase": -1, "floor_voltage": 2.9, "max_minutes": None}
    )
    assert restored.strategy is Strategy.LEE_HART
    assert restored.tbase == 1000.0
    assert restored.floor_voltage == 2.9
    assert restored.max_minutes == 60.0


def test_scan_reproduces_the_seed_and_skips_short_charges() -> None:
    settings = BalancerSettings.default("module")
    result = scan(SEED, settings, pack_current=0.0, balancer_amps=1.0)
    assert result.outcome is ScanOutcome.PLANNED
    assert result.plan == plan(SEED, LEAD_ACID_12V)
    assert [step.relay for step in result.steps] == [2, 4]
    assert result.steps[0].seconds == pytest.approx(result.plan.minutes[1] * 60)
    assert result.mode is PackMode.IDLE
    # The running average carries over from the previous scan.
    carried = scan(SEED, settings, pack_current=None, balancer_amps=1.0, previous_average=12.0)
    assert carried.plan == plan(SEED, LEAD_ACID_12V, initial_average=12.0)


def test_true_mean_ignores_the_previous_average() -> None:
    settings = replace(BalancerSettings.default("module"), strategy=Strategy.TRUE_MEAN)
    result = scan(SEED, settings, pack_current=0.0, balancer_amps=1.0, previous_average=11.0)
    assert result.plan == plan(SEED, LEAD_ACID_12V, averaging=Averaging.TRUE_MEAN)
    assert result.strategy is Strategy.TRUE_MEAN


def test_run_condition_and_balanced() -> None:
    settings = BalancerSettings.default("module")
    low = [12.2, 12.0, 12.3, 12.1]  # below 12.5 V: Lee does not run the loop
    resting = scan(low, settings, pack_current=0.0, balancer_amps=1.0)
    assert resting.outcome is ScanOutcome.NOT_RUNNING
    assert resting.plan is None
    assert resting.steps == []
    charging = scan(low, settings, pack_current=20.0, balancer_amps=1.0)
    assert charging.outcome is ScanOutcome.PLANNED  # charging power is available
    assert charging.mode is PackMode.CHARGING
    even = [12.6, 12.6, 12.6, 12.601]
    assert scan(even, settings, pack_current=0.0, balancer_amps=1.0).outcome is (
        ScanOutcome.BALANCED
    )
    assert MIN_MINUTES == 0.5


def test_the_voltage_cap_never_charges_a_full_cell() -> None:
    settings = BalancerSettings.default("module")
    result = scan(SEED, settings, pack_current=0.0, balancer_amps=1.0, max_cell_voltage=12.45)
    assert [step.relay for step in result.steps] == [2]  # cell 4 at 12.5 V is at the cap
    none = scan(SEED, settings, pack_current=0.0, balancer_amps=1.0, max_cell_voltage=12.0)
    assert none.outcome is ScanOutcome.BALANCED


def test_amp_hours_by_pack_mode() -> None:
    settings = replace(BalancerSettings.default("cell"), strategy=Strategy.AMP_HOURS)
    volts = [3.45, 3.42, 3.47, 3.44]
    tracker = AmpHourTracker([100.0] * 4, [90.0, 88.0, 91.0, 90.0])
    discharging = scan(volts, settings, pack_current=-30.0, balancer_amps=2.0, tracker=tracker)
    assert discharging.strategy is Strategy.AMP_HOURS
    assert discharging.mode is PackMode.DISCHARGING
    assert [step.relay for step in discharging.steps] == [1, 2, 4]
    assert discharging.plan is not None
    assert discharging.plan.minutes[1] == 60.0  # 3 Ah at 2 A = 90 min, capped
    charging = scan(volts, settings, pack_current=30.0, balancer_amps=2.0, tracker=tracker)
    assert charging.mode is PackMode.CHARGING
    assert charging.plan is not None
    assert charging.plan.minutes[2] == 0.0
    # Idle (equal voltage) and no tracker (no capacity known): the voltage plan.
    idle = scan(volts, settings, pack_current=0.0, balancer_amps=2.0, tracker=tracker)
    assert idle.strategy is Strategy.LEE_HART
    assert idle.plan == plan(volts, settings.parameters)
    untracked = scan(volts, settings, pack_current=-30.0, balancer_amps=2.0)
    assert untracked.strategy is Strategy.LEE_HART


def test_new_tracker_from_voltages() -> None:
    tracker = new_tracker(280.0, [3.3, 3.5, 9.9, 0.0], lambda volts: volts - 3.0)
    assert tracker.capacities_ah == [280.0] * 4
    assert tracker.contents_ah == pytest.approx([84.0, 140.0, 280.0, 0.0])


# --- device thresholds and the charge cap (moved out of the HA runner) -------------


def _info(kind: str = "cell") -> BalancerInfo:
    payload = {
        "id": "bal1",
        "protocol": 1,
        "relays": 4,
        "kind": kind,
        "dcdc": {"open_circuit_voltage": 4.2, "max_current": 2.0, "output_resistance": 0.05},
        "settle_time": 1.0,
        "measure_interval": 1.0,
    }
    return BalancerInfo.parse("bal1", json.dumps(payload).encode())


def test_sequencer_thresholds_follow_the_device() -> None:
    config = sequencer_config(_info(), None, 1.0)
    # settle time + one measurement + two ticks; charging may lag three times that.
    assert config.step_timeout_s == 4.0
    assert config.timeout(SequencerState.CHARGING) == 12.0
    # The I x R step of the device's own maximum current (2 A x 0.05 ohm = 0.1 V).
    assert config.min_rise_v == pytest.approx(0.03)
    assert config.max_rise_v == 0.5
    assert config.match_tolerance_v == 0.05
    # A lower setpoint gives a smaller expected rise; modules get a wider match.
    assert sequencer_config(_info(), 1.0, 1.0).min_rise_v == pytest.approx(0.015)
    assert sequencer_config(_info(), 0.0, 1.0).min_rise_v == pytest.approx(0.03)
    assert sequencer_config(_info("module"), None, 1.0).match_tolerance_v == 0.1


def test_charge_cap() -> None:
    assert charge_cap_v("cell", 3.55) == 3.55
    assert charge_cap_v("module", 3.55) == 14.4
    cells = [3.40, 3.55, 3.56]
    assert not at_charge_cap(1, cells, 3.55)
    assert at_charge_cap(2, cells, 3.55)  # at the cap counts
    assert at_charge_cap(3, cells, 3.55)


def _v2(**changes: Any) -> BalancerInfo:
    dcdc = {"open_circuit_voltage": 4.2, "max_current": 2.0, "output_resistance": 0.05}
    dcdc.update(changes.pop("dcdc", {}))
    payload = {
        "id": "bal1",
        "protocol": 2,
        "relays": 4,
        "kind": "cell",
        "dcdc": dcdc,
        "lease": {"default_s": 10, "max_s": 60},
        "max_charge_s": 3600,
        **changes,
    }
    return BalancerInfo.parse("bal1", json.dumps(payload).encode())


def test_which_devices_are_driven() -> None:
    """Issue 10 item 7: without a current measurement I x R must exceed the tolerance."""
    assert drive_refusal(_v2(), None, 1.0) is None
    assert drive_refusal(_info(), None, 1.0) == (DriveRefusal.NO_LEASE, "protocol 1, no lease")
    probe = _v2(dcdc={"measures_current": False, "output_resistance": 0.02})  # 2 A x 0.02
    refusal = drive_refusal(probe, None, 1.0)
    assert refusal is not None
    assert refusal[0] is DriveRefusal.CURRENT_OFF_UNPROVABLE
    assert "40 mV" in refusal[1]
    with pytest.raises(ValueError, match="must exceed the match tolerance"):
        sequencer_config(probe, None, 1.0)
    # With a measured current the same device is fine; a lower setpoint can break it.
    assert drive_refusal(_v2(dcdc={"output_resistance": 0.02}), None, 1.0) is None
    no_current = _v2(dcdc={"measures_current": False})
    assert drive_refusal(no_current, None, 1.0) is None  # 100 mV > 50 mV
    assert drive_refusal(no_current, 0.5, 1.0) is not None  # 25 mV
    assert drive_refusal(_v2(max_charge_s=20), None, 1.0) == (
        DriveRefusal.CHARGE_CAP_TOO_SHORT,
        "max_charge_s 20 s",
    )


def test_charges_stay_below_the_device_cap() -> None:
    info = _v2()
    assert charge_limit_s(info, 1.0) == 3600 - 180  # 5 % of the cap (more than 2 steps)
    assert charge_limit_s(_v2(max_charge_s=100), 1.0) == 100 - 8  # two step timeouts
    assert charge_limit_s(_info(), 1.0) is None
    config = sequencer_config(info, None, 1.0)
    assert config.max_charge_s == 3420
    assert config.current_measured
    assert config.rise_v == pytest.approx(0.1)
    steps = [ChargeStep(1, 5000.0), ChargeStep(2, 60.0)]
    assert cap_steps(steps, 3420.0) == [ChargeStep(1, 3420.0), ChargeStep(2, 60.0)]
    assert cap_steps(steps, None) == steps
