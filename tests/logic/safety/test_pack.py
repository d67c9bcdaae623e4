"""The pack description: confirmed only when complete and stable (I4)."""

from __future__ import annotations

from custom_components.victron_balance.logic.safety.pack import (
    ConfirmedPack,
    PackShape,
    PackTracker,
)


def cells(n: int, reported: int | None = None) -> dict[str, object]:
    items: dict[str, object] = {f"/Voltages/Cell{i}": 3.3 for i in range(1, n + 1)}
    items["/Balances/Cell1"] = 0  # not a voltage path: ignored
    if reported is not None:
        items["/System/NrOfCellsPerBattery"] = reported
    return items


def test_shapes_and_their_problems() -> None:
    assert PackShape.of(512, cells(4, 4)) == PackShape(512, (1, 2, 3, 4), 4)
    assert PackShape.of(512, cells(4, 0)).reported is None  # 0 = unknown (venus-observed 34)
    assert PackShape.of(512, {**cells(4), "/System/NrOfCellsPerBattery": True}).reported is None
    assert PackShape.of(512, cells(4)).problem() is None
    assert PackShape.of(512, {}).problem() == "no cell voltages"
    gap = {"/Voltages/Cell1": 3.3, "/Voltages/Cell3": 3.3}
    assert "not numbered 1..N" in (PackShape.of(512, gap).problem() or "")
    assert "reports 16 cells" in (PackShape.of(512, cells(4, 16)).problem() or "")


def test_confirmed_only_after_a_full_publish_and_the_window() -> None:
    tracker = PackTracker(confirm_s=5.0)
    assert tracker.confirmed(0.0) is None  # nothing seen
    tracker.observe(0.0, PackShape.of(512, cells(16, 16)))
    assert tracker.confirmed(100.0) is None  # never fully published
    tracker.full_publish_completed(1.0)
    assert tracker.confirmed(4.9) is None  # too soon after the change
    assert tracker.confirmed(5.0) == ConfirmedPack(512, 16)
    assert tracker.status(5.0)["confirmed_cells"] == 16


def test_a_driver_restart_is_never_confirmed_half_way() -> None:
    tracker = PackTracker(confirm_s=5.0)
    tracker.observe(0.0, PackShape.of(512, cells(16, 16)))
    tracker.full_publish_completed(0.0)
    assert tracker.confirmed(10.0) is not None
    # The driver stops and comes back topic by topic, without a cell count.
    tracker.observe(20.0, None)
    for n in range(1, 17):
        tracker.observe(25.0 + n / 1000, PackShape.of(512, cells(n, 0)))
        assert tracker.confirmed(30.0) is None  # no full publish since
    assert tracker.wants_full_publish(25.5) is False  # let it settle first
    assert tracker.wants_full_publish(27.0) is True
    tracker.requested(27.0)
    assert tracker.wants_full_publish(28.0) is False  # asked already
    # A full publish caught the driver half-way: more paths come after it.
    tracker.full_publish_completed(27.1)
    tracker.observe(27.1, PackShape.of(512, {**cells(16, 0), "/Voltages/Cell17": 3.3}))
    tracker.observe(27.2, PackShape.of(512, cells(16, 0)))
    assert tracker.confirmed(40.0) is None
    assert tracker.wants_full_publish(40.0) is True  # a new change may ask soon again
    tracker.requested(40.0)
    tracker.full_publish_completed(40.1)
    assert tracker.confirmed(42.0) == ConfirmedPack(512, 16)
    assert tracker.wants_full_publish(50.0) is False


def test_an_unanswered_request_is_repeated_slowly() -> None:
    tracker = PackTracker(confirm_s=5.0)
    tracker.observe(0.0, PackShape.of(512, cells(4)))
    assert tracker.wants_full_publish(2.0)
    tracker.requested(2.0)
    assert not tracker.wants_full_publish(20.0)
    assert tracker.wants_full_publish(32.0)


def test_equal_timestamps_keep_their_order() -> None:
    tracker = PackTracker(confirm_s=0.0)
    tracker.observe(1.0, PackShape.of(512, cells(4)))
    tracker.full_publish_completed(1.0)
    assert tracker.confirmed(1.0) == ConfirmedPack(512, 4)
    tracker.observe(1.0, PackShape.of(512, cells(3)))  # after the publish, same instant
    assert tracker.confirmed(1.0) is None


def test_a_different_count_without_a_reported_one_must_last() -> None:
    """A cell missing from a bridge's JSON for a moment must not shrink the pack."""
    tracker = PackTracker(confirm_s=5.0)
    tracker.observe(0.0, PackShape.of(512, cells(4)))
    tracker.full_publish_completed(0.0)
    assert tracker.confirmed(5.0) == ConfirmedPack(512, 4)
    tracker.observe(10.0, PackShape.of(512, cells(3)))
    tracker.full_publish_completed(11.0)
    assert tracker.confirmed(20.0) is None
    assert tracker.confirmed(10.0 + tracker.recount_s) == ConfirmedPack(512, 3)
    # A BMS that reports its count is believed after the normal window.
    tracker.observe(1000.0, PackShape.of(512, cells(8, 8)))
    tracker.full_publish_completed(1000.0)
    assert tracker.confirmed(1005.0) == ConfirmedPack(512, 8)
