"""The managed top balance: steps the pure controller and speaks through a virtual BMS.

Once a second the runner feeds the real battery's readings to
`logic.top_balance.TopBalanceController` and publishes its CVL/CCL/AllowToCharge as a
dbus-mqtt-battery JSON, which Venus follows as the BMS. The run is persisted, so a
Home Assistant restart resumes it or reverts to safe limits, never leaving an elevated
CVL behind. After a run the virtual BMS keeps announcing safe limits until the driver's
own timeout has passed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.storage import Store

from .const import (
    CONF_CHEMISTRY,
    CONF_VIRTUAL_BMS_INSTANCE,
    CONF_VIRTUAL_BMS_TOPIC,
    DEFAULT_CHEMISTRY,
    DOMAIN,
    LOGGER,
)
from .coordinator import VenusCoordinator
from .logic.soc_hold import SocHold
from .logic.top_balance.chemistry import PRESETS, ChemistryPreset
from .logic.top_balance.controller import (
    Decision,
    Measurements,
    TopBalanceController,
    TopBalanceSettings,
    TopBalanceState,
)
from .logic.top_balance.report import RunReport, report_from
from .logic.venus_state import dvcc_enabled, float_value
from .logic.venus_topics import SETTINGS
from .logic.virtual_bms import (
    DEFAULT_INSTANCE,
    DEFAULT_TOPIC,
    VirtualLimits,
    build_battery_json,
    is_complete,
    virtual_bms_status,
)
from .transport.mqtt_session import MqttSession, PublishFailed

STORAGE_VERSION = 1
TICK = timedelta(seconds=1)
DRIVER_GRACE_S = 30.0  # the driver must show up and be chosen as BMS within this
SAFE_TAIL_S = 70.0  # keep safe limits on the wire past the driver's 60 s timeout
PERSIST_EVERY_S = 30.0
MAX_DISCHARGE_A = 100.0
MAX_REPORTS = 20
RUNNING = frozenset({TopBalanceState.BULK, TopBalanceState.REGULATE, TopBalanceState.HOLD})
FINISHED = frozenset({TopBalanceState.DONE, TopBalanceState.ABORTED})


class TopBalanceRunner:
    """One managed top balance per Venus OS system."""

    def __init__(
        self, hass: HomeAssistant, coordinator: VenusCoordinator, session: MqttSession
    ) -> None:
        self.hass = hass
        self.coordinator = coordinator
        self.session = session
        entry = coordinator.config_entry
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry.entry_id}.top_balance"
        )
        self.target_cell_v: float | None = None  # None: the chemistry's own target
        self.max_current_a = 70.0
        self.bleed_current_a = 1.0
        self.controller = TopBalanceController()
        self.decision: Decision | None = None
        self.reports: list[RunReport] = []
        self._unsub_tick: CALLBACK_TYPE | None = None
        self._safe_until: float | None = None
        self._last_persist = 0.0
        self.published = 0
        self.on_finished: Callable[[], Coroutine[Any, Any, None]] | None = None
        self.hold: SocHold | None = None
        self.hold_target_pct = 80.0
        self._hold_started = 0.0

    # ----------------------------------------------------------------- lifecycle
    async def async_load(self) -> None:
        """Restore parameters, reports and a run that was going on (resume or revert)."""
        stored = await self._store.async_load() or {}
        params = stored.get("params", {})
        target = params.get("target_cell_v")
        self.target_cell_v = None if target is None else float(target)
        self.max_current_a = float(params.get("max_current_a", self.max_current_a))
        self.bleed_current_a = float(params.get("bleed_current_a", self.bleed_current_a))
        self.hold_target_pct = float(params.get("hold_target_pct", self.hold_target_pct))
        self.reports = []
        for data in stored.get("reports", []):
            try:
                self.reports.append(RunReport.from_dict(data))
            except (KeyError, TypeError, ValueError):
                LOGGER.warning("Skipping an unreadable top-balance report")
        if controller := stored.get("controller"):
            try:
                self.controller = TopBalanceController.from_dict(controller, time.time())
            except (KeyError, TypeError, ValueError):
                LOGGER.warning("Stored top-balance run unreadable; not resumed")
                self.controller = TopBalanceController()
            if self.active:
                LOGGER.info("Resuming the top balance that was running before the restart")
                self.coordinator.exclude_instances = frozenset({self.instance})
                self._start_ticking()
            elif self.controller.state is TopBalanceState.ABORTED:
                # Reverted while we were away: announce safe limits for a while.
                self._finish(time.time())

    @property
    def active(self) -> bool:
        """A run is going on."""
        return self.controller.state in RUNNING

    async def async_shutdown(self, reason: str = "home_assistant_stop") -> None:
        """Unload or stop: abort a run and leave safe limits on the wire."""
        if self.active:
            self.decision = self.controller.abort(reason, time.time())
            self._record_report()
            await self._publish(self.decision)
            await self._persist()
        if self.hold is not None:
            self.hold = None
            await self._publish_safe()
        self._stop_ticking()

    # ------------------------------------------------------------------- control
    @property
    def topic(self) -> str:
        """The dbus-mqtt-battery driver's JSON topic (options; the driver's default)."""
        topic = self.coordinator.config_entry.options.get(CONF_VIRTUAL_BMS_TOPIC)
        return topic if isinstance(topic, str) and topic else DEFAULT_TOPIC

    @property
    def instance(self) -> int:
        """The driver's device instance on the GX (options; the driver's default)."""
        instance = self.coordinator.config_entry.options.get(CONF_VIRTUAL_BMS_INSTANCE)
        return int(instance) if isinstance(instance, int | float) else DEFAULT_INSTANCE

    @property
    def preset(self) -> ChemistryPreset:
        """The chemistry chosen in the options."""
        key = self.coordinator.config_entry.options.get(CONF_CHEMISTRY, DEFAULT_CHEMISTRY)
        return PRESETS.get(key, PRESETS[DEFAULT_CHEMISTRY])

    @property
    def cell_target_v(self) -> float:
        """The cell target in force: the user's, if it fits the chemistry, else its own."""
        preset = self.preset
        target = self.target_cell_v
        if target is None or not preset.target_min_v <= target <= preset.max_cell_v:
            return preset.cell_target_v
        return target

    def settings(self) -> TopBalanceSettings:
        """Controller settings for the followed pack; ServiceValidationError if unknown."""
        battery = self.coordinator.battery()
        cells = 0 if battery is None else len(battery.cell_voltages())
        if battery is None or cells < 1:
            raise ServiceValidationError(translation_domain=DOMAIN, translation_key="pack_unknown")
        capacity = battery.value("/InstalledCapacity")
        feed_in = self.coordinator.link.state.value(SETTINGS, "/Settings/CGwacs/OvervoltageFeedIn")
        return TopBalanceSettings(
            cells=cells,
            preset=self.preset,
            target_cell_v=self.cell_target_v,
            dc_coupled_feed_in=feed_in == 1,
            max_current_a=self.max_current_a,
            bleed_current_a=self.bleed_current_a,
            capacity_ah=capacity if isinstance(capacity, float) and capacity > 0 else None,
        )

    async def async_set_parameters(
        self,
        *,
        target_cell_v: float | None = None,
        max_current_a: float | None = None,
        bleed_current_a: float | None = None,
        hold_target_pct: float | None = None,
    ) -> None:
        """Store new parameters (checked by the caller); they apply to the next run."""
        if hold_target_pct is not None:
            self.hold_target_pct = hold_target_pct
            if self.hold is not None:
                self.hold.target_pct = hold_target_pct
        if target_cell_v is not None:
            self.target_cell_v = target_cell_v
        if max_current_a is not None:
            self.max_current_a = max_current_a
        if bleed_current_a is not None:
            self.bleed_current_a = bleed_current_a
        await self._persist()

    async def async_start(self) -> None:
        """Begin a run; refuses (translated) when DVCC is off or the pack is unknown."""
        if self.active:
            return
        settings = self._checked_settings()
        self.hold = None
        self.coordinator.exclude_instances = frozenset({self.instance})
        self.decision = self.controller.start(time.time(), settings)
        self._safe_until = None
        await self._persist()
        self._start_ticking()

    async def async_start_hold(self) -> None:
        """Hold at SoC through the virtual BMS (charge current 0 A from the target on)."""
        self._checked_settings()
        if self.active:
            await self.async_stop()
        if self.hold is None:
            self.hold = SocHold(self.hold_target_pct)
            self._hold_started = time.time()
        self.coordinator.exclude_instances = frozenset({self.instance})
        self._safe_until = None
        self._start_ticking()

    async def async_stop_hold(self) -> None:
        """Stop holding: normal limits on the wire until the driver times out."""
        if self.hold is None:
            return
        self.hold = None
        self._safe_until = time.time() + SAFE_TAIL_S
        await self._publish_safe()

    def _checked_settings(self) -> TopBalanceSettings:
        settings = self.settings()
        if dvcc_enabled(self.coordinator.link.state) is not True:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                f"dvcc_disabled_{self.coordinator.config_entry.entry_id}",
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="dvcc_disabled",
                translation_placeholders={"portal_id": self.coordinator.portal_id},
            )
            raise ServiceValidationError(translation_domain=DOMAIN, translation_key="dvcc_required")
        return settings

    async def async_stop(self) -> None:
        """The user stops the run: safe limits at once."""
        if not self.active:
            return
        self.decision = self.controller.abort("stopped", time.time())
        self._finish(time.time())
        await self._publish(self.decision)
        await self._persist()

    # --------------------------------------------------------------------- loop
    def _start_ticking(self) -> None:
        if self._unsub_tick is None:
            self._unsub_tick = async_track_time_interval(self.hass, self._tick, TICK)

    def _stop_ticking(self) -> None:
        if self._unsub_tick is not None:
            self._unsub_tick()
            self._unsub_tick = None

    def measurements(self, now_s: float) -> Measurements:
        """What the controller needs, from the real battery (never our virtual one)."""
        battery = self.coordinator.battery()
        link = self.coordinator.link
        if battery is None or not battery.present:
            return Measurements(now_s, [], None, None, None, venus_alive=link.alive)
        cells = battery.cell_voltages()
        alarm = battery.alarm_active()
        allowed = battery.value("/Io/AllowToCharge")
        return Measurements(
            now_s=now_s,
            cell_voltages=[cells.get(number) for number in range(1, max(cells, default=0) + 1)],
            pack_voltage=float_value(battery.value("/Dc/0/Voltage")),
            pack_current=float_value(battery.value("/Dc/0/Current")),
            temperature_c=float_value(battery.value("/Dc/0/Temperature")),
            bms_alarm=alarm,
            venus_alive=link.alive,
            bms_allows_charge=allowed if isinstance(allowed, bool) else None,
        )

    @callback
    def _tick(self, _now: datetime) -> None:
        self.coordinator.config_entry.async_create_background_task(
            self.hass, self._async_tick(), "victron_balance top balance tick"
        )

    async def _async_tick(self) -> None:
        now = time.time()
        if self.active:
            self.decision = self.controller.step(self.measurements(now))
            if not self._driver_in_use(now, self.controller.started_s or now):
                self.decision = self.controller.abort("virtual_bms_missing", now)
            if self.controller.state in FINISHED:
                self._finish(now)
        elif self.hold is not None:
            await self._hold_tick(now)
            return
        elif self._safe_until is not None and now >= self._safe_until:
            self._safe_until = None
            self._stop_ticking()
            await self._persist()
            return
        elif self._safe_until is not None and self.decision is None:
            await self._publish_safe()
        if self.decision is not None:
            await self._publish(self.decision)
        if now - self._last_persist >= PERSIST_EVERY_S:
            await self._persist()
        self.coordinator.async_update_listeners()

    async def _hold_tick(self, now: float) -> None:
        hold = self.hold
        if hold is None:
            return
        if not self._driver_in_use(now, self._hold_started):
            self.hold = None
            self._safe_until = now + SAFE_TAIL_S
            return
        battery = self.coordinator.battery()
        soc = None if battery is None else float_value(battery.value("/Soc"))
        try:
            settings = self.settings()
        except ServiceValidationError:
            return  # the pack is unknown right now: nothing sensible to announce
        await self._publish_limits(
            settings.normal_cvl_v,
            hold.charge_current(soc, settings.normal_ccl_a),
            self.coordinator.link.alive,
        )
        self.coordinator.async_update_listeners()

    def _driver_in_use(self, now: float, started: float) -> bool:
        """After a grace period the driver must run and be DVCC's BMS; else a repair."""
        if now - started < DRIVER_GRACE_S:
            return True
        status = virtual_bms_status(self.coordinator.link.state, self.instance)
        issue_id = f"virtual_bms_missing_{self.coordinator.config_entry.entry_id}"
        if status.active:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return True
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="virtual_bms_missing",
            translation_placeholders={"topic": self.topic, "instance": str(self.instance)},
        )
        return False

    def _finish(self, now: float) -> None:
        self._record_report()
        self._safe_until = now + SAFE_TAIL_S
        self._start_ticking()
        if self.on_finished is not None:
            self.coordinator.config_entry.async_create_background_task(
                self.hass, self.on_finished(), "victron_balance top balance finished"
            )

    def _record_report(self) -> None:
        report = report_from(self.controller)
        if report is not None and (not self.reports or self.reports[-1] != report):
            self.reports = [*self.reports, report][-MAX_REPORTS:]

    async def _publish(self, decision: Decision) -> None:
        await self._publish_limits(decision.cvl_v, decision.ccl_a, decision.allow_to_charge)

    async def _publish_safe(self) -> None:
        """Normal limits for this pack (never an elevated voltage)."""
        try:
            settings = self.settings()
        except ServiceValidationError:
            return
        await self._publish_limits(settings.normal_cvl_v, settings.normal_ccl_a, True)

    async def _publish_limits(self, cvl: float, ccl: float, allow_to_charge: bool) -> None:
        battery = self.coordinator.battery()
        if battery is None:
            return
        limits = VirtualLimits(
            max_charge_voltage=cvl,
            max_charge_current=ccl,
            max_discharge_current=MAX_DISCHARGE_A,
            allow_to_charge=allow_to_charge,
        )
        document = build_battery_json(battery, limits)
        if not is_complete(document):
            return
        try:
            await self.session.publish(self.topic, json.dumps(document))
        except PublishFailed as err:
            LOGGER.debug("Virtual BMS not published: %s", err)
            return
        self.published += 1

    async def _persist(self) -> None:
        self._last_persist = time.time()
        await self._store.async_save(
            {
                "params": {
                    "target_cell_v": self.target_cell_v,
                    "max_current_a": self.max_current_a,
                    "bleed_current_a": self.bleed_current_a,
                    "hold_target_pct": self.hold_target_pct,
                },
                "controller": self.controller.to_dict(),
                "reports": [report.to_dict() for report in self.reports],
            }
        )
