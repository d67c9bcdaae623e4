"""Borrowing and giving back the controlling BMS (I5)."""

from __future__ import annotations

from custom_components.victron_balance.logic.safety.bms_switch import BmsSwitch, SwitchView

V = 100
REAL = 512


def view(
    current: int | None,
    *,
    present: bool = True,
    capable: tuple[int, ...] = (REAL,),
    active: bool = False,
    ours: bool = True,
) -> SwitchView:
    bms = sorted({*capable, V}) if present else list(capable)
    return SwitchView(current, bms, present, ours, active)


def test_borrow_waits_for_the_driver_then_remembers_the_users_choice() -> None:
    switch = BmsSwitch(V)
    assert switch.wanted(True, view(None)) is None  # setting not seen yet
    assert switch.wanted(True, view(-1, present=False)) is None  # never point at nothing
    assert switch.wanted(True, view(-1)) == V
    switch.confirmed(V)
    assert switch.borrowed and switch.previous == -1
    assert switch.wanted(True, view(V)) is None
    assert switch.writes == 1


def test_give_back_an_explicit_choice_in_one_write() -> None:
    switch = BmsSwitch(V)
    assert switch.wanted(True, view(REAL)) == V
    switch.confirmed(V)
    assert switch.wanted(False, view(V, active=True)) == REAL
    switch.confirmed(REAL)
    assert switch.wanted(False, view(REAL)) is None
    assert switch.settled and switch.writes == 2


def test_give_back_automatic_via_the_real_instance_while_the_driver_lingers() -> None:
    switch = BmsSwitch(V)
    switch.wanted(True, view(-1))
    switch.confirmed(V)
    # Automatic would pick the virtual BMS (lowest instance): the real one first.
    assert switch.wanted(False, view(V, active=True)) == REAL
    switch.confirmed(REAL)
    assert switch.wanted(False, view(REAL)) is None  # the driver is still there
    assert not switch.settled
    assert switch.wanted(False, view(REAL, present=False)) == -1
    switch.confirmed(-1)
    assert switch.wanted(False, view(-1, present=False)) is None
    assert switch.settled and switch.writes == 3


def test_automatic_without_a_real_bms_is_given_back_directly() -> None:
    switch = BmsSwitch(V)
    switch.wanted(True, view(-1, capable=()))
    switch.confirmed(V)
    assert switch.wanted(False, view(V, capable=())) == -1


def test_automatic_that_would_not_pick_the_virtual_is_given_back_directly() -> None:
    switch = BmsSwitch(V)
    switch.wanted(True, view(-1, capable=(7,)))
    switch.confirmed(V)
    assert switch.wanted(False, view(V, capable=(7,))) == -1


def test_a_stale_switch_is_given_back_even_without_a_record() -> None:
    switch = BmsSwitch(V)
    assert switch.wanted(False, view(V, active=True)) == REAL
    switch.confirmed(REAL)
    assert switch.wanted(False, view(REAL, present=False)) == -1
    # A real BMS that happens to sit at our instance is not ours to move.
    other = BmsSwitch(V)
    assert other.wanted(False, view(V, ours=False)) is None
    # Automatic picking the lingering virtual BMS outside a run is stale as well.
    auto = BmsSwitch(V)
    assert auto.wanted(False, view(-1, active=True)) == REAL


def test_a_change_on_the_gx_during_a_borrow_wins() -> None:
    switch = BmsSwitch(V)
    switch.wanted(True, view(-1))
    switch.confirmed(V)
    assert switch.wanted(True, view(REAL)) is None
    assert switch.overridden and not switch.borrowed
    assert switch.wanted(False, view(REAL)) is None  # nothing written back


def test_found_at_the_virtual_instance_when_starting() -> None:
    switch = BmsSwitch(V)
    assert switch.wanted(True, view(V)) is None
    assert switch.borrowed and switch.previous == -1  # given back as automatic


def test_previous_equal_to_the_virtual_instance_means_automatic() -> None:
    switch = BmsSwitch.from_dict(V, {"borrowed": True, "previous": V, "final": None})
    assert switch.wanted(False, view(V, capable=())) == -1


def test_persistence() -> None:
    switch = BmsSwitch(V)
    switch.wanted(True, view(-1))
    switch.confirmed(V)
    restored = BmsSwitch.from_dict(V, switch.to_dict())
    assert (restored.borrowed, restored.previous, restored.final) == (True, -1, None)
    garbled = BmsSwitch.from_dict(V, {"borrowed": "yes", "previous": "x", "final": []})
    assert (garbled.borrowed, garbled.previous, garbled.final) == (False, None, None)
    assert BmsSwitch.from_dict(V, None).settled
