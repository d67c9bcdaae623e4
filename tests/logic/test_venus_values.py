"""Payload decoding and defensive value coercion."""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.victron_balance.logic.venus_values import (
    PayloadKind,
    ValueKind,
    ValueProblem,
    ValueSpec,
    coerce,
    decode_payload,
    spec_for,
)


def test_zero_byte_payload_means_vanished() -> None:
    assert decode_payload(b"").kind is PayloadKind.VANISHED


def test_settings_payload_keeps_min_max() -> None:
    payload = decode_payload(b'{"max":10000,"min":-1,"value":50}')
    assert (payload.value, payload.minimum, payload.maximum) == (50, -1, 10000)


def test_echo_token() -> None:
    payload = decode_payload(b'{"full-publish-completed-echo":"abc","value":1700000000}')
    assert payload.echo_token == "abc"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"1", "not a JSON object"),
        (b'{"val": 1}', "no 'value'"),
        (b'{"value": NaN}', "non-finite"),
        (b'{"value": Infinity}', "non-finite"),
    ],
)
def test_bad_payloads(raw: bytes, reason: str) -> None:
    with pytest.raises(ValueProblem, match=reason):
        decode_payload(raw)


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        (ValueKind.FLOAT, 10, 10.0),
        (ValueKind.FLOAT, 53.25600000000001, 53.25600000000001),
        (ValueKind.INT, 10.0, 10),  # ints can arrive as floats
        (ValueKind.BOOL, False, False),
        (ValueKind.BOOL, 1, True),  # Control/Dvcc: false when off, 1 when on
        (ValueKind.BOOL, 0.0, False),
        (ValueKind.TEXT, "C3", "C3"),
        (ValueKind.JSON, '{"a": [1]}', {"a": [1]}),  # JSON inside a JSON string
        (ValueKind.JSON, [1, 2], [1, 2]),
    ],
)
def test_type_drift_is_absorbed(kind: ValueKind, raw: Any, expected: Any) -> None:
    value = coerce(ValueSpec(kind), raw)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("spec", "raw"),
    [
        (ValueSpec(ValueKind.FLOAT, 0, 5), True),  # a bool is not a number
        (ValueSpec(ValueKind.FLOAT, 0, 5), "3.3"),
        (ValueSpec(ValueKind.FLOAT, 0, 5), 5.01),
        (ValueSpec(ValueKind.FLOAT, 0, 5), -0.1),
        (ValueSpec(ValueKind.FLOAT), float("nan")),
        (ValueSpec(ValueKind.INT), 7.5),
        (ValueSpec(ValueKind.BOOL), 2),
        (ValueSpec(ValueKind.BOOL), "on"),
        (ValueSpec(ValueKind.TEXT), 3),
        (ValueSpec(ValueKind.JSON), "{broken"),
        (ValueSpec(ValueKind.JSON), 3),
    ],
)
def test_implausible_values_are_rejected(spec: ValueSpec, raw: Any) -> None:
    with pytest.raises(ValueProblem):
        coerce(spec, raw)


def test_specs() -> None:
    assert spec_for("battery", "/Voltages/Cell7") == ValueSpec(ValueKind.FLOAT, 0.0, 5.0)
    assert spec_for("battery", "/Balances/Cell7") == ValueSpec(ValueKind.BOOL)
    assert spec_for("battery", "/Dc/0/Voltage") == ValueSpec(ValueKind.FLOAT, 0.0, 100.0)
    assert spec_for("battery", "/ProductName") == ValueSpec(ValueKind.TEXT)
    assert spec_for("battery", "/Something/Else") is None
    assert spec_for("vebus", "/Dc/0/Voltage") is None  # services we do not read
