"""A pack description that may be acted on: complete, stable and confirmed (I4).

After a driver restart a battery's ~181 topics arrive one by one, and when it stops
they vanish one by one (venus-observed 35); dbus-mqtt-battery reports
`NrOfCellsPerBattery` 0 when its JSON carries no cell count (34). Anything derived
from "the cells seen so far" (the cell count, the charge-voltage window, the spread)
is wrong in between. `PackTracker` therefore confirms a description only when

* a full publish completed after the last change of the battery's shape (the GX has
  sent everything it holds), and
* the shape stayed the same for `confirm_s` since that change (a full publish that
  caught a driver half-way through its re-registration is followed by more paths), and
* the shape is plausible: cells 1..N all present, and N equal to a non-zero reported
  cell count.

While a description is not confirmed nothing is written to the GX's flash from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..venus_values import CELL_VOLTAGE_PATH

CELL_COUNT_PATH = "/System/NrOfCellsPerBattery"
CONFIRM_S = 5.0  # a driver re-registers within milliseconds; 5 s is a wide margin
RESYNC_AFTER_S = 1.0  # ask for a full publish this long after the shape last changed
RESYNC_EVERY_S = 30.0  # an unanswered request is repeated this often
RESYNC_MIN_SPACING_S = 5.0  # never more often than this
RECOUNT_S = 600.0  # a different cell count without a reported one must last this long


@dataclass(frozen=True, slots=True)
class PackShape:
    """What a battery service consists of right now (not its readings)."""

    instance: int
    cells: tuple[int, ...]  # numbers of the cells that have a voltage path
    reported: int | None  # NrOfCellsPerBattery; None or 0: unknown

    @classmethod
    def of(cls, instance: int, items: Mapping[str, Any]) -> PackShape:
        """The shape of one battery service's items."""
        cells = sorted(
            int(match.group(1)) for path in items if (match := CELL_VOLTAGE_PATH.match(path))
        )
        reported = items.get(CELL_COUNT_PATH)
        count = reported if isinstance(reported, int) and not isinstance(reported, bool) else None
        return cls(instance, tuple(cells), count or None)

    def problem(self) -> str | None:
        """Why this shape cannot describe a pack, or None when it can."""
        if not self.cells:
            return "no cell voltages"
        if list(self.cells) != list(range(1, len(self.cells) + 1)):
            return f"cells are not numbered 1..N: {list(self.cells)}"
        if self.reported is not None and self.reported != len(self.cells):
            return f"the BMS reports {self.reported} cells but publishes {len(self.cells)}"
        return None


@dataclass(frozen=True, slots=True)
class ConfirmedPack:
    """A battery whose cell count is known for sure."""

    instance: int
    cells: int


class PackTracker:
    """Confirms the followed battery's shape; see the module docstring."""

    def __init__(
        self,
        confirm_s: float | None = None,
        resync_after_s: float = RESYNC_AFTER_S,
        resync_every_s: float = RESYNC_EVERY_S,
    ) -> None:
        # Read at construction (not bound as a default) so tests can shorten it.
        self.confirm_s = CONFIRM_S if confirm_s is None else confirm_s
        self.resync_after_s = resync_after_s
        self.resync_every_s = resync_every_s
        self.recount_s = RECOUNT_S
        self.shape: PackShape | None = None
        self.changed_s: float | None = None  # None: nothing observed yet
        self.full_publish_s: float | None = None
        # Order of events (timestamps can be equal): a full publish confirms only the
        # shape that was there before it completed.
        self._seq = 0
        self._changed_seq = 0
        self._published_seq = -1
        self._resync_requested_s: float | None = None
        self.last_confirmed: ConfirmedPack | None = None
        self.changes = 0

    def observe(self, now_s: float, shape: PackShape | None) -> None:
        """The followed battery's shape as it is now (None: no battery)."""
        if self.changed_s is not None and shape == self.shape:
            return
        self.shape = shape
        self.changed_s = now_s
        self.changes += 1
        self._seq += 1
        self._changed_seq = self._seq

    def full_publish_completed(self, now_s: float) -> None:
        """The GX finished publishing every topic it holds."""
        self.full_publish_s = now_s
        self._seq += 1
        self._published_seq = self._seq

    def stable(self, now_s: float) -> bool:
        """The shape is complete as far as the GX can tell, whatever it is.

        A full publish completed after its last change, and it stayed the same for
        `confirm_s` since (a battery without cell voltages can be stable too).
        """
        changed, published = self.changed_s, self.full_publish_s
        if changed is None or published is None:
            return False
        return self._published_seq >= self._changed_seq and now_s - changed >= self.confirm_s

    def confirmed(self, now_s: float) -> ConfirmedPack | None:
        """The confirmed description, or None while it is not (yet) sure."""
        shape, changed = self.shape, self.changed_s
        if shape is None or changed is None or shape.problem() or not self.stable(now_s):
            return None
        pack = ConfirmedPack(shape.instance, len(shape.cells))
        known = self.last_confirmed
        if (
            known is not None
            and known.instance == pack.instance
            and known.cells != pack.cells
            and shape.reported is None
            and now_s - changed < self.recount_s
        ):
            # A cell gone (or new) with no cell count from the BMS: a glitch looks the
            # same as a rebuilt pack. Only a change that lasts is believed.
            return None
        self.last_confirmed = pack
        return pack

    def wants_full_publish(self, now_s: float) -> bool:
        """Whether to ask the GX for a full publish to confirm a changed shape.

        Rate-limited: `requested` must be called when it was asked for.
        """
        changed = self.changed_s
        if changed is None or self._published_seq >= self._changed_seq:
            return False
        if now_s - changed < self.resync_after_s:
            return False
        last = self._resync_requested_s
        if last is None:
            return True
        # A new change may ask again soon; an unanswered request is repeated slowly.
        spacing = RESYNC_MIN_SPACING_S if last < changed else self.resync_every_s
        return now_s - last >= spacing

    def requested(self, now_s: float) -> None:
        """A full publish was asked for."""
        self._resync_requested_s = now_s

    def status(self, now_s: float) -> dict[str, Any]:
        """For diagnostics."""
        shape = self.shape
        confirmed = self.confirmed(now_s)
        return {
            "confirmed_cells": None if confirmed is None else confirmed.cells,
            "shape_cells": None if shape is None else len(shape.cells),
            "reported_cells": None if shape is None else shape.reported,
            "problem": None if shape is None else shape.problem(),
            "changes": self.changes,
        }
