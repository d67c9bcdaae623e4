"""The gate of every settings write (I4) and the flash-write budget."""

from __future__ import annotations

import pytest

from custom_components.victron_balance.logic.dvcc_limits import LimitBounds
from custom_components.victron_balance.logic.safety.gx_settings import (
    BMS_INSTANCE_PATH,
    MAX_CHARGE_CURRENT_PATH,
    MAX_CHARGE_VOLTAGE_PATH,
    SettingWrite,
    WriteBudget,
    WriteRefused,
    checked_write,
)
from custom_components.victron_balance.logic.safety.pack import ConfirmedPack

PACK = ConfirmedPack(512, 16)
BOUNDS = LimitBounds.for_pack(16, 2.9, 3.65, 200)


def write(path: str, value: float, *, confirmed: bool = True) -> SettingWrite:
    return checked_write(
        path,
        value,
        pack=PACK if confirmed else None,
        bounds=BOUNDS if confirmed else None,
        why="test",
    )


def test_allowed_writes() -> None:
    assert write(MAX_CHARGE_CURRENT_PATH, -1).value == -1
    assert write(MAX_CHARGE_CURRENT_PATH, 30.0).value == 30
    assert write(MAX_CHARGE_CURRENT_PATH, 30, confirmed=False).value == 30
    assert write(MAX_CHARGE_VOLTAGE_PATH, 55.204).value == 55.2
    assert write(MAX_CHARGE_VOLTAGE_PATH, 0.0, confirmed=False).value == 0.0  # "off" always
    for instance in (-1, -255, 0, 100, 512):
        assert write(BMS_INSTANCE_PATH, instance, confirmed=False).value == instance


@pytest.mark.parametrize(
    ("path", "value", "confirmed", "message"),
    [
        (MAX_CHARGE_VOLTAGE_PATH, 3.65, True, "outside"),  # one cell's top for 16 cells
        (MAX_CHARGE_VOLTAGE_PATH, 58.5, True, "outside"),
        (MAX_CHARGE_VOLTAGE_PATH, 55.2, False, "confirmed pack"),
        (MAX_CHARGE_VOLTAGE_PATH, float("nan"), True, "outside"),
        (MAX_CHARGE_VOLTAGE_PATH, True, True, "number"),
        (MAX_CHARGE_CURRENT_PATH, 7.5, True, "whole"),
        (MAX_CHARGE_CURRENT_PATH, 201, True, "outside"),
        (MAX_CHARGE_CURRENT_PATH, -2, True, "outside"),
        (MAX_CHARGE_CURRENT_PATH, float("inf"), True, "number"),
        (BMS_INSTANCE_PATH, -3, True, "device instance"),
        ("/Settings/Other", 1, True, "not a setting"),
    ],
)
def test_refused_writes(path: str, value: float, confirmed: bool, message: str) -> None:
    with pytest.raises(WriteRefused, match=message):
        write(path, value, confirmed=confirmed)


def test_write_budget() -> None:
    budget = WriteBudget(min_interval_s=30)
    assert budget.wait_s("a", 0) == 0
    budget.record("a", 0)
    assert budget.wait_s("a", 10) == 20
    assert budget.wait_s("b", 10) == 0  # each setting has its own spacing
    assert budget.wait_s("a", 31) == 0
    budget.record("a", 40)
    budget.record("b", 41)
    assert budget.per_hour(100) == 3
    assert budget.per_hour(3601) == 2  # the first write is older than an hour
    assert budget.total == 3
