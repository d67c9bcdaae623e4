"""Parsing the balancer's MQTT contract (docs/balancer-mqtt.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from custom_components.victron_balance.logic.balancer.contract import (
    BadPayload,
    BalancerInfo,
    DeviceFault,
    DeviceState,
    LeaseReport,
    base_topic,
    lease_request,
    valid_id,
)
from custom_components.victron_balance.logic.balancer.sequencer import CommandSet

INFO: dict[str, Any] = {
    "id": "bal1",
    "protocol": 2,
    "relays": 16,
    "kind": "cell",
    "dcdc": {
        "open_circuit_voltage": 4.2,
        "max_current": 2.0,
        "output_resistance": 0.05,
        "measures_current": True,
    },
    "relay_life": {"load": 100000, "dry": 1000000},
    "settle_time": 1.0,
    "measure_interval": 1.0,
    "lease": {"default_s": 10.0, "max_s": 60.0},
    "max_charge_s": 3600.0,
}


def info(**changes: Any) -> bytes:
    return json.dumps({**INFO, **changes}).encode()


def test_info_as_the_simulator_publishes_it() -> None:
    parsed = BalancerInfo.parse("bal1", info())
    assert parsed.relays == 16
    assert parsed.kind == "cell"
    assert parsed.max_current == 2.0
    assert parsed.output_resistance == 0.05
    assert (parsed.load_life, parsed.dry_life) == (100_000, 1_000_000)
    assert (parsed.protocol, parsed.max_charge_s, parsed.lease_max_s) == (2, 3600.0, 60.0)
    assert parsed.measures_current
    assert parsed.to_dict() == INFO
    assert base_topic("bal1") == "balancer/bal1"


def test_protocol_1_is_parsed_without_lease_or_cap() -> None:
    """Shown (and explained) but never driven: it has no lease."""
    old = {key: value for key, value in INFO.items() if key not in ("lease", "max_charge_s")}
    parsed = BalancerInfo.parse("bal1", json.dumps({**old, "protocol": 1}).encode())
    assert parsed.protocol == 1
    assert parsed.lease_default_s is parsed.lease_max_s is parsed.max_charge_s is None


def test_info_defaults_for_optional_fields() -> None:
    minimal = {
        "id": "m",
        "protocol": 1,  # protocol 2 needs its lease and cap
        "relays": 12,
        "kind": "module",
        "dcdc": {"open_circuit_voltage": 15.0, "max_current": 1.0},
    }
    parsed = BalancerInfo.parse("m", json.dumps(minimal).encode())
    assert parsed.kind == "module"
    assert parsed.output_resistance == 0.05
    assert parsed.settle_time == parsed.measure_interval == 1.0
    assert parsed.load_life == 100_000


@pytest.mark.parametrize(
    ("topic_id", "payload", "problem"),
    [
        ("bal1", b"{not json", "not JSON"),
        ("bal1", b"\xff\xfe", "not JSON"),
        ("bal1", b"[1, 2]", "JSON object"),
        ("bal1", info(id="bal2"), "does not match"),
        ("bad id", info(id="bad id"), "does not match"),
        ("bal1", info(protocol=3), "unsupported protocol"),
        ("bal1", info(protocol=True), "unsupported protocol"),
        ("bal1", info(lease=None), "lease object"),
        ("bal1", info(lease={"default_s": 10, "max_s": 0}), "lease.max_s"),
        ("bal1", info(max_charge_s=None), "max_charge_s"),
        ("bal1", info(dcdc={**INFO["dcdc"], "measures_current": "yes"}), "measures_current"),
        ("bal1", info(kind="pack"), "unknown kind"),
        ("bal1", info(dcdc=None), "dcdc object"),
        ("bal1", info(relay_life=[1]), "dcdc object"),
        ("bal1", info(relays=0), "relays"),
        ("bal1", info(relays=65), "at most 64"),
        ("bal1", info(relays=True), "relays"),
        ("bal1", info(dcdc={"open_circuit_voltage": "4.2", "max_current": 2}), "number"),
        ("bal1", info(dcdc={"open_circuit_voltage": 4.2, "max_current": -2}), "positive"),
        ("bal1", info(relay_life={"load": 0, "dry": 10}), "relay_life.load"),
        ("bal1", info(settle_time=float("inf")), "settle_time"),
    ],
)
def test_bad_info_is_refused(topic_id: str, payload: bytes, problem: str) -> None:
    with pytest.raises(BadPayload, match=problem):
        BalancerInfo.parse(topic_id, payload)


def test_ids() -> None:
    assert valid_id("bal_1-A")
    assert not valid_id("a/b")
    assert not valid_id("")
    assert not valid_id("x" * 65)


def test_state_topics() -> None:
    state = DeviceState(4)
    assert not state.complete
    assert state.apply("availability", b"online")
    assert state.apply("dcdc", b"OFF")
    assert state.apply("dcdc/current", b"2")
    assert state.apply("output_voltage", b"3.3")
    assert state.apply("output_current", b"0")
    for n in range(1, 5):
        assert state.apply(f"relay/{n}", b"on" if n == 3 else b"off")
        assert state.apply(f"relay/{n}/cycles", b"7")
        assert state.apply(f"relay/{n}/load_cycles", b"1")
        assert state.apply(f"relay/{n}/charge_ah", b"0.125")
    assert state.complete
    assert state.reported() == CommandSet(dcdc=False, relay=3)
    assert state.relays_on() == [3]
    assert state.cycles[2] == 7
    assert state.charge_ah[4] == 0.125
    data = state.to_dict()
    assert data["cycles"] == {"1": 7, "2": 7, "3": 7, "4": 7}
    assert data["fault"] is None
    # Commands (ours, echoed by the broker) and unknown topics are not state.
    assert not state.apply("relay/3/set", b"off")
    assert not state.apply("dcdc/set", b"on")
    assert not state.apply("fault/clear", b"")
    assert not state.apply("firmware", b"1.2")
    assert not state.apply("relay/x", b"on")
    assert not state.apply("relay/1/temperature", b"30")
    assert state.relay_on[3] is True


def test_empty_payloads_forget_and_offline_forgets_readings() -> None:
    state = DeviceState(2)
    state.apply("availability", b"online")
    state.apply("output_voltage", b"3.3")
    state.apply("relay/1", b"on")
    state.apply("relay/2", b"off")
    state.apply("relay/1/cycles", b"4")
    state.apply("output_voltage", b"")
    assert state.output_voltage is None
    state.apply("relay/1", b"")
    assert 1 not in state.relay_on
    state.apply("output_voltage", b"3.3")
    state.apply("availability", b"offline")
    assert state.online is False
    assert state.output_voltage is None
    assert state.relay_on == {}
    assert state.cycles == {1: 4}  # counters are kept
    assert not state.complete


def test_several_relays_reported_on_picks_the_lowest() -> None:
    state = DeviceState(4)
    state.apply("relay/4", b"on")
    state.apply("relay/2", b"on")
    state.apply("dcdc", b"on")
    assert state.reported() == CommandSet(dcdc=True, relay=2)


@pytest.mark.parametrize(
    ("suffix", "payload"),
    [
        ("availability", b"maybe"),
        ("dcdc", b"1"),
        ("output_voltage", b"abc"),
        ("output_current", b"inf"),
        ("relay/5", b"on"),
        ("relay/1", b"yes"),
        ("relay/1/cycles", b"-1"),
        ("relay/1/load_cycles", b"1.5"),
        ("relay/1/charge_ah", b"x"),
        ("fault", b"{broken"),
        ("fault", b'{"relay": 1}'),
        ("fault", b'"text"'),
        ("fault", b'{"reason": "x", "relay": 0}'),
    ],
)
def test_bad_state_payloads_are_refused(suffix: str, payload: bytes) -> None:
    state = DeviceState(4)
    with pytest.raises(BadPayload):
        state.apply(suffix, payload)


def test_faults() -> None:
    state = DeviceState(4)
    raw = b'{"reason":"cell_short","relay":3,"detail":"closed relays [2, 3]","at":1.0,"count":2}'
    assert state.apply("fault", raw)
    assert state.fault == DeviceFault("cell_short", 3, "closed relays [2, 3]", raw)
    assert state.to_dict()["fault"] == {
        "reason": "cell_short",
        "relay": 3,
        "detail": "closed relays [2, 3]",
    }
    assert DeviceFault.parse(b'{"reason":"x","detail":5}').detail == ""
    assert state.apply("fault", b"")
    assert state.fault is None


def test_lease_report_and_request() -> None:
    state = DeviceState(4)
    report = {
        "active": True,
        "lease_s": 10,
        "holder": "victron_balance/x/status",
        "last_end": "will",
        "expired": 2,
        "will": 1,
        "released": 0,
        "refused": 3,
    }
    assert state.apply("lease", json.dumps(report).encode())
    assert state.lease == LeaseReport(True, "victron_balance/x/status", "will", 3, 3)
    assert state.to_dict()["lease"] == {"active": True, "last_end": "will", "ends": 3, "refused": 3}
    state.forget()
    assert state.lease is None
    assert state.apply("lease", b"")
    assert state.lease is None
    assert lease_request(10.0, "t/status") == '{"lease_s":10.0,"will":"t/status"}'
    assert lease_request(5.0, None) == '{"lease_s":5.0}'


@pytest.mark.parametrize(
    "payload",
    [
        b"{",
        b"[]",
        b'{"active": 1}',
        b'{"active": true, "holder": 5}',
        b'{"active": true, "last_end": "lost"}',
        b'{"active": true, "expired": -1}',
        b'{"active": true, "refused": "x"}',
    ],
)
def test_bad_lease_reports_are_refused(payload: bytes) -> None:
    with pytest.raises(BadPayload):
        DeviceState(4).apply("lease", payload)
