"""The balancer's safety gate (I6): every rule refuses on its own, offs always pass."""

from __future__ import annotations

from dataclasses import replace

import pytest

from custom_components.victron_balance.logic.balancer.sequencer import Command, CommandSet
from custom_components.victron_balance.logic.safety import (
    BalancerGate,
    GateFacts,
    GateLimits,
    Permit,
    Refusal,
)

CELLS = [3.30, 3.20, 3.35, 3.25]
LIMITS = GateLimits(
    relays=4,
    drivable=True,
    match_tolerance_v=0.05,
    off_tolerance_v=0.05,
    zero_current_a=0.05,
    current_measured=True,
    max_charge_s=3420.0,
    max_data_age_s=5.0,
)
# All off, the output open, everything fresh and the lease ours.
OPEN = GateFacts(
    lease_active=True,
    device_age_s=0.5,
    cells=CELLS,
    fault_latched=False,
    reported_relays=(),
    reported_dcdc=False,
    output_voltage=0.0,
    output_current=0.0,
)
# Relay 2 reported on and proven closed (the output reads cell 2, no current).
CLOSED_2 = replace(OPEN, reported_relays=(2,), output_voltage=3.20)
RELAY_2_ON = Command(2, on=True)
DCDC_ON = Command(None, on=True, planned_s=60.0)


def gate_with_relay_2() -> BalancerGate:
    gate = BalancerGate(LIMITS)
    assert isinstance(gate.check(RELAY_2_ON, OPEN), Permit)
    return gate


def test_the_safe_sequence_passes() -> None:
    gate = gate_with_relay_2()
    assert gate.check(DCDC_ON, CLOSED_2) == Permit("dcdc/set", "on", on=True)
    assert gate.commanded == CommandSet(dcdc=True, relay=2)
    assert gate.check(Command(None, on=False), CLOSED_2) == Permit("dcdc/set", "off")
    assert gate.check(Command(2, on=False), CLOSED_2) == Permit("relay/2/set", "off")
    assert gate.commanded == CommandSet()
    assert (gate.permitted, gate.refused) == (4, 0)


@pytest.mark.parametrize(
    ("facts", "refusal"),
    [
        (replace(OPEN, lease_active=False), Refusal.NO_LEASE),
        (replace(OPEN, device_age_s=None), Refusal.STALE_DEVICE),
        (replace(OPEN, device_age_s=6.0), Refusal.STALE_DEVICE),
        (replace(OPEN, cells=None), Refusal.STALE_CELLS),
        (replace(OPEN, cells=CELLS[:3]), Refusal.STALE_CELLS),
        (replace(OPEN, fault_latched=True), Refusal.FAULT_LATCHED),
        (replace(OPEN, reported_relays=(3,)), Refusal.OTHER_RELAY_ON),
        (replace(OPEN, reported_dcdc=True), Refusal.DCDC_ON),
        (replace(OPEN, reported_dcdc=None), Refusal.DCDC_ON),
    ],
)
def test_relay_on_refusals(facts: GateFacts, refusal: Refusal) -> None:
    gate = BalancerGate(LIMITS)
    assert gate.check(RELAY_2_ON, facts) is refusal
    assert gate.commanded == CommandSet()
    assert gate.refused == 1


def test_a_second_relay_is_refused_while_one_is_commanded() -> None:
    gate = gate_with_relay_2()
    assert gate.check(Command(3, on=True), OPEN) is Refusal.OTHER_RELAY_ON
    assert gate.check(Command(9, on=False), OPEN) is Refusal.UNKNOWN_RELAY
    gate.restart(CommandSet(dcdc=True, relay=None))  # a new sequence from the report
    assert gate.check(Command(3, on=True), OPEN) is Refusal.DCDC_ON


@pytest.mark.parametrize(
    ("facts", "refusal"),
    [
        (replace(CLOSED_2, reported_relays=()), Refusal.RELAY_NOT_PROVEN),
        (replace(CLOSED_2, reported_relays=(2, 3)), Refusal.RELAY_NOT_PROVEN),
        (replace(CLOSED_2, reported_dcdc=True), Refusal.DCDC_ON),
        (replace(CLOSED_2, output_voltage=0.1), Refusal.RELAY_NOT_PROVEN),  # open
        (replace(CLOSED_2, output_voltage=3.35), Refusal.RELAY_NOT_PROVEN),  # wrong cell
        (replace(CLOSED_2, output_voltage=None), Refusal.RELAY_NOT_PROVEN),
        (replace(CLOSED_2, output_current=None), Refusal.RELAY_NOT_PROVEN),  # measured
        (replace(CLOSED_2, output_current=1.0), Refusal.RELAY_NOT_PROVEN),
        (replace(CLOSED_2, cells=[3.3, None, 3.35, 3.25]), Refusal.RELAY_NOT_PROVEN),
        (replace(CLOSED_2, lease_active=False), Refusal.NO_LEASE),
    ],
)
def test_dcdc_on_refusals(facts: GateFacts, refusal: Refusal) -> None:
    gate = gate_with_relay_2()
    assert gate.check(DCDC_ON, facts) is refusal
    assert not gate.commanded.dcdc


def test_dcdc_on_needs_a_relay_and_a_charge_within_the_cap() -> None:
    assert BalancerGate(LIMITS).check(DCDC_ON, CLOSED_2) is Refusal.RELAY_NOT_PROVEN
    gate = gate_with_relay_2()
    for planned in (None, 0.0, 3421.0):
        command = Command(None, on=True, planned_s=planned)
        assert gate.check(command, CLOSED_2) is Refusal.OVER_CAP
    no_cap = BalancerGate(replace(LIMITS, max_charge_s=None))
    assert isinstance(no_cap.check(RELAY_2_ON, OPEN), Permit)
    assert no_cap.check(DCDC_ON, CLOSED_2) is Refusal.OVER_CAP


def test_without_current_measurement_the_voltage_must_prove_it() -> None:
    limits = replace(LIMITS, current_measured=False, off_tolerance_v=0.03)
    gate = BalancerGate(limits)
    assert isinstance(gate.check(RELAY_2_ON, OPEN), Permit)
    unknown = replace(CLOSED_2, output_current=None)
    assert gate.check(DCDC_ON, replace(unknown, output_voltage=3.24)) is Refusal.RELAY_NOT_PROVEN
    assert isinstance(gate.check(DCDC_ON, replace(unknown, output_voltage=3.22)), Permit)


def test_an_undrivable_device_gets_offs_only() -> None:
    gate = BalancerGate(replace(LIMITS, drivable=False))
    assert gate.check(RELAY_2_ON, OPEN) is Refusal.NOT_DRIVABLE
    assert gate.lease(10.0, "t") is Refusal.NOT_DRIVABLE
    assert gate.check(Command(None, on=False), OPEN) == Permit("dcdc/set", "off")
    assert gate.release() == Permit("lease/set", "release")
    assert gate.clear_fault() == Permit("fault/clear", "1")
    gate.update_limits(LIMITS)
    assert gate.lease(10.0, "t") == Permit("lease/set", '{"lease_s":10.0,"will":"t"}')
