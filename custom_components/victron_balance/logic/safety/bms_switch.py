"""Which BMS DVCC follows: the real one between runs, the virtual one during them (I5).

systemcalc takes its controlling BMS from `Settings/SystemSetup/BmsInstance`
(venus-observed 31-33): -1 = automatic (the lowest battery instance that publishes
`Info/MaxChargeVoltage`), -255 = none, else that instance; an instance that does not
exist means no BMS limits at all. `BmsSwitch` borrows the setting for a top-balance run
or a hold and gives the user's choice back afterwards:

* borrow: once the virtual BMS's service exists (so DVCC never points at nothing),
  remember the user's value and write the virtual instance;
* give back: write the remembered value. When that is "automatic" and automatic would
  pick the lingering virtual BMS (it outlives our last document by 60 s), write the
  real BMS's instance first and "automatic" once the virtual one has gone: 3 writes
  instead of 2, never a minute of DVCC following a frozen copy;
* a value found pointing at the virtual BMS with nothing running (a crash, or the old
  advice to pick it permanently), or "automatic" picking it, is given back the same way;
* someone changing the setting during a borrow is respected: `overridden` is reported
  and nothing is written back.

Every write still goes through `gx_settings.checked_write`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .gx_settings import BMS_AUTO


@dataclass(frozen=True, slots=True)
class SwitchView:
    """What the GX shows now."""

    bms_instance: int | None  # the setting as the GX confirmed it (None: not seen yet)
    bms_capable: Sequence[int]  # battery instances that publish Info/MaxChargeVoltage
    virtual_present: bool  # our driver's service exists (and is a BMS)
    virtual_is_ours: bool = True  # the service at the virtual instance is an MQTT Battery
    virtual_active: bool = False  # systemcalc follows the virtual BMS now


@dataclass
class BmsSwitch:
    """Borrow and give back `BmsInstance`; persisted across restarts (`to_dict`)."""

    virtual_instance: int
    borrowed: bool = False  # the GX confirmed our virtual instance
    previous: int | None = None  # the user's value before we borrowed
    final: int | None = None  # a last write still due (automatic after an interim instance)
    overridden: bool = False  # someone else changed it during a borrow (reported once)
    writes: int = 0

    def wanted(self, need_virtual: bool, view: SwitchView) -> int | None:
        """The value to write now (None: nothing to write)."""
        current = view.bms_instance
        if current is None:
            return None
        virtual = self.virtual_instance
        if need_virtual:
            self.final = None
            if current == virtual:
                if not self.borrowed:
                    self.borrowed = True
                    if self.previous is None:
                        # Found it there already: give back "automatic" afterwards.
                        self.previous = BMS_AUTO
                return None
            if self.borrowed:
                # Changed on the GX during a borrow: the user's word wins.
                self.borrowed = False
                self.overridden = True
                self.previous = None
                return None
            if not view.virtual_present:
                return None  # our documents create it; never point DVCC at nothing
            self.previous = current
            return virtual
        # Not needed (any more): give the user's choice back. DVCC following the
        # virtual BMS outside a run (automatic picking it, a crash) is stale too.
        stale = (current == virtual or view.virtual_active) and view.virtual_is_ours
        if self.borrowed or stale:
            target = BMS_AUTO if self.previous is None else self.previous
            if target == virtual:
                target = BMS_AUTO
            if target == BMS_AUTO and self._auto_picks_virtual(view):
                real = self._lowest_real(view)
                if real is not None:
                    self.final = BMS_AUTO
                    target = real
            if current != target:
                return target
            self._given_back()
            return None
        if self.final is not None:
            if current == self.final:
                self.final = None
                return None
            if self.final == BMS_AUTO and self._auto_picks_virtual(view):
                return None  # wait until the virtual BMS has gone
            return self.final
        return None

    def confirmed(self, value: int) -> None:
        """A write the GX echoed (counts it)."""
        self.writes += 1
        if value == self.virtual_instance:
            self.borrowed = True

    def _given_back(self) -> None:
        self.borrowed = False
        self.previous = None

    def _auto_picks_virtual(self, view: SwitchView) -> bool:
        if not view.virtual_present:
            return False
        capable = sorted(set(view.bms_capable) | {self.virtual_instance})
        return capable[0] == self.virtual_instance

    def _lowest_real(self, view: SwitchView) -> int | None:
        real = sorted(i for i in view.bms_capable if i != self.virtual_instance)
        return real[0] if real else None

    @property
    def settled(self) -> bool:
        """Nothing borrowed and nothing left to give back."""
        return not self.borrowed and self.final is None

    def to_dict(self) -> dict[str, Any]:
        """Persisted form."""
        return {"borrowed": self.borrowed, "previous": self.previous, "final": self.final}

    @classmethod
    def from_dict(cls, virtual_instance: int, data: Any) -> BmsSwitch:
        """Restore; anything unreadable is treated as "nothing borrowed"."""
        switch = cls(virtual_instance)
        if isinstance(data, dict):
            previous, final = data.get("previous"), data.get("final")
            switch.borrowed = data.get("borrowed") is True
            switch.previous = previous if isinstance(previous, int) else None
            switch.final = final if isinstance(final, int) else None
        return switch
