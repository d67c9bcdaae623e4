"""Entity states written on a flush tick: per-path dirty marks, rate-limited writes.

A message only updates the parsed state (`transport.venus_link`). The coordinator
turns each change into a mark on the entities that watch that path (an index built
as entities are added), and this writer writes the marked entities on a flush tick:
each at most once per interval of its pace (`logic.update_interval`), and only when
what it shows changed. A mark costs a few dictionary look-ups, so a full publish of
~900 topics costs no more than one flush.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable
from typing import Protocol

from .logic.update_interval import Pace, UpdateInterval, intervals

type Watch = tuple[str, str | None]  # (service type, path); None: any path of the service

FLUSH_DELAY_S = 0.2  # a change is written this soon after a quiet spell
# Before a flush the writer looks PROBE_S long: more than PROBE_MESSAGES arriving means
# a burst (a full publish: ~920 messages in ~20 ms, a BMS's 16 cells at once; a GX's
# steady traffic is ~50/s), and the flush waits for it to end, at most BURST_WAIT_S.
# So a full publish is one flush, and no derived value mixes old and new cells.
PROBE_S = 0.02
PROBE_MESSAGES = 10
BURST_WAIT_S = 1.0
HOLD_RECHECK_S = 1.0  # an entity waiting for a complete battery looks again this often


class WrittenEntity(Protocol):
    """What the writer needs from an entity."""

    pace: Pace
    written_at: float | None  # loop time of its last write; None: not written since added

    def holds(self) -> bool:
        """True while what it would show is not known to be true (keep the old state)."""

    def write_if_changed(self) -> bool:
        """Write the state if what it shows changed; True when it wrote."""


class StateWriter:
    """Dirty marks in, rate-limited state writes out (one per Venus coordinator)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        settings: Callable[[], tuple[UpdateInterval, bool]],
        activity: Callable[[], int] = lambda: 0,
    ) -> None:
        self._loop = loop
        self._settings = settings  # (preset, balancing): read once per flush
        self._activity = activity  # messages received so far (to see a burst)
        self._probe: tuple[int, float] | None = None  # (activity, since) while probing
        self._index: dict[Watch, set[WrittenEntity]] = {}
        self._entities: set[WrittenEntity] = set()
        self._dirty: set[WrittenEntity] = set()
        self._urgent: set[WrittenEntity] = set()
        self._before_flush: list[Callable[[], None]] = []
        self._handle: asyncio.Handle | None = None
        self._flush_at = math.inf
        self._flushing = False
        self._marked_while_flushing = False
        self.flushes = 0
        self.writes = 0
        self.refresh_settings()

    def refresh_settings(self) -> None:
        """Read the preset and whether cells go at the balancing pace (options, runs)."""
        preset, balancing = self._settings()
        self._live = preset is UpdateInterval.LIVE
        self._intervals = intervals(preset, balancing=balancing)

    @property
    def intervals(self) -> dict[Pace, float]:
        """The write interval of every pace now (seconds)."""
        return dict(self._intervals)

    # ------------------------------------------------------------------ entities
    def watch(self, entity: WrittenEntity, watches: Iterable[Watch]) -> Callable[[], None]:
        """Mark `entity` whenever one of the watched paths changes, until unwatched."""
        keys = tuple(dict.fromkeys(watches))
        self._entities.add(entity)
        for key in keys:
            self._index.setdefault(key, set()).add(entity)

        def unwatch() -> None:
            self._entities.discard(entity)
            self._dirty.discard(entity)
            self._urgent.discard(entity)
            for key in keys:
                watchers = self._index.get(key)
                if watchers is not None:
                    watchers.discard(entity)
                    if not watchers:
                        del self._index[key]

        return unwatch

    def before_flush(self, hook: Callable[[], None]) -> Callable[[], None]:
        """Run `hook` at the start of every flush (e.g. add entities for new cells)."""
        self._before_flush.append(hook)
        return lambda: self._before_flush.remove(hook)

    @property
    def idle(self) -> bool:
        """Nothing marked and no flush pending."""
        return not self._dirty and self._handle is None

    # ------------------------------------------------------------------ marks
    def changed(self, service: str, path: str | None, group: str | None = None) -> None:
        """A path of a service changed: mark who watches it (called per message)."""
        index = self._index
        if watchers := index.get((service, path)):
            self._mark_each(watchers)
        if group is not None and (watchers := index.get((service, group))):
            self._mark_each(watchers)
        if watchers := index.get((service, None)):
            self._mark_each(watchers)

    def _mark_each(self, watchers: set[WrittenEntity]) -> None:
        for entity in watchers:
            self.mark(entity)

    def mark(self, entity: WrittenEntity, *, urgent: bool = False) -> None:
        """What `entity` shows may have changed.

        Urgent marks (liveness, a path or a device that appeared or vanished, new
        options) are written at the next flush whatever the interval: availability
        must never lag behind.
        """
        if urgent:
            self._urgent.add(entity)
            due = -math.inf
        elif entity in self._dirty:
            return  # a flush is already due for it
        else:
            written = entity.written_at
            due = -math.inf if written is None else written + self._intervals[entity.pace]
        self._dirty.add(entity)
        self._schedule(due)

    def write_now(self, entity: WrittenEntity) -> None:
        """Write `entity` at once if what it shows changed (an event, a user's action)."""
        if entity in self._entities and not entity.holds() and entity.write_if_changed():
            entity.written_at = self._loop.time()
            self.writes += 1

    def mark_all(self) -> None:
        """Every entity, urgently (liveness changed, options changed)."""
        for entity in self._entities:
            self.mark(entity, urgent=True)

    def request_flush(self) -> None:
        """Flush soon even if nothing is marked (the before-flush hooks have work)."""
        self._schedule(-math.inf)

    def close(self) -> None:
        """Stop flushing (the entry unloads)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._flush_at = math.inf
        self._probe = None
        self._dirty.clear()
        self._urgent.clear()

    # ------------------------------------------------------------------ the tick
    def _schedule(self, due: float) -> None:
        if self._flushing:
            self._marked_while_flushing = True
            return
        now = self._loop.time()
        at = max(due, now if self._live else now + FLUSH_DELAY_S)
        if at >= self._flush_at:
            return
        if self._handle is not None:
            self._handle.cancel()
        self._flush_at = at
        if at <= now:
            self._handle = self._loop.call_soon(self._flush)
        else:
            self._handle = self._loop.call_at(at, self._flush)

    def _flush(self) -> None:
        self._handle = None
        if self._wait_for_quiet():
            self._handle = self._loop.call_later(PROBE_S, self._flush)
            return
        self._flush_at = math.inf
        self.flushes += 1
        self._flushing = True
        try:
            next_at = self._write_due()
        finally:
            self._flushing = False
        if self._marked_while_flushing:
            next_at = -math.inf
        if self._dirty:
            self._schedule(next_at)

    def _wait_for_quiet(self) -> bool:
        """Whether to look again in PROBE_S before flushing (see PROBE_MESSAGES)."""
        if self._live:
            return False
        activity, now = self._activity(), self._loop.time()
        probe = self._probe
        if probe is None:
            self._probe = (activity, now)
            return True
        seen, since = probe
        if activity - seen > PROBE_MESSAGES and now - since < BURST_WAIT_S:
            self._probe = (activity, since)
            return True
        # Quiet (or a long stream, a blast: written once per BURST_WAIT_S anyway).
        self._probe = None
        return False

    def _write_due(self) -> float:
        """Write every due entity; return when the next one that waits is due."""
        for hook in list(self._before_flush):
            hook()
        self._marked_while_flushing = False  # what the hooks marked is written now
        self.refresh_settings()
        now = self._loop.time()
        dirty, self._dirty = self._dirty, set()
        urgent, self._urgent = self._urgent, set()
        next_at = math.inf
        for entity in dirty:
            if entity not in self._entities:
                continue  # removed meanwhile
            if entity.holds():
                self._dirty.add(entity)
                next_at = min(next_at, now + HOLD_RECHECK_S)
                continue
            written = entity.written_at
            if written is not None and entity not in urgent:
                due = written + self._intervals[entity.pace]
                if due > now:
                    self._dirty.add(entity)
                    next_at = min(next_at, due)
                    continue
            if entity.write_if_changed():
                entity.written_at = now
                self.writes += 1
        return next_at
