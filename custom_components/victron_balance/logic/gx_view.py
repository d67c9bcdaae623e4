"""What the GX shows, as one immutable view for the charge supervisor.

`gx_view` builds it from the integration's `VenusState`; the benchmarks build it the
same way from the simulator's pure plant, so the supervisor sees one picture however
it is run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .safety.bms_switch import SwitchView
from .safety.pack import ConfirmedPack
from .safety.real_bms import BmsReading
from .top_balance.chemistry import ChemistryPreset
from .venus_state import VenusState, dvcc_enabled
from .venus_topics import SETTINGS, ServiceKey
from .virtual_bms import is_mqtt_battery, virtual_bms_status

BMS_INSTANCE_PATH = "/Settings/SystemSetup/BmsInstance"
FEED_IN_PATH = "/Settings/CGwacs/OvervoltageFeedIn"


@dataclass(frozen=True, slots=True)
class GxView:
    """What the GX shows at one step (built from the integration's Venus state)."""

    now_s: float  # wall clock (epoch): runs are persisted with it
    mono_s: float  # monotonic: budgets, grace periods, the tail
    alive: bool
    dvcc_on: bool | None
    pack: ConfirmedPack | None
    battery_items: Mapping[str, Any] | None  # the real battery; None when absent
    settings: Mapping[str, Any]  # settings/0 as the GX confirmed it
    switch: SwitchView
    virtual_active: bool  # DVCC follows the virtual BMS now
    preset: ChemistryPreset
    feed_in: bool = False  # DC-coupled feed-in: MPPTs ignore CCL

    def reading(self, cells: int) -> BmsReading | None:
        """The real BMS with `cells` cells, or None when the battery is absent."""
        items = self.battery_items
        return None if not items else BmsReading.of(items, cells)

    def setting(self, path: str) -> float | None:
        """A settings value as a number (None when unknown)."""
        value = self.settings.get(path)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)


def gx_view(
    state: VenusState,
    *,
    battery_instance: int | None,
    virtual_instance: int,
    pack: ConfirmedPack | None,
    alive: bool,
    preset: ChemistryPreset,
    now_s: float,
    mono_s: float,
) -> GxView:
    """The view of one Venus state; `battery_instance` is the real battery followed."""
    settings = state.services.get(SETTINGS, {})
    battery_items = None
    if battery_instance is not None and battery_instance != virtual_instance:
        battery_items = state.services.get(ServiceKey("battery", battery_instance)) or None
    virtual_items = state.services.get(ServiceKey("battery", virtual_instance))
    status = virtual_bms_status(state, virtual_instance)
    bms_capable = [
        key.instance
        for key, items in state.services.items()
        if key.service == "battery" and isinstance(items.get("/Info/MaxChargeVoltage"), float)
    ]
    bms_instance = settings.get(BMS_INSTANCE_PATH)
    return GxView(
        now_s=now_s,
        mono_s=mono_s,
        alive=alive,
        dvcc_on=dvcc_enabled(state),
        pack=pack,
        battery_items=battery_items,
        settings=settings,
        switch=SwitchView(
            bms_instance=bms_instance if isinstance(bms_instance, int) else None,
            bms_capable=sorted(bms_capable),
            virtual_present=status.is_bms,
            virtual_is_ours=virtual_items is None or is_mqtt_battery(virtual_items),
            virtual_active=status.active,
        ),
        virtual_active=status.active,
        preset=preset,
        feed_in=settings.get(FEED_IN_PATH) == 1,
    )
