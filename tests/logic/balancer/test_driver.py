"""Our lease and the pure driver (sequencer, lease, gate) on hand-made device states."""

from __future__ import annotations

import json

import pytest

from custom_components.victron_balance.logic.balancer.contract import (
    BalancerInfo,
    DeviceState,
    LeaseReport,
)
from custom_components.victron_balance.logic.balancer.driver import BalancerDriver
from custom_components.victron_balance.logic.balancer.lease import LeaseKeeper
from custom_components.victron_balance.logic.balancer.planner import DriveRefusal
from custom_components.victron_balance.logic.balancer.sequencer import ChargeStep
from custom_components.victron_balance.logic.safety import Permit, Refusal

HOLDER = "victron_balance/x/status"
CELLS = [3.30, 3.20, 3.35, 3.25]
OURS = LeaseReport(active=True, holder=HOLDER, last_end=None, ends=0, refused=0)


def info(protocol: int = 2, **dcdc: object) -> BalancerInfo:
    payload: dict[str, object] = {
        "id": "bal1",
        "protocol": protocol,
        "relays": 4,
        "kind": "cell",
        "dcdc": {
            "open_circuit_voltage": 4.2,
            "max_current": 2.0,
            "output_resistance": 0.05,
            **dcdc,
        },
    }
    if protocol == 2:
        payload |= {"lease": {"default_s": 10, "max_s": 60}, "max_charge_s": 3600}
    return BalancerInfo.parse("bal1", json.dumps(payload).encode())


def device(lease: LeaseReport | None = OURS, relay: int | None = None) -> DeviceState:
    state = DeviceState(4, online=True, dcdc=False, output_voltage=0.0, output_current=0.0)
    state.relay_on = {n: n == relay for n in range(1, 5)}
    state.lease = lease
    return state


def test_lease_keeper() -> None:
    keeper = LeaseKeeper(HOLDER)
    assert keeper.due(0.0)
    assert not keeper.active(0.0, OURS)  # never renewed
    keeper.renewed(0.0)
    assert not keeper.due(2.9)
    assert keeper.due(3.0)
    assert keeper.active(5.0, OURS)
    assert not keeper.active(5.1, OURS)  # half a lease without renewal: not ours
    assert not keeper.active(1.0, LeaseReport(True, "someone/else", None, 0, 0))
    assert not keeper.active(1.0, LeaseReport(False, HOLDER, "expired", 1, 0))
    assert not keeper.active(1.0, None)
    keeper.lost()
    assert keeper.due(1.0)
    # A lease that ends on the device is seen once, not on the first report.
    assert not keeper.ended(LeaseReport(False, HOLDER, "expired", 3, 0))
    assert not keeper.ended(None)
    assert keeper.ended(LeaseReport(False, HOLDER, "will", 4, 0))
    assert not keeper.ended(LeaseReport(False, HOLDER, "will", 4, 0))
    with pytest.raises(ValueError, match="renew_s"):
        LeaseKeeper(HOLDER, lease_s=4.0, renew_s=3.0)


def test_driving_takes_a_lease_before_anything_is_on() -> None:
    driver = BalancerDriver(info(), holder=HOLDER, tick_s=1.0)
    state = device(lease=LeaseReport(False, None, None, 0, 0))
    sequencer = driver.begin(0.0, state, 0.0, online=True)
    assert sequencer is not None
    assert not driver.can_charge(0.0, state, CELLS)
    tick = driver.finish(0.0, state, 0.0, CELLS, want_lease=True, fault_latched=False)
    assert tick.permits == (
        Permit("lease/set", json.dumps({"lease_s": 10.0, "will": HOLDER}, separators=(",", ":"))),
    )
    driver.delivered(tick.permits[0], 0.0)
    state.lease = OURS
    assert driver.can_charge(1.0, state, CELLS)
    sequencer.start([ChargeStep(2, 60.0)])
    driver.finish(1.0, state, 0.0, CELLS, want_lease=True, fault_latched=False)  # open check
    tick = driver.finish(2.0, state, 0.0, CELLS, want_lease=True, fault_latched=False)
    assert tick.permits == (Permit("relay/2/set", "on", on=True),)
    # Not driving any more (and nothing on): no renewal, and the lease is not ours.
    sequencer.stop()
    state.relay_on[2] = True
    driver.finish(3.0, state, 0.0, CELLS, want_lease=False, fault_latched=False)


def test_a_refused_command_starts_over() -> None:
    driver = BalancerDriver(info(), holder=HOLDER, tick_s=1.0)
    state = device()
    sequencer = driver.begin(0.0, state, 0.0, online=True)
    assert sequencer is not None
    sequencer.start([ChargeStep(2, 60.0)])
    driver.finish(0.0, state, 0.0, CELLS, want_lease=False, fault_latched=False)
    # The lease is not ours (never renewed): the relay "on" is refused.
    tick = driver.finish(1.0, state, 0.0, CELLS, want_lease=False, fault_latched=False)
    assert tick.refused is Refusal.NO_LEASE
    assert tick.permits == ()
    assert driver.sequencer is None


def test_stale_or_offline_devices_are_not_sequenced() -> None:
    driver = BalancerDriver(info(), holder=HOLDER, tick_s=1.0)
    assert driver.begin(0.0, device(), None, online=True) is None
    assert driver.begin(0.0, device(), 6.0, online=True) is None  # 3 x 1 s + 2 ticks
    assert driver.begin(0.0, device(), 0.0, online=False) is None
    assert driver.begin(0.0, device(), 0.0, online=True) is not None
    driver.connection_lost()
    assert driver.sequencer is None


def test_the_device_switching_itself_off_is_waited_for() -> None:
    driver = BalancerDriver(info(), holder=HOLDER, tick_s=1.0)
    ended = LeaseReport(False, HOLDER, "expired", 1, 0)
    state = device(lease=OURS, relay=2)
    state.dcdc = True
    assert driver.begin(0.0, state, 0.0, online=True) is not None
    state.lease = ended
    assert driver.begin(1.0, state, 0.0, online=True) is None  # its own safe-off
    assert driver.begin(3.0, state, 0.0, online=True) is None
    # Still on after its settle time and a measurement or two: we switch it off.
    sequencer = driver.begin(7.0, state, 0.0, online=True)
    assert sequencer is not None
    assert sequencer.commanded.dcdc


def test_devices_we_must_not_drive() -> None:
    old = BalancerDriver(info(protocol=1), holder=HOLDER, tick_s=1.0)
    assert old.refusal is not None
    assert old.refusal[0] is DriveRefusal.NO_LEASE
    state = device(lease=None)
    state.dcdc = True
    assert old.begin(0.0, state, 0.0, online=True) is None
    tick = old.finish(0.0, state, 0.0, CELLS, want_lease=True, fault_latched=False)
    assert tick.permits == (Permit("dcdc/set", "off"),)  # no lease request
    assert old.finish(1.0, state, 0.0, CELLS, want_lease=True, fault_latched=False).permits == ()
    assert old.finish(2.0, state, 0.0, CELLS, want_lease=True, fault_latched=False).permits
    assert old.shutdown(state) == [Permit("dcdc/set", "off")]  # no release without lease
    # A lower setpoint can make "current off" unprovable; the sequence is dropped.
    driver = BalancerDriver(info(measures_current=False), holder=HOLDER, tick_s=1.0)
    assert driver.drivable
    assert driver.begin(0.0, device(), 0.0, online=True) is not None
    driver.update(driver.info, 0.5)
    assert not driver.drivable
    assert driver.sequencer is None
    driver.update(driver.info, 0.5)  # unchanged: nothing happens


def test_shutdown_switches_off_and_releases() -> None:
    driver = BalancerDriver(info(), holder=HOLDER, tick_s=1.0)
    state = device(relay=2)
    state.dcdc = True
    driver.begin(0.0, state, 0.0, online=True)
    assert driver.shutdown(state) == [Permit("dcdc/set", "off"), Permit("lease/set", "release")]
    driver.send_failed()
    assert driver.sequencer is None
