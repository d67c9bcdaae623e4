"""I6 as properties: a stateful model over the pure sequencer, gate, lease and hardware.

Hypothesis drives the same rig as the safety benchmark (`benchmarks.safety_balancer`:
the integration's `BalancerDriver` in front of the simulator's pure balancer, with a
model of the runner) through random plans, stops, faults (DC/DC stuck on, welded
relay, relay stuck open), late and lost measurements, stale cells, publish failures,
crashes with and without the Last Will and restarts. The rig checks every rule of I6
after every step of the device; the invariants below add the end-state rules.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from benchmarks.safety_balancer import BalancerRig
from simulator.balancer_hw import BalancerConfig


class BalancerSafety(RuleBasedStateMachine):
    """One balancer and its controller, under whatever the rules throw at them."""

    rig: BalancerRig

    @initialize(
        seed=st.integers(0, 2**32 - 1),
        relays=st.integers(2, 5),
        measures_current=st.booleans(),
        resistance=st.sampled_from((0.02, 0.05, 0.1)),
        cap=st.sampled_from((45.0, 3600.0)),
    )
    def start(
        self, seed: int, relays: int, measures_current: bool, resistance: float, cap: float
    ) -> None:
        rng = random.Random(seed)
        config = BalancerConfig(
            relays=relays,
            measures_current=measures_current,
            output_resistance=resistance,
            max_charge_s=cap,
        )
        self.rig = BalancerRig(rng, config, [rng.uniform(3.30, 3.45) for _ in range(relays)])

    @rule(seconds=st.sampled_from((1.0, 3.0, 10.0, 30.0)))
    def time_passes(self, seconds: float) -> None:
        self.rig.run(seconds)

    @rule(on=st.booleans())
    def switch(self, on: bool) -> None:
        self.rig.set_enabled(on)

    @rule(kind=st.sampled_from(("stuck_dcdc", "welded", "open")), relay=st.integers(1, 5))
    def hardware_fault(self, kind: str, relay: int) -> None:
        self.rig.inject(kind, min(relay, self.rig.hw.relay_count))

    @rule()
    def repair_and_acknowledge(self) -> None:
        self.rig.hw.repair()
        self.rig.set_enabled(True)

    @rule(loss=st.sampled_from((0.0, 0.3, 0.9)))
    def measurements(self, loss: float) -> None:
        self.rig.measurement_loss = loss

    @rule(loss=st.sampled_from((0.0, 0.2, 1.0)))
    def publishes(self, loss: float) -> None:
        self.rig.publish_loss = loss

    @rule(stale=st.booleans())
    def venus(self, stale: bool) -> None:
        self.rig.venus_stale = stale

    @precondition(lambda self: self.rig.alive)
    @rule(will=st.booleans(), gone=st.sampled_from((2.0, 12.0, 40.0)))
    def controller_vanishes(self, will: bool, gone: float) -> None:
        """A crash or hang (renewals stop), with or without the broker's Last Will."""
        self.rig.crash(will=will)
        self.rig.run(gone)
        if gone >= self.rig.lease_deadline_s:
            hw = self.rig.hw
            assert not hw.dcdc_on
            assert not any(hw.relay_on(n) for n in range(1, hw.relay_count + 1))
        self.rig.restart()

    @rule()
    def clean_restart(self) -> None:
        self.rig.clean_restart()

    @invariant()
    def no_violation(self) -> None:
        violations = self.rig.violations
        assert violations.count == 0, violations.details

    @invariant()
    def a_fault_stays_latched(self) -> None:
        if self.rig.fault is not None:
            assert not self.rig.enabled


def test_i6_holds_whatever_happens() -> None:
    """A plain test function (a unittest.TestCase would not get the async fixtures)."""
    run_state_machine_as_test(
        BalancerSafety,
        settings=settings(
            max_examples=150,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
            database=None,  # no .hypothesis folder in the work tree
        ),
    )
