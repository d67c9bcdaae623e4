"""Charge control through DVCC user limits: the Home Assistant side.

Holds the user's choice (mode and limits, kept in a Store across restarts), turns it
into the two GX settings with the pure `logic.dvcc_limits`, and writes them through the
Venus link: only on change, spaced by a write budget, each one confirmed by its echo.
Raises a repair issue while a mode needs DVCC and DVCC is off.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.storage import Store

from .const import CONF_CHEMISTRY, DEFAULT_CHEMISTRY, DOMAIN, LOGGER
from .coordinator import VenusCoordinator
from .logic.dvcc_limits import (
    MAX_CHARGE_CURRENT_PATH,
    MAX_CHARGE_VOLTAGE_PATH,
    ChargeMode,
    DvccTarget,
    LimitBounds,
    WriteBudget,
    charger_follows,
    dvcc_target,
)
from .logic.top_balance.chemistry import PRESETS
from .logic.venus_state import charger_current_limit, dvcc_enabled
from .logic.venus_topics import SETTINGS
from .transport.mqtt_session import SessionError

STORAGE_VERSION = 1
VERIFY_AFTER_S = 15.0  # systemcalc hands a new limit to the chargers within 1.3-2.3 s
DEFAULT_CURRENT_MAX_A = 200


@dataclass
class ChargeSettings:
    """What the user asked for."""

    mode: ChargeMode = ChargeMode.FOLLOW_BMS
    current_a: float = 50.0
    voltage_v: float | None = None  # None: the pack's nominal top until set

    def to_dict(self) -> dict[str, Any]:
        """Stored form."""
        return {"mode": self.mode.value, "current_a": self.current_a, "voltage_v": self.voltage_v}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChargeSettings:
        """From the store; anything unreadable falls back to following the BMS."""
        try:
            voltage = data.get("voltage_v")
            return cls(
                ChargeMode(data["mode"]),
                float(data["current_a"]),
                None if voltage is None else float(voltage),
            )
        except (KeyError, TypeError, ValueError):
            LOGGER.warning("Stored charge settings unreadable; following the BMS")
            return cls()


class ChargeControl:
    """Applies the user's charge limits to the GX."""

    def __init__(self, hass: HomeAssistant, coordinator: VenusCoordinator) -> None:
        self.hass = hass
        self.coordinator = coordinator
        entry = coordinator.config_entry
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry.entry_id}.charge_control"
        )
        self.settings = ChargeSettings()
        self.budget = WriteBudget()
        self._retry: CALLBACK_TYPE | None = None
        self._last_error: str | None = None
        self._ready = False  # link alive and pack known at the last look
        self._verify: CALLBACK_TYPE | None = None
        self._apply_lock = asyncio.Lock()

    @callback
    def async_on_venus_update(self) -> None:
        """Apply again when Venus comes back or the pack becomes known.

        Not on every GX change: the settings are written only when our wish changes or
        after a gap, never in a tug of war with someone editing them on the GX.
        """
        self._update_repair_issue()  # DVCC switched on or off on the GX
        ready = self.coordinator.link.alive and self.bounds() is not None
        if ready and not self._ready:
            self.coordinator.config_entry.async_create_background_task(
                self.hass, self._apply_quietly(), "victron_balance charge limits"
            )
        self._ready = ready

    async def async_load(self) -> None:
        """Restore the user's choice."""
        stored = await self._store.async_load()
        if stored:
            self.settings = ChargeSettings.from_dict(stored)

    @callback
    def async_shutdown(self) -> None:
        """Stop a pending retry."""
        if self._retry is not None:
            self._retry()
            self._retry = None
        if self._verify is not None:
            self._verify()
            self._verify = None

    @property
    def repair_issue_id(self) -> str:
        """One DVCC repair issue per entry."""
        return f"dvcc_disabled_{self.coordinator.config_entry.entry_id}"

    def bounds(self) -> LimitBounds | None:
        """Limits for this pack, or None while the cell count is unknown."""
        battery = self.coordinator.battery()
        if battery is None:
            return None
        cells = len(battery.cell_voltages())
        if not cells:
            reported = battery.value("/System/NrOfCellsPerBattery")
            cells = reported if isinstance(reported, int) else 0
        if cells < 1:
            return None
        key = self.coordinator.config_entry.options.get(CONF_CHEMISTRY, DEFAULT_CHEMISTRY)
        preset = PRESETS.get(key, PRESETS[DEFAULT_CHEMISTRY])
        return LimitBounds.for_pack(
            cells, preset.min_cell_v, preset.max_cell_v, DEFAULT_CURRENT_MAX_A
        )

    def voltage_or_default(self, bounds: LimitBounds) -> float:
        """The voltage limit, starting at the top of the window until the user sets one."""
        voltage = self.settings.voltage_v
        return bounds.voltage_max_v if voltage is None else voltage

    def writes_last_hour(self) -> int:
        """Flash writes to the GX in the last hour."""
        return self.budget.per_hour(self.hass.loop.time())

    async def async_update(
        self,
        *,
        mode: ChargeMode | None = None,
        current_a: float | None = None,
        voltage_v: float | None = None,
    ) -> None:
        """Change the settings (already validated by the caller) and apply them."""
        if mode is not None:
            self.settings.mode = mode
        if current_a is not None:
            self.settings.current_a = current_a
        if voltage_v is not None:
            self.settings.voltage_v = voltage_v
        await self._store.async_save(self.settings.to_dict())
        await self.async_apply()

    def target(self) -> DvccTarget | None:
        """The settings the GX should hold now, None when the pack is not known yet."""
        bounds = self.bounds()
        if bounds is None:
            return None
        return dvcc_target(
            self.settings.mode, self.settings.current_a, self.voltage_or_default(bounds), bounds
        )

    async def async_apply(self) -> None:
        """Write what differs, if the budget allows; otherwise try again later."""
        # One at a time: a second apply during the first one's awaited write would see
        # the old value on the GX and write it again (a wasted flash write).
        async with self._apply_lock:
            await self._async_apply()

    async def _async_apply(self) -> None:
        self._update_repair_issue()
        target = self.target()
        if target is None:
            return
        state = self.coordinator.link.state
        wanted = {
            MAX_CHARGE_CURRENT_PATH: target.max_charge_current,
            MAX_CHARGE_VOLTAGE_PATH: target.max_charge_voltage,
        }
        for path, value in wanted.items():
            current = state.value(SETTINGS, path)
            if current is not None and float(current) == float(value):
                continue
            wait = self.budget.wait_s(path, self.hass.loop.time())
            if wait > 0:
                self._schedule_retry(wait)
                continue
            try:
                echoed = await self.coordinator.link.write(SETTINGS, path, value)
            except SessionError as err:
                self._last_error = str(err)
                raise HomeAssistantError(
                    translation_domain=DOMAIN,
                    translation_key="write_failed",
                    translation_placeholders={
                        "setting": path.rsplit("/", 1)[-1],
                        "error": str(err),
                    },
                ) from err
            self.budget.record(path, self.hass.loop.time())
            LOGGER.info("Set %s to %s (confirmed %s)", path, value, echoed)
            if path == MAX_CHARGE_CURRENT_PATH and target.max_charge_current >= 0:
                self._schedule_verification()

    @property
    def follow_issue_id(self) -> str:
        """One "charger does not follow" repair issue per entry."""
        return f"charger_not_following_{self.coordinator.config_entry.entry_id}"

    def _schedule_verification(self) -> None:
        """DVCC applies a new limit to the chargers within seconds; check that it did."""
        if self._verify is not None:
            self._verify()

        @callback
        def verify(_now: Any) -> None:
            self._verify = None
            self.verify_charger_follows()

        self._verify = async_call_later(self.hass, VERIFY_AFTER_S, verify)

    @callback
    def verify_charger_follows(self) -> None:
        """The charger's Link/ChargeCurrent must not exceed our limit (if a charger exists)."""
        target = self.target()
        handed = charger_current_limit(self.coordinator.link.state)
        if target is None or target.max_charge_current < 0 or handed is None:
            return
        if not charger_follows(target.max_charge_current, handed):
            LOGGER.warning(
                "The charger got %.1f A although the limit is %d A",
                handed,
                target.max_charge_current,
            )
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self.follow_issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="charger_not_following",
                translation_placeholders={
                    "limit": str(target.max_charge_current),
                    "handed": f"{handed:.1f}",
                },
            )
        else:
            ir.async_delete_issue(self.hass, DOMAIN, self.follow_issue_id)

    def _schedule_retry(self, delay: float) -> None:
        if self._retry is not None:
            return

        @callback
        def retry(_now: Any) -> None:
            self._retry = None
            self.coordinator.config_entry.async_create_background_task(
                self.hass, self._apply_quietly(), "victron_balance charge limits retry"
            )

        self._retry = async_call_later(self.hass, delay, retry)

    async def _apply_quietly(self) -> None:
        try:
            await self.async_apply()
        except HomeAssistantError as err:
            LOGGER.warning("Charge limits not applied: %s", err)

    def _update_repair_issue(self) -> None:
        needs_dvcc = self.settings.mode is ChargeMode.LIMITED
        if needs_dvcc and dvcc_enabled(self.coordinator.link.state) is False:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self.repair_issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="dvcc_disabled",
                translation_placeholders={"portal_id": self.coordinator.portal_id},
            )
        else:
            ir.async_delete_issue(self.hass, DOMAIN, self.repair_issue_id)


async def async_return_to_follow_bms(control: ChargeControl) -> None:
    """After a top balance the mode goes back to following the BMS."""
    if control.settings.mode is ChargeMode.TOP_BALANCE:
        await control.async_update(mode=ChargeMode.FOLLOW_BMS)
