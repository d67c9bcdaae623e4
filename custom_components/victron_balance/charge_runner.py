"""Charge control on the Home Assistant side: runs the pure supervisor, sends its output.

`ChargeRunner` (one per config entry) keeps the user's charge mode, limits and
top-balance parameters in a Store, steps `logic.charge_supervisor.ChargeSupervisor`
once a second and on every user action, and sends what it returns: the virtual BMS's
document (published on the driver's topic) and the settings writes (each confirmed by
the GX's echo). Both are objects only `logic.safety` makes; nothing else is sent.
Events become log lines and repair issues.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later, async_track_time_interval
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
from .listeners import Listeners
from .logic.charge_supervisor import (
    ChargeSupervisor,
    Event,
    EventKind,
    Refused,
    Step,
    limit_bounds,
)
from .logic.dvcc_limits import ChargeMode, LimitBounds, charger_follows
from .logic.gx_view import GxView, gx_view
from .logic.log_limiter import RateLimitedLogger
from .logic.safety.envelope import Document
from .logic.safety.gx_settings import (
    BMS_INSTANCE_PATH,
    MAX_CHARGE_CURRENT_PATH,
    MAX_CHARGE_VOLTAGE_PATH,
    SettingWrite,
)
from .logic.top_balance.chemistry import PRESETS, ChemistryPreset
from .logic.venus_state import charger_current_limit, dvcc_enabled
from .logic.venus_topics import SETTINGS
from .logic.virtual_bms import DEFAULT_INSTANCE, DEFAULT_TOPIC
from .transport.mqtt_session import MqttSession, PublishFailed, SessionError

STORAGE_VERSION = 1
TICK = timedelta(seconds=1)
PERSIST_EVERY_S = 30.0
VERIFY_AFTER_S = 15.0  # systemcalc hands a new current limit to the chargers in 1.3-2.3 s
SHUTDOWN_WRITE_TIMEOUT_S = 10.0

_LOG_LEVELS: dict[EventKind, int] = {
    EventKind.TOP_BALANCE_STARTED: 20,
    EventKind.TOP_BALANCE_DONE: 20,
    EventKind.TOP_BALANCE_STOPPED: 20,
    EventKind.HOLD_STARTED: 20,
    EventKind.HOLD_STOPPED: 20,
    EventKind.TOP_BALANCE_ABORTED: 30,
    EventKind.HOLD_ENDED: 30,
    EventKind.VIRTUAL_BMS_MISSING: 30,
    EventKind.BMS_CHANGED_ON_GX: 30,
    EventKind.TAIL_TIMEOUT: 30,
    EventKind.WRITE_REFUSED: 40,
}
_LOG_TEXT: dict[EventKind, str] = {
    EventKind.TOP_BALANCE_STARTED: "Top balance started (%s)",
    EventKind.TOP_BALANCE_DONE: "Top balance finished: every cell at the top (%s)",
    EventKind.TOP_BALANCE_STOPPED: "Top balance stopped (%s)",
    EventKind.TOP_BALANCE_ABORTED: "Top balance aborted: %s",
    EventKind.HOLD_STARTED: "Hold at SoC started (%s)",
    EventKind.HOLD_STOPPED: "Hold at SoC stopped (%s)",
    EventKind.HOLD_ENDED: "Hold at SoC ended: %s",
    EventKind.VIRTUAL_BMS_MISSING: "DVCC does not follow the virtual BMS (%s); see the repair",
    EventKind.BMS_CHANGED_ON_GX: "The controlling BMS was changed on the GX (%s); giving way",
    EventKind.TAIL_TIMEOUT: "Virtual BMS: %s; stopped sending anyway",
    EventKind.WRITE_REFUSED: "Not written to the GX: %s",
}


def _preset(coordinator: VenusCoordinator) -> ChemistryPreset:
    key = coordinator.config_entry.options.get(CONF_CHEMISTRY, DEFAULT_CHEMISTRY)
    return PRESETS.get(key, PRESETS[DEFAULT_CHEMISTRY])


class ChargeRunner:
    """Charge modes, limits and the managed top balance of one Venus OS system."""

    def __init__(
        self, hass: HomeAssistant, coordinator: VenusCoordinator, session: MqttSession
    ) -> None:
        self.hass = hass
        self.coordinator = coordinator
        self.session = session
        entry = coordinator.config_entry
        self.entry_id = entry.entry_id
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry.entry_id}.charge"
        )
        self.supervisor = ChargeSupervisor(self.virtual_instance)
        self._unsub_tick: CALLBACK_TYPE | None = None
        self._verify: CALLBACK_TYPE | None = None
        self._writes: deque[SettingWrite] = deque()
        self._writer: asyncio.Task[None] | None = None
        self._last_persist = 0.0
        self._dirty = False  # something worth persisting happened since the last save
        self._log = RateLimitedLogger(LOGGER)
        self._listeners: Listeners[[]] = Listeners()
        self.published = 0
        self.confirmed_writes = 0
        self.failed_writes = 0
        self._closed = False

    # ------------------------------------------------------------------ options
    @property
    def topic(self) -> str:
        """The dbus-mqtt-battery driver's JSON topic (options; the driver's default)."""
        topic = self.coordinator.config_entry.options.get(CONF_VIRTUAL_BMS_TOPIC)
        return topic if isinstance(topic, str) and topic else DEFAULT_TOPIC

    @property
    def virtual_instance(self) -> int:
        """The driver's device instance on the GX (options; the driver's default)."""
        instance = self.coordinator.config_entry.options.get(CONF_VIRTUAL_BMS_INSTANCE)
        return int(instance) if isinstance(instance, int | float) else DEFAULT_INSTANCE

    @property
    def preset(self) -> ChemistryPreset:
        """The chemistry chosen in the options."""
        return _preset(self.coordinator)

    # ------------------------------------------------------------------ views
    def view(self) -> GxView:
        """What the GX shows now, for the supervisor."""
        coordinator = self.coordinator
        mono = self.hass.loop.time()
        return gx_view(
            coordinator.link.state,
            battery_instance=coordinator.battery_instance,
            virtual_instance=self.virtual_instance,
            pack=coordinator.pack(),
            alive=coordinator.link.alive,
            preset=self.preset,
            now_s=time.time(),
            mono_s=mono,
        )

    @property
    def mode(self) -> ChargeMode:
        """The charge mode in force."""
        return self.supervisor.settings.mode

    def bounds(self) -> LimitBounds | None:
        """What the limit numbers accept for the confirmed pack (None: not known yet)."""
        return limit_bounds(self.coordinator.pack(), self.preset)

    def gx_limit(self, path: str) -> float | None:
        """A DVCC user limit as the GX confirmed it; None when off (-1 / 0) or unknown."""
        value = self.coordinator.link.state.value(SETTINGS, path)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if path == MAX_CHARGE_CURRENT_PATH:
            return float(value) if value >= 0 else None
        return float(value) if value > 0 else None

    def writes_last_hour(self) -> int:
        """Settings writes sent to the GX in the last hour (flash wear)."""
        return self.supervisor.budget.per_hour(self.hass.loop.time())

    # ------------------------------------------------------------------ listeners
    @callback
    def async_add_listener(self, update: Callable[[], None]) -> Callable[[], None]:
        """Be told after every step (the entities of the top balance, the numbers)."""
        return self._listeners.add(update)

    # ------------------------------------------------------------------ lifecycle
    async def async_load(self) -> None:
        """Restore the stored choice and a run that was going on (resume or revert)."""
        data = await self._store.async_load()
        if data is None:
            data = await self._migrate()
        if data:
            supervisor, problems = ChargeSupervisor.from_dict(
                self.virtual_instance, data, time.time(), self.hass.loop.time()
            )
            for problem in problems:
                LOGGER.warning("Stored charge control partly unreadable: %s", problem)
            self.supervisor = supervisor
            # A driver we fed before a restart may still be there: never follow it.
            self.coordinator.virtual_owned = supervisor.control is not None
            if supervisor.running:
                LOGGER.info("Resuming the top balance that was running before the restart")
        self._start_ticking()

    async def _migrate(self) -> dict[str, Any] | None:
        """Read the stores of versions that kept the mode and the top balance apart."""
        entry_id = self.entry_id
        old_charge = await Store[dict[str, Any]](
            self.hass, 1, f"{DOMAIN}.{entry_id}.charge_control"
        ).async_load()
        old_top = await Store[dict[str, Any]](
            self.hass, 1, f"{DOMAIN}.{entry_id}.top_balance"
        ).async_load()
        if not old_charge and not old_top:
            return None
        data: dict[str, Any] = {}
        if old_charge:
            data["settings"] = old_charge
        if old_top:
            data["params"] = old_top.get("params", {})
            data["controller"] = old_top.get("controller")
            data["reports"] = old_top.get("reports", [])
        return data

    async def async_shutdown(self, reason: str) -> None:
        """Unload or stop: abort a run, give back what was borrowed, safe limits out."""
        if self._closed:
            return
        self._closed = True
        self._stop_ticking()
        if self._verify is not None:
            self._verify()
            self._verify = None
        step = self.supervisor.shutdown(self.view(), reason)
        await self._publish(step.document)
        self._log_events(step.events)
        self._writes.extend(step.writes)
        writer = self._ensure_writer()
        if writer is not None:
            try:
                await asyncio.wait_for(asyncio.shield(writer), SHUTDOWN_WRITE_TIMEOUT_S)
            except TimeoutError:
                LOGGER.warning("Settings not given back to the GX before shutting down")
        await self._persist()

    # ------------------------------------------------------------------ actions
    async def async_select_mode(self, mode: ChargeMode) -> None:
        """The one path for every mode change (select, services, buttons)."""
        await self._act(lambda view: self.supervisor.select_mode(mode, view))

    async def async_stop_virtual_control(self) -> None:
        """Stop a top balance or a hold (back to the mode before it)."""
        await self._act(self.supervisor.stop_virtual_control)

    async def async_set_limits(
        self, *, current_a: float | None = None, voltage_v: float | None = None
    ) -> None:
        """New DVCC user limits (raises Refused when out of bounds)."""

        def change(view: GxView) -> list[Event]:
            self.supervisor.set_limits(view, current_a=current_a, voltage_v=voltage_v)
            return []

        await self._act(change)

    async def async_set_parameters(self, **values: float | None) -> None:
        """Top-balance parameters and the hold target (checked by the caller)."""

        def change(_view: GxView) -> list[Event]:
            self.supervisor.set_parameters(**values)
            return []

        await self._act(change)

    async def _act(self, action: Callable[[GxView], list[Event]]) -> None:
        view = self.view()
        try:
            events = action(view)
        except Refused as err:  # shown to the user by errors.py
            if err.key == "dvcc_required":
                self._dvcc_issue(True)
            raise
        self._log_events(events)
        # The next document goes out now, not at the next tick (a stop is safe at once).
        await self._execute(self.supervisor.step(view))
        await self._persist()

    # ------------------------------------------------------------------ the loop
    def _start_ticking(self) -> None:
        if self._unsub_tick is None:
            self._unsub_tick = async_track_time_interval(self.hass, self._tick, TICK)

    def _stop_ticking(self) -> None:
        if self._unsub_tick is not None:
            self._unsub_tick()
            self._unsub_tick = None

    @callback
    def _tick(self, _now: datetime) -> None:
        self._background(self._async_tick(), "victron_balance charge control tick")

    def _background(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self.coordinator.config_entry.async_create_background_task(self.hass, coro, name)

    async def _async_tick(self) -> None:
        if self._closed:
            return
        await self._execute(self.supervisor.step(self.view()))
        # A run is saved every 30 s (a crash resumes it); anything else when it changed.
        due = self.hass.loop.time() - self._last_persist >= PERSIST_EVERY_S
        if self._dirty or (due and self.supervisor.need_virtual):
            await self._persist()

    async def _execute(self, step: Step) -> None:
        await self._publish(step.document)
        self._log_events(step.events)
        self._dirty |= bool(step.events)
        if step.writes:
            self._writes.extend(step.writes)
            self._ensure_writer()
        self._update_dvcc_issue()
        self._listeners.notify()

    async def _publish(self, document: Document | None) -> None:
        if document is None:
            return
        self.coordinator.virtual_owned = True
        try:
            await self.session.publish(self.topic, json.dumps(document.payload))
        except PublishFailed as err:
            self._log.warning("virtual_bms_publish", f"Virtual BMS document not sent: {err}")
            return
        self.published += 1

    def _ensure_writer(self) -> asyncio.Task[None] | None:
        if self._writer is None or self._writer.done():
            if not self._writes:
                return None
            self._writer = self.hass.async_create_background_task(
                self._write_all(), "victron_balance settings writes"
            )
        return self._writer

    async def _write_all(self) -> None:
        while self._writes:
            write = self._writes.popleft()
            try:
                echoed = await self.coordinator.link.write(SETTINGS, write.path, write.value)
            except (SessionError, ValueError) as err:
                self.failed_writes += 1
                self._log.warning(
                    f"settings_write:{write.path}",
                    f"Setting {write.path} to {write.value} ({write.why}) failed: {err}; "
                    "trying again later",
                )
                self.supervisor.apply_due = True
                continue
            self.confirmed_writes += 1
            self.supervisor.confirmed(write)
            LOGGER.info(
                "Set %s to %s for %s (the GX confirmed %s)",
                write.path,
                write.value,
                write.why,
                echoed,
            )
            if write.path == BMS_INSTANCE_PATH:
                await self._persist()  # a borrow must survive a crash
            else:
                self._dirty = True
            if write.path == MAX_CHARGE_CURRENT_PATH and write.value >= 0:
                self._schedule_verification(int(write.value))

    # ------------------------------------------------------------------ events
    def _log_events(self, events: list[Event]) -> None:
        for event in events:
            LOGGER.log(_LOG_LEVELS[event.kind], _LOG_TEXT[event.kind], event.detail or "-")
            if event.kind is EventKind.VIRTUAL_BMS_MISSING:
                ir.async_create_issue(
                    self.hass,
                    DOMAIN,
                    self.virtual_bms_issue_id,
                    is_fixable=False,
                    severity=ir.IssueSeverity.ERROR,
                    translation_key="virtual_bms_missing",
                    translation_placeholders={
                        "topic": self.topic,
                        "instance": str(self.virtual_instance),
                    },
                )
            elif event.kind in (EventKind.TOP_BALANCE_STARTED, EventKind.HOLD_STARTED):
                ir.async_delete_issue(self.hass, DOMAIN, self.virtual_bms_issue_id)

    @property
    def virtual_bms_issue_id(self) -> str:
        """The repair issue of a virtual BMS DVCC does not follow."""
        return f"virtual_bms_missing_{self.entry_id}"

    @property
    def dvcc_issue_id(self) -> str:
        """One DVCC repair issue per entry."""
        return f"dvcc_disabled_{self.entry_id}"

    def _update_dvcc_issue(self) -> None:
        needs = self.mode is ChargeMode.LIMITED
        self._dvcc_issue(needs and dvcc_enabled(self.coordinator.link.state) is False)

    def _dvcc_issue(self, raised: bool) -> None:
        if raised:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self.dvcc_issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="dvcc_disabled",
                translation_placeholders={"portal_id": self.coordinator.portal_id},
            )
        elif self.mode is not ChargeMode.TOP_BALANCE:
            ir.async_delete_issue(self.hass, DOMAIN, self.dvcc_issue_id)

    # ------------------------------------------------------------------ verification
    @property
    def follow_issue_id(self) -> str:
        """One "charger does not follow" repair issue per entry."""
        return f"charger_not_following_{self.entry_id}"

    def _schedule_verification(self, limit: int) -> None:
        """DVCC hands a new limit to the chargers within seconds; check that it did."""
        if self._verify is not None:
            self._verify()
            self._verify = None
        if self._closed:
            return  # a write confirmed while shutting down: nobody left to check it

        @callback
        def verify(_now: Any) -> None:
            self._verify = None
            self.verify_charger_follows(limit)

        self._verify = async_call_later(self.hass, VERIFY_AFTER_S, verify)

    @callback
    def verify_charger_follows(self, limit: int) -> None:
        """The charger's Link/ChargeCurrent must not exceed the limit (if a charger exists)."""
        handed = charger_current_limit(self.coordinator.link.state)
        if handed is None or self.gx_limit(MAX_CHARGE_CURRENT_PATH) != limit:
            return  # no charger, or the limit changed since
        if not charger_follows(limit, handed):
            LOGGER.warning("The charger got %.1f A although the limit is %d A", handed, limit)
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self.follow_issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="charger_not_following",
                translation_placeholders={"limit": str(limit), "handed": f"{handed:.1f}"},
            )
        else:
            ir.async_delete_issue(self.hass, DOMAIN, self.follow_issue_id)

    # ------------------------------------------------------------------ storage
    async def _persist(self) -> None:
        self._last_persist = self.hass.loop.time()
        self._dirty = False
        await self._store.async_save(self.supervisor.to_dict())

    def diagnostics(self) -> dict[str, Any]:
        """What the charge control holds and did."""
        supervisor = self.supervisor
        document = supervisor.last_document
        return {
            "mode": self.mode.value,
            "running": supervisor.running,
            "holding": supervisor.holding,
            "in_tail": supervisor.in_tail,
            "switch": supervisor.switch.to_dict(),
            "lent": supervisor.lent,
            "last_document": None
            if document is None
            else {
                "limits": {
                    "cvl": document.limits.wire.max_charge_voltage,
                    "ccl": document.limits.wire.max_charge_current,
                    "dcl": document.limits.wire.max_discharge_current,
                    "allow_to_charge": document.limits.wire.allow_to_charge,
                    "allow_to_discharge": document.limits.wire.allow_to_discharge,
                },
                "tightened_because": list(document.limits.reasons),
                "stale": document.stale,
            },
            "envelope": supervisor.envelope.diagnostics(),
            "published": self.published,
            "confirmed_writes": self.confirmed_writes,
            "failed_writes": self.failed_writes,
            "last_refused_write": supervisor.refused,
            "pack": self.coordinator.pack_tracker.status(self.hass.loop.time()),
            "gx_limits": {
                "max_charge_current": self.gx_limit(MAX_CHARGE_CURRENT_PATH),
                "max_charge_voltage": self.gx_limit(MAX_CHARGE_VOLTAGE_PATH),
            },
        }
