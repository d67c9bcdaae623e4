"""The state writer on its own: per-path marks, rate-limited writes, bursts, holds.

A hand-driven clock stands in for the event loop, so every assertion is about the
order and the simulated time of writes, never about how fast this machine is.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from custom_components.victron_balance.logic.update_interval import Pace, UpdateInterval
from custom_components.victron_balance.state_writer import (
    BURST_WAIT_S,
    FLUSH_DELAY_S,
    HOLD_RECHECK_S,
    PROBE_MESSAGES,
    PROBE_S,
    StateWriter,
)


class Handle:
    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Clock:
    """call_soon / call_at / call_later / time, run by hand."""

    def __init__(self) -> None:
        self.now = 0.0
        self._queue: list[tuple[float, int, Handle]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> Handle:
        handle = Handle(when, callback)
        heapq.heappush(self._queue, (when, next(self._order), handle))
        return handle

    def call_later(self, delay: float, callback: Callable[[], None]) -> Handle:
        return self.call_at(self.now + delay, callback)

    def call_soon(self, callback: Callable[[], None]) -> Handle:
        return self.call_at(self.now, callback)

    def run_until(self, until: float, during: Callable[[float], None] | None = None) -> None:
        """Run every callback due up to `until` (`during(t)` first, at each one's time)."""
        while self._queue and self._queue[0][0] <= until:
            when, _order, handle = heapq.heappop(self._queue)
            self.now = max(self.now, when)
            if not handle.cancelled:
                if during is not None:
                    during(self.now)
                handle.callback()
        self.now = max(self.now, until)

    def pending(self) -> int:
        return sum(not handle.cancelled for _when, _order, handle in self._queue)


@dataclass(eq=False)
class FakeEntity:
    """Shows `value`; records the time of each write."""

    pace: Pace
    value: Any = 0
    written_at: float | None = None
    hold: bool = False
    shown: Any = field(default_factory=object)
    writes: list[tuple[float, Any]] = field(default_factory=list)
    clock: Clock | None = None

    def holds(self) -> bool:
        return self.hold

    def write_if_changed(self) -> bool:
        if self.value == self.shown:
            return False
        self.shown = self.value
        assert self.clock is not None
        self.writes.append((self.clock.now, self.value))
        return True


class Rig:
    def __init__(self, preset: UpdateInterval = UpdateInterval.NORMAL) -> None:
        self.clock = Clock()
        self.preset = preset
        self.balancing = False
        self.messages = 0
        self.writer = StateWriter(
            self.clock,  # type: ignore[arg-type]
            lambda: (self.preset, self.balancing),
            activity=lambda: self.messages,
        )

    def entity(self, pace: Pace, watches: list[tuple[str, str | None]]) -> FakeEntity:
        entity = FakeEntity(pace, clock=self.clock)
        entity.shown = entity.value  # written when added
        entity.written_at = self.clock.now
        self.writer.watch(entity, watches)
        return entity


def test_a_change_after_a_quiet_spell_is_written_at_the_next_flush() -> None:
    rig = Rig()
    cell = rig.entity(Pace.CELL, [("battery", "/Voltages/Cell1")])
    rig.clock.run_until(100.0)
    cell.value = 3.301
    rig.writer.changed("battery", "/Voltages/Cell1")
    rig.clock.run_until(101.0)
    assert cell.writes == [(100.0 + FLUSH_DELAY_S + PROBE_S, 3.301)]


def test_a_value_that_keeps_changing_is_written_once_per_interval() -> None:
    rig = Rig()
    cell = rig.entity(Pace.CELL, [("battery", "/Voltages/Cell1")])
    power = rig.entity(Pace.SLOW, [("battery", "/Soc")])
    rig.clock.run_until(100.0)
    for second in range(100, 131):
        cell.value = power.value = second  # a new reading every second
        rig.writer.changed("battery", "/Voltages/Cell1")
        rig.writer.changed("battery", "/Soc")
        rig.clock.run_until(second + 1.0)
    cell_times = [at for at, _value in cell.writes]
    assert len(cell_times) == 7  # 100.2, then every 5 s: ~31 s / 5 s + 1
    assert all(b - a >= 5.0 for a, b in itertools.pairwise(cell_times))
    slow_times = [at for at, _value in power.writes]
    assert len(slow_times) == 2 and slow_times[1] - slow_times[0] >= 30.0
    # The newest value is what gets written, never a stale one.
    assert cell.writes[-1][1] == 130


def test_only_the_watchers_of_a_path_are_marked() -> None:
    rig = Rig()
    cell_1 = rig.entity(Pace.CELL, [("battery", "/Voltages/Cell1")])
    cell_2 = rig.entity(Pace.CELL, [("battery", "/Voltages/Cell2")])
    spread = rig.entity(Pace.CELL, [("battery", "/Voltages/Cell*")])
    anything = rig.entity(Pace.EVENT, [("battery", None)])
    pv = rig.entity(Pace.FAST, [("system", "/Dc/Pv/Power")])
    rig.clock.run_until(10.0)
    for entity in (cell_1, cell_2, spread, anything, pv):
        entity.value = 1
    rig.writer.changed("battery", "/Voltages/Cell1", "/Voltages/Cell*")
    rig.clock.run_until(11.0)
    assert [bool(e.writes) for e in (cell_1, cell_2, spread, anything, pv)] == [
        True,
        False,
        True,
        True,
        False,
    ]


def test_events_are_not_rate_limited_and_live_writes_every_change_at_once() -> None:
    rig = Rig()
    alarm = rig.entity(Pace.EVENT, [("battery", "/Alarms/LowVoltage")])
    for second in range(3):
        alarm.value = second + 1
        rig.writer.changed("battery", "/Alarms/LowVoltage")
        rig.clock.run_until(second + 1.0)
    assert [value for _at, value in alarm.writes] == [1, 2, 3]

    live = Rig(UpdateInterval.LIVE)
    cell = live.entity(Pace.CELL, [("battery", "/Voltages/Cell1")])
    cell.value = 3.3
    live.writer.changed("battery", "/Voltages/Cell1")
    live.clock.run_until(0.0)  # the same instant: no delay, no probe
    assert cell.writes == [(0.0, 3.3)]


def test_urgent_marks_bypass_the_interval() -> None:
    rig = Rig()
    cell = rig.entity(Pace.CELL, [("battery", "/Voltages/Cell1")])
    cell.value = 1
    rig.writer.mark(cell, urgent=True)  # written a moment ago, but availability changed
    rig.clock.run_until(1.0)
    assert [value for _at, value in cell.writes] == [1]
    cell.value = 2
    rig.writer.mark_all()
    rig.clock.run_until(2.0)
    assert [value for _at, value in cell.writes] == [1, 2]


def test_a_holding_entity_keeps_its_state_and_looks_again() -> None:
    rig = Rig()
    spread = rig.entity(Pace.CELL, [("battery", None)])
    rig.clock.run_until(100.0)
    spread.hold = True
    spread.value = 42
    rig.writer.changed("battery", "/Voltages/Cell3")
    rig.clock.run_until(105.0)
    assert spread.writes == []
    assert rig.clock.pending() == 1  # it looks again every HOLD_RECHECK_S
    spread.hold = False  # the battery is complete again (no message needed)
    rig.clock.run_until(105.0 + HOLD_RECHECK_S + 1.0)
    assert [value for _at, value in spread.writes] == [42]
    assert rig.writer.idle


def test_a_burst_is_one_flush_after_it_ends() -> None:
    rig = Rig()
    cells = [rig.entity(Pace.CELL, [("battery", f"/Voltages/Cell{n}")]) for n in range(16)]
    spread = rig.entity(Pace.CELL, [("battery", "/Voltages/Cell*")])
    rig.clock.run_until(100.0)
    # A full publish: 920 messages over 0.5 s (a slow GX), the 16 cells spread among
    # them; the flush the first one asks for would fall in the middle.
    sent = {"n": 0}

    def pour(now: float) -> None:
        while sent["n"] < 920 and 100.0 + sent["n"] * 0.5 / 920 <= now:
            sent["n"] += 1
            rig.messages += 1
            if sent["n"] % 50 == 1 and sent["n"] // 50 < 16:
                number = sent["n"] // 50
                cells[number].value = sent["n"]
                spread.value = sent["n"]  # what the cells seen so far give
                rig.writer.changed("battery", f"/Voltages/Cell{number}", "/Voltages/Cell*")

    pour(100.0)
    for step in range(1, 400):
        rig.clock.run_until(100.0 + step * 0.005, during=pour)
        pour(rig.clock.now)
    assert sent["n"] == 920
    assert rig.writer.flushes == 1
    # Written once, after the burst, from all of it: not from the cells seen half-way.
    assert spread.writes == [(spread.writes[0][0], 751)]
    assert spread.writes[0][0] >= 100.5
    assert all(len(cell.writes) == 1 for cell in cells)  # every cell changed: once each


def test_a_long_stream_still_writes_once_per_burst_wait() -> None:
    rig = Rig()
    cell = rig.entity(Pace.CELL, [("battery", "/Voltages/Cell1")])
    rig.clock.run_until(100.0)

    def pour(now: float) -> None:
        rig.messages = int((now - 100.0) * 20_000)  # a blast: 20,000 messages a second
        cell.value = rig.messages
        rig.writer.changed("battery", "/Voltages/Cell1")

    pour(100.0)
    for step in range(1, 1201):
        rig.clock.run_until(100.0 + step * 0.01, during=pour)
        pour(rig.clock.now)
    times = [at for at, _value in cell.writes]
    assert 2 <= len(times) <= 3  # 12 s of blast, 5 s interval
    assert times[0] <= 100.0 + FLUSH_DELAY_S + BURST_WAIT_S + 2 * PROBE_S
    assert PROBE_MESSAGES < 20_000 * PROBE_S


def test_balancing_puts_cells_at_one_second() -> None:
    rig = Rig()
    cell = rig.entity(Pace.CELL, [("battery", "/Voltages/Cell1")])
    power = rig.entity(Pace.FAST, [("battery", "/Dc/0/Power")])
    rig.balancing = True
    rig.writer.refresh_settings()
    for step in range(1, 13):
        cell.value = power.value = step
        rig.writer.changed("battery", "/Voltages/Cell1")
        rig.writer.changed("battery", "/Dc/0/Power")
        rig.clock.run_until(step + 1.0)
    assert rig.writer.intervals[Pace.CELL] == 1.0
    assert len(cell.writes) == 12  # every second
    assert len(power.writes) == 2  # 5.02 and 10.02: a power keeps its 5 s


def test_unwatched_entities_are_forgotten_and_close_stops_everything() -> None:
    rig = Rig()
    cell = rig.entity(Pace.CELL, [("battery", "/Voltages/Cell1")])
    other = FakeEntity(Pace.EVENT, clock=rig.clock)
    unwatch = rig.writer.watch(other, [("battery", "/Voltages/Cell1")])
    rig.clock.run_until(100.0)
    cell.value = other.value = 1
    rig.writer.changed("battery", "/Voltages/Cell1")
    unwatch()
    unwatch()  # twice is harmless
    rig.writer.write_now(other)  # no longer watched: never written
    rig.clock.run_until(101.0)
    assert cell.writes and not other.writes
    cell.value = 2
    rig.writer.mark(cell, urgent=True)
    rig.writer.close()
    rig.clock.run_until(110.0)
    assert [value for _at, value in cell.writes] == [1]
    assert rig.writer.idle


def test_before_flush_hooks_run_and_their_marks_are_written_in_the_same_flush() -> None:
    rig = Rig()
    cell = rig.entity(Pace.CELL, [("battery", "/Voltages/Cell1")])
    calls: list[float] = []

    def hook() -> None:
        calls.append(rig.clock.now)
        cell.value += 1
        rig.writer.mark(cell, urgent=True)

    remove = rig.writer.before_flush(hook)
    rig.writer.request_flush()
    rig.clock.run_until(5.0)
    assert len(calls) == 1
    assert rig.writer.flushes == 1
    assert [value for _at, value in cell.writes] == [1]
    remove()
