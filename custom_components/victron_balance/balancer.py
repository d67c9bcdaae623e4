"""Per-cell relay balancers on the Venus broker: discovery, the scan loop, faults and wear.

`BalancerManager` (one per config entry) subscribes to `balancer/+/info` on the Venus
broker session; every balancer that shows up, also at runtime, gets a
`BalancerRunner` with its own device, entities and storage. The wire contract is
docs/balancer-mqtt.md.

Once a second a runner reads the device's state topics and the BMS cell voltages,
plans a scan (Lee Hart's algorithm or amp-hour tracking, `logic.balancer.planner`)
when the last one is done, and steps the pure `BalancerDriver` (sequencer, lease,
safety gate), publishing only what the gate permits (never retained). Every relay
move is verified by the measured output voltage.

Safety rules (invariant I6, `logic.safety.balancer`):

* The device holds a lease we renew while we drive it; our session's Last Will
  ends it at once. Without renewals it switches itself off, so a crash, a hang or a
  network loss of Home Assistant leaves nothing charging.
* A device that cannot do that (protocol 1), or whose "current off" cannot be
  proven (no current measurement and I x R within the tolerance), is never driven:
  a repair issue says why.
* The device offline, our broker connection lost, stale measurements, or a command
  that could not be sent: the sequence is dropped. When the device's state is
  complete again a new one starts from what the device reports, from step 1.
* Venus stale (no heartbeat), or cells that do not match the relays: stop through
  the safe steps (DC/DC off, verified; relay off, verified); resume when fresh.
* A fault (a step not verified in time, or a new fault reported by the device) is
  latched and stored *before* any shutdown command is sent: everything off, the
  balancing switch off, and a repair issue until the user turns the switch on again.

Relay wear comes from the device's own counters and is stored per balancer, so it
survives restarts of Home Assistant and of the device.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.storage import Store

from .const import CONF_CHEMISTRY, DEFAULT_CHEMISTRY, DOMAIN, LOGGER
from .coordinator import VenusCoordinator
from .listeners import Listeners
from .logic.balancer.advisory import Advice, AdvisorySettings, advise
from .logic.balancer.amp_hours import AmpHourTracker, PackMode, pack_mode
from .logic.balancer.contract import (
    INFO_FILTER,
    BadPayload,
    BalancerInfo,
    DeviceState,
    base_topic,
)
from .logic.balancer.driver import BalancerDriver
from .logic.balancer.lee_hart import Averaging, plan, should_run
from .logic.balancer.planner import (
    BalancerSettings,
    Scan,
    ScanOutcome,
    Strategy,
    at_charge_cap,
    cap_steps,
    charge_cap_v,
    new_tracker,
    scan,
)
from .logic.balancer.sequencer import Sequencer, SequencerState
from .logic.balancer.wear import WearTracker
from .logic.log_limiter import RateLimitedLogger
from .logic.safety.balancer import Permit
from .logic.top_balance.chemistry import PRESETS, ChemistryPreset, estimated_soc
from .logic.venus_state import BatteryView, float_value
from .transport.mqtt_session import MqttSession, PublishFailed

STORAGE_VERSION = 1
TICK = timedelta(seconds=1)
TICK_S = TICK.total_seconds()
REST_S = 30.0  # after a scan (or a balanced pack) before the next scan
SAVE_DELAY_S = 10.0
KNEE_V = 3.40  # LiFePO4: below it a cell voltage says little about its charge
DEFAULT_SUPPLY_A = 5.0
DEFAULT_DRAIN_W = 5.0

_SWITCHING = frozenset(
    {
        SequencerState.DCDC_OFF,
        SequencerState.RELAY_OFF,
        SequencerState.RELAY_ON,
        SequencerState.DCDC_ON,
    }
)


class BalancerStatus(StrEnum):
    """What a balancer is doing (the status sensor)."""

    OFF = "off"  # switched off, everything off
    WAITING = "waiting"  # on: balanced, below the run voltage, or resting between scans
    SWITCHING = "switching"  # moving to the next cell (the safe steps)
    CHARGING = "charging"
    STOPPING = "stopping"  # going to all-off through the safe steps
    NO_CELL_DATA = "no_cell_data"  # on, but Venus is stale or the cells do not match
    FAULT = "fault"
    UNSUPPORTED = "unsupported"  # never driven: no lease, or "current off" unprovable


@dataclass(frozen=True, slots=True)
class LatchedFault:
    """Why a balancer stopped; kept until the user switches it on again."""

    reason: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        """Plain values for persistence."""
        return {"reason": self.reason, "detail": self.detail}


def chemistry_preset(coordinator: VenusCoordinator) -> ChemistryPreset:
    """The chemistry chosen in the options (as the top balance uses it)."""
    key = coordinator.config_entry.options.get(CONF_CHEMISTRY, DEFAULT_CHEMISTRY)
    return PRESETS.get(key, PRESETS[DEFAULT_CHEMISTRY])


def pack_voltages(
    coordinator: VenusCoordinator, battery: BatteryView | None = None
) -> list[float] | None:
    """The followed battery's cell voltages 1..N, or None if any is missing or stale.

    `battery`: a view to read instead of the followed battery now (the complete one).
    """
    if not coordinator.link.alive:
        return None
    if battery is None:
        battery = coordinator.battery()
    if battery is None or not battery.present:
        return None
    cells = battery.cell_voltages()
    values = [cells.get(number) for number in range(1, len(cells) + 1)]
    if not values or not all(isinstance(value, float) and value > 0 for value in values):
        return None
    return [float(value) for value in values if value is not None]


def _battery_float(coordinator: VenusCoordinator, path: str) -> float | None:
    battery = coordinator.battery()
    return None if battery is None else float_value(battery.value(path))


def manual_advice(
    coordinator: VenusCoordinator,
    supply_current_a: float = DEFAULT_SUPPLY_A,
    drain_load_w: float = DEFAULT_DRAIN_W,
    battery: BatteryView | None = None,
) -> Advice | None:
    """Seed 003's manual options for the pack as it is now (None: cells unknown)."""
    voltages = pack_voltages(coordinator, battery)
    if voltages is None:
        return None
    preset = chemistry_preset(coordinator)
    settings = AdvisorySettings(
        hvc_v=preset.hvc_v,
        supply_current_a=supply_current_a,
        drain_load_w=drain_load_w,
        knee_v=KNEE_V,
    )
    capacity = _battery_float(coordinator, "/InstalledCapacity")
    # Near the top a voltage says how full a cell is; in the flat middle it does not.
    estimate = capacity is not None and capacity > 0 and max(voltages) >= KNEE_V
    return advise(
        voltages,
        settings,
        capacities_ah=[capacity] * len(voltages) if estimate and capacity else None,
        soc_from_voltage=partial(estimated_soc, preset=preset) if estimate else None,
    )


class BalancerRunner:
    """One relay balancer: its state, settings, sequencer, wear and repairs."""

    def __init__(
        self,
        hass: HomeAssistant,
        coordinator: VenusCoordinator,
        session: MqttSession,
        info: BalancerInfo,
        log: RateLimitedLogger,
    ) -> None:
        self.hass = hass
        self.coordinator = coordinator
        self.session = session
        self.info = info
        self.balancer_id = info.balancer_id
        self.base = base_topic(info.balancer_id)
        self.entry_id = coordinator.config_entry.entry_id
        self._log = log
        self.device = DeviceState(info.relays)
        self.settings = BalancerSettings.default(info.kind)
        self.enabled = False
        self.fault: LatchedFault | None = None
        self.wear = WearTracker(info.relays, info.load_life, info.dry_life)
        self.tracker: AmpHourTracker | None = None
        self.last_scan: Scan | None = None
        self.status = BalancerStatus.OFF
        self.active_cell: int | None = None
        self.remaining_s: float | None = None
        self.incompatible = False  # `info` changed its relay count: reload needed
        self.commands_sent = 0
        self.refusals = 0  # commands the safety gate refused
        self.messages = 0  # device messages received
        will = session.will
        self.driver = BalancerDriver(
            info, holder=None if will is None else will.topic, tick_s=TICK_S
        )
        self._measured_at: float | None = None  # loop time of the last output_voltage
        self._average: float | None = None  # the running average, carried across scans
        self._next_scan = 0.0
        self._busy = False
        self._last_now: float | None = None
        self._acknowledged_fault: bytes | None = None
        self._listeners: Listeners[[]] = Listeners()
        self._unsubscribe: Callable[[], None] | None = None
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{self.entry_id}.balancer.{info.balancer_id}"
        )

    # ------------------------------------------------------------------ lifecycle
    async def async_load(self) -> None:
        """Restore settings, the switch, a latched fault, wear and amp-hour tracking."""
        stored = await self._store.async_load() or {}
        try:
            self.settings = BalancerSettings.from_dict(self.info.kind, stored.get("settings", {}))
            self.enabled = stored.get("enabled") is True
            wear = stored.get("wear")
            if wear is not None:
                restored = WearTracker.from_dict(wear)
                if len(restored.relays) == self.info.relays:
                    self.wear.relays = restored.relays
            fault = stored.get("fault")
            if isinstance(fault, dict):
                self._latch(str(fault.get("reason", "")), str(fault.get("detail", "")))
                self.enabled = False  # a latched fault waits for the user
            tracker = stored.get("tracker")
            if isinstance(tracker, dict) and len(tracker["capacities"]) == self.info.relays:
                self.tracker = AmpHourTracker(
                    list(tracker["capacities"]), list(tracker["contents"])
                )
        except (AttributeError, KeyError, TypeError, ValueError) as err:
            LOGGER.warning("Stored state of balancer %s unreadable (%s)", self.balancer_id, err)
        self._check_wear()
        self._check_drivable()

    async def async_subscribe(self) -> None:
        """Listen to the device's topics (retained: the whole state arrives at once)."""
        self._unsubscribe = await self.session.subscribe(f"{self.base}/#", self._on_message)

    async def async_shutdown(self) -> None:
        """Unload or stop: DC/DC off now, a relay if proven dry, the lease given back.

        The device then opens what is left itself, in the safe order; renewals stop.
        """
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self._send(self.driver.shutdown(self.device), self.hass.loop.time())
        await self._store.async_save(self._data())

    # ------------------------------------------------------------------ listeners
    @callback
    def async_add_listener(self, update: Callable[[], None]) -> Callable[[], None]:
        """Be told after every tick or setting change."""
        return self._listeners.add(update)

    @property
    def balancing(self) -> bool:
        """Moving charge now (charging a cell, or switching to the next one)."""
        return self.status in (BalancerStatus.CHARGING, BalancerStatus.SWITCHING)

    @property
    def online(self) -> bool:
        """The device talks to us and its readings are current."""
        return self.session.connected and self.device.online is True and not self.incompatible

    @property
    def unsupported_issue_id(self) -> str:
        """The repair issue of a balancer we must not drive."""
        return f"balancer_unsupported_{self.entry_id}_{self.balancer_id}"

    def _check_drivable(self) -> None:
        """A repair issue while the device cannot be driven safely (never driven then)."""
        refusal = self.driver.refusal
        if refusal is None:
            ir.async_delete_issue(self.hass, DOMAIN, self.unsupported_issue_id)
            return
        reason, detail = refusal
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self.unsupported_issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=f"balancer_{reason.value}",
            translation_placeholders={"balancer": self.balancer_id, "detail": detail},
        )

    # ------------------------------------------------------------------ messages
    @callback
    def update_info(self, info: BalancerInfo) -> None:
        """A repeated `info` (every reconnect of the device)."""
        if info.relays != self.info.relays:
            self._log.warning(
                f"balancer_relays:{self.balancer_id}",
                f"Balancer {self.balancer_id} now reports {info.relays} relays instead of "
                f"{self.info.relays}; it stays stopped until the integration is reloaded",
            )
            self.incompatible = True
            return
        self.info = info
        self.driver.update(info, self.device.dcdc_current)
        self._check_drivable()

    @callback
    def _on_message(self, topic: str, payload: bytes) -> None:
        suffix = topic[len(self.base) + 1 :]
        self.messages += 1
        if suffix == "info":
            return  # handled by the manager
        try:
            if self.device.apply(suffix, payload) and suffix == "output_voltage":
                self._measured_at = self.hass.loop.time()
        except BadPayload as err:
            self._log.warning(
                f"balancer_payload:{self.balancer_id}:{suffix}",
                f"Ignoring a bad payload on {topic}: {err}",
            )

    @callback
    def connection_lost(self) -> None:
        """Our broker connection dropped: nothing the device said is current any more."""
        self.device.forget()
        self.device.online = None
        self._measured_at = None
        self.driver.connection_lost()

    # ------------------------------------------------------------------ settings
    async def async_set_enabled(self, enabled: bool) -> None:
        """The balancing switch; switching on acknowledges a fault."""
        if enabled:
            if self.fault is not None:
                self.fault = None
                ir.async_delete_issue(self.hass, DOMAIN, self.fault_issue_id)
            if self.driver.sequencer is not None:
                self.driver.sequencer.reset()
            if self.device.fault is not None:
                self._acknowledged_fault = self.device.fault.raw
                await self._send([self.driver.gate.clear_fault()], self.hass.loop.time())
            self._next_scan = 0.0
            self._busy = False  # no rest: the first scan starts at once
        elif self.driver.sequencer is not None:
            self.driver.sequencer.stop()
        self.enabled = enabled
        self._save()
        self._listeners.notify()

    async def async_set_settings(self, settings: BalancerSettings) -> None:
        """New strategy or numbers; the next scan uses them."""
        if settings.strategy is not self.settings.strategy:
            self._average = None
        self.settings = settings
        self._save()
        self._listeners.notify()

    # ------------------------------------------------------------------ the tick
    async def async_tick(self, now: float) -> None:
        """One step of the loop (`now`: monotonic seconds)."""
        elapsed = 0.0 if self._last_now is None else max(now - self._last_now, 0.0)
        self._last_now = now
        self._observe_wear()
        await self._check_device_fault()
        driver = self.driver
        driver.update(self.info, self.device.dcdc_current)
        self._check_drivable()
        age = None if self._measured_at is None else now - self._measured_at
        had = driver.sequencer
        sequencer = driver.begin(now, self.device, age, online=self.online)
        if sequencer is not None and sequencer is not had:
            self._busy = False
            if not sequencer.commanded.all_off:
                LOGGER.info(
                    "Balancer %s reports %s: switching off from step 1",
                    self.balancer_id,
                    sequencer.commanded,
                )
        cells = self._cells()
        if sequencer is not None:
            if self.enabled and self.fault is None and driver.can_charge(now, self.device, cells):
                assert cells is not None  # can_charge checked it
                self._maybe_scan(sequencer, cells, now)
                self._cap_charge(sequencer, cells)
            else:
                sequencer.stop()
                if cells is None:
                    self._average = None
        tick = driver.finish(
            now,
            self.device,
            age,
            cells,
            want_lease=self.enabled and self.fault is None and cells is not None,
            fault_latched=self.fault is not None or self.device.fault is not None,
        )
        if tick.fault is not None and self.fault is None:
            # Latched and stored first: a shutdown that cannot be sent changes nothing.
            await self._async_fail(str(tick.fault), tick.fault_detail)
        if tick.refused is not None:
            self.refusals += 1
            self._log.warning(
                f"balancer_refused:{self.balancer_id}",
                f"Balancer {self.balancer_id}: the safety gate refused a command "
                f"({tick.refused}); starting over from what the device reports",
            )
        await self._send(tick.permits, now)
        if sequencer is not None:
            self._track_amp_hours(sequencer, elapsed)
        self._update_summary(driver.sequencer, tick.remaining_s, cells is not None)

    def _cells(self) -> list[float] | None:
        voltages = pack_voltages(self.coordinator)
        if voltages is None:
            return None
        if len(voltages) != self.info.relays:
            self._log.warning(
                f"balancer_cells:{self.balancer_id}",
                f"Balancer {self.balancer_id} has {self.info.relays} relays but the battery "
                f"reports {len(voltages)} cells; not balancing",
            )
            return None
        return voltages

    def _maybe_scan(self, sequencer: Sequencer, cells: list[float], now: float) -> None:
        idle = sequencer.state is SequencerState.IDLE and not sequencer.queue
        if not idle:
            self._busy = True
            return
        if self._busy:
            self._busy = False
            self._next_scan = now + REST_S  # let the cells settle before judging them
        if now < self._next_scan or sequencer.state is SequencerState.FAULT:
            return
        pack_current = _battery_float(self.coordinator, "/Dc/0/Current")
        if self.settings.strategy is Strategy.AMP_HOURS and self.tracker is None:
            self.tracker = self._start_tracker(cells)
        result = scan(
            cells,
            self.settings,
            pack_current=pack_current,
            balancer_amps=self.device.dcdc_current or self.info.max_current,
            previous_average=self._average,
            tracker=self.tracker,
            max_cell_voltage=self.max_cell_voltage,
        )
        self.last_scan = result
        if result.outcome is ScanOutcome.NOT_RUNNING:
            self._average = None
        elif result.plan is not None and result.strategy is not Strategy.AMP_HOURS:
            self._average = result.plan.average
        if result.steps:
            # Never a charge longer than the device allows (its own cap is the backstop).
            sequencer.start(cap_steps(result.steps, self.driver.charge_limit_s))
            self._busy = True
        else:
            self._next_scan = now + REST_S

    @property
    def max_cell_voltage(self) -> float:
        """No cell is charged at or above this: the chemistry's top-balance target."""
        return charge_cap_v(self.info.kind, chemistry_preset(self.coordinator).cell_target_v)

    def _cap_charge(self, sequencer: Sequencer, cells: list[float]) -> None:
        """A cell that reached the cap while charging is done for this scan."""
        relay = sequencer.commanded.relay
        charging = relay if sequencer.state is SequencerState.CHARGING else None
        if charging is None or not at_charge_cap(charging, cells, self.max_cell_voltage):
            return
        LOGGER.info(
            "Balancer %s: cell %d reached %.3f V, moving on",
            self.balancer_id,
            charging,
            cells[charging - 1],
        )
        sequencer.start([step for step in sequencer.queue if step.relay != charging])

    def _start_tracker(self, cells: list[float]) -> AmpHourTracker | None:
        capacity = _battery_float(self.coordinator, "/InstalledCapacity")
        if capacity is None or capacity <= 0 or self.info.kind != "cell":
            return None  # amp-hours need a capacity and a voltage curve: voltages it is
        preset = chemistry_preset(self.coordinator)
        return new_tracker(capacity, cells, partial(estimated_soc, preset=preset))

    def _track_amp_hours(self, sequencer: Sequencer, elapsed: float) -> None:
        tracker = self.tracker
        if tracker is None or elapsed <= 0:
            return
        pack_current = _battery_float(self.coordinator, "/Dc/0/Current")
        if pack_current is not None:
            tracker.pack_current(pack_current, elapsed)
        relay = sequencer.commanded.relay
        amps = self.device.output_current
        if sequencer.state is SequencerState.CHARGING and relay is not None and amps:
            tracker.balancer_charge(relay - 1, amps, elapsed)
        cells = self._cells()
        if cells is not None and self.info.kind == "cell":
            hvc = chemistry_preset(self.coordinator).hvc_v
            for index, volts in enumerate(cells):
                if volts >= hvc:
                    tracker.mark_full(index)

    def _update_summary(
        self,
        sequencer: Sequencer | None,
        remaining_s: float | None = None,
        have_cells: bool = True,
    ) -> None:
        if sequencer is None:
            self.active_cell = None
            self.remaining_s = None
            if self.fault:
                self.status = BalancerStatus.FAULT
            elif not self.driver.drivable:
                self.status = BalancerStatus.UNSUPPORTED
            elif self.device.dcdc or self.device.relays_on():
                self.status = BalancerStatus.STOPPING  # the device switches itself off
            else:
                self.status = BalancerStatus.OFF
            self._listeners.notify()
            return
        state = sequencer.state
        queue = sequencer.queue
        remaining = sum(step.seconds for step in queue)
        if queue and remaining_s is not None and state is SequencerState.CHARGING:
            remaining -= queue[0].seconds - remaining_s
        self.remaining_s = remaining if queue else 0.0
        self.active_cell = None
        if state is SequencerState.CHARGING:
            self.active_cell = sequencer.commanded.relay
        elif state in _SWITCHING and queue:
            self.active_cell = sequencer.target
        if state is SequencerState.FAULT or self.fault is not None:
            self.status = BalancerStatus.FAULT
        elif state is SequencerState.CHARGING:
            self.status = BalancerStatus.CHARGING
        elif state in _SWITCHING:
            self.status = BalancerStatus.SWITCHING if queue else BalancerStatus.STOPPING
        elif not self.enabled:
            self.status = BalancerStatus.OFF
        elif not have_cells:
            self.status = BalancerStatus.NO_CELL_DATA
        else:
            self.status = BalancerStatus.WAITING
        self._listeners.notify()

    # ------------------------------------------------------------------ faults
    @property
    def fault_issue_id(self) -> str:
        """The repair issue of a fault of this balancer."""
        return f"balancer_fault_{self.entry_id}_{self.balancer_id}"

    @property
    def wear_issue_id(self) -> str:
        """The repair issue of worn relays of this balancer."""
        return f"balancer_relay_wear_{self.entry_id}_{self.balancer_id}"

    async def _check_device_fault(self) -> None:
        fault = self.device.fault
        if fault is None or fault.raw == self._acknowledged_fault:
            return
        self._acknowledged_fault = fault.raw
        relay = "" if fault.relay is None else f" (relay {fault.relay})"
        detail = f"device reports {fault.reason}{relay}: {fault.detail}"
        LOGGER.warning("Balancer %s: %s", self.balancer_id, detail)
        if self.fault is None:
            await self._async_fail(f"device_{fault.reason}", detail)

    async def _async_fail(self, reason: str, detail: str) -> None:
        """Latch a fault and store it now, before anything else is sent."""
        LOGGER.error("Balancer %s stopped: %s (%s)", self.balancer_id, reason, detail)
        self._latch(reason, detail)
        if self.driver.sequencer is not None:
            self.driver.sequencer.stop()
        self.enabled = False
        try:
            await self._store.async_save(self._data())
        except (OSError, HomeAssistantError) as err:
            # Still latched in memory: nothing restarts until the user acknowledges.
            LOGGER.error("Balancer %s: fault not stored (%s)", self.balancer_id, err)

    def _latch(self, reason: str, detail: str) -> None:
        self.fault = LatchedFault(reason, detail)
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self.fault_issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="balancer_fault",
            translation_placeholders={
                "balancer": self.balancer_id,
                "reason": reason,
                "detail": detail or "-",
            },
        )

    # ------------------------------------------------------------------ wear
    def _observe_wear(self) -> None:
        before = [(wear.load, wear.dry) for wear in self.wear.relays]
        for number in range(1, self.info.relays + 1):
            cycles = self.device.cycles.get(number)
            load = self.device.load_cycles.get(number)
            if cycles is None or load is None:
                continue
            try:
                self.wear.observe(number, cycles, load)
            except ValueError as err:  # load_cycles > cycles: a device bug
                self._log.warning(
                    f"balancer_cycles:{self.balancer_id}:{number}",
                    f"Balancer {self.balancer_id} relay {number}: {err}",
                )
        if before != [(wear.load, wear.dry) for wear in self.wear.relays]:
            self._save()
            self._check_wear()

    def _check_wear(self) -> None:
        worn = self.wear.worn()
        if not worn:
            ir.async_delete_issue(self.hass, DOMAIN, self.wear_issue_id)
            return
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self.wear_issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="balancer_relay_wear",
            translation_placeholders={
                "balancer": self.balancer_id,
                "relays": ", ".join(str(number) for number in worn),
                "remaining": f"{min(self.wear.remaining(n) for n in worn) * 100:.1f}",
            },
        )

    def relay_life_pct(self) -> tuple[float, int]:
        """The life left of the most worn relay in %, and its number."""
        number = min(range(1, self.info.relays + 1), key=lambda n: (self.wear.remaining(n), n))
        return self.wear.remaining(number) * 100.0, number

    # ------------------------------------------------------------------ wire
    async def _send(self, permits: Sequence[Permit], now: float) -> bool:
        """Publish what the safety gate permitted, in order (the only way out)."""
        for permit in permits:
            try:
                await self.session.publish(
                    f"{self.base}/{permit.topic}", permit.payload, retain=False
                )
            except PublishFailed as err:
                self.driver.send_failed()
                self._log.warning(
                    f"balancer_publish:{self.balancer_id}",
                    f"Balancer {self.balancer_id}: command not sent ({err}); starting over",
                )
                return False
            self.driver.delivered(permit, now)
            self.commands_sent += 1
        return True

    # ------------------------------------------------------------------ storage
    def _data(self) -> dict[str, Any]:
        tracker = self.tracker
        return {
            "settings": self.settings.to_dict(),
            "enabled": self.enabled,
            "fault": None if self.fault is None else self.fault.to_dict(),
            "wear": self.wear.to_dict(),
            "tracker": None
            if tracker is None
            else {"capacities": tracker.capacities_ah, "contents": tracker.contents_ah},
        }

    @callback
    def _save(self) -> None:
        self._store.async_delay_save(self._data, SAVE_DELAY_S)

    def diagnostics(self) -> dict[str, Any]:
        """Everything worth seeing in a bug report."""
        sequencer = self.driver.sequencer
        last = self.last_scan
        return {
            "info": self.info.to_dict(),
            "drive_refusal": None if self.driver.refusal is None else self.driver.refusal[0].value,
            "device": self.device.to_dict(),
            "online": self.online,
            "enabled": self.enabled,
            "status": self.status.value,
            "settings": self.settings.to_dict(),
            "fault": None if self.fault is None else self.fault.to_dict(),
            "sequencer": None if sequencer is None else sequencer.to_dict(),
            "last_scan": None
            if last is None
            else {
                "outcome": last.outcome.value,
                "strategy": last.strategy.value,
                "mode": last.mode.value,
                "minutes": None if last.plan is None else [round(m, 2) for m in last.plan.minutes],
            },
            "wear": self.wear.summary(),
            "commands_sent": self.commands_sent,
            "refusals": self.refusals,
            "messages": self.messages,
        }


class BalancerManager:
    """Finds balancers on the Venus broker and runs them."""

    def __init__(
        self, hass: HomeAssistant, coordinator: VenusCoordinator, session: MqttSession
    ) -> None:
        self.hass = hass
        self.coordinator = coordinator
        self.session = session
        self.runners: dict[str, BalancerRunner] = {}
        self._pending: set[str] = set()
        self._listeners: Listeners[[BalancerRunner]] = Listeners()
        self._unsubscribers: list[Callable[[], None]] = []
        self._unsub_tick: CALLBACK_TYPE | None = None
        self._ticking = False
        self._log = RateLimitedLogger(LOGGER)

    async def async_start(self) -> None:
        """Subscribe to `balancer/+/info`; retained ones arrive at once."""
        self._unsubscribers = [
            await self.session.subscribe(INFO_FILTER, self._on_info),
            self.session.add_connection_listener(self._on_connection),
        ]

    async def async_shutdown(self) -> None:
        """Stop ticking; every balancer leaves its DC/DC off and saves its state."""
        for unsubscribe in self._unsubscribers:
            unsubscribe()
        self._unsubscribers = []
        if self._unsub_tick is not None:
            self._unsub_tick()
            self._unsub_tick = None
        for runner in self.runners.values():
            await runner.async_shutdown()

    @callback
    def async_add_listener(self, added: Callable[[BalancerRunner], None]) -> Callable[[], None]:
        """Be told about every balancer found from now on."""
        return self._listeners.add(added)

    @callback
    def _on_connection(self, connected: bool) -> None:
        if not connected:
            for runner in self.runners.values():
                runner.connection_lost()

    @callback
    def _on_info(self, topic: str, payload: bytes) -> None:
        balancer_id = topic.split("/")[1]
        if not payload.strip():
            return  # a deleted retained info: nothing to add
        try:
            info = BalancerInfo.parse(balancer_id, payload)
        except BadPayload as err:
            self._log.warning(
                f"balancer_info:{balancer_id}", f"Ignoring balancer info on {topic}: {err}"
            )
            return
        runner = self.runners.get(balancer_id)
        if runner is not None:
            runner.update_info(info)
            return
        if balancer_id in self._pending:
            return
        self._pending.add(balancer_id)
        self._background(self._async_add(info), f"victron_balance balancer {balancer_id}")

    def _background(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self.coordinator.config_entry.async_create_background_task(self.hass, coro, name)

    async def _async_add(self, info: BalancerInfo) -> None:
        runner = BalancerRunner(self.hass, self.coordinator, self.session, info, self._log)
        await runner.async_load()
        await runner.async_subscribe()
        LOGGER.info("Found balancer %s (%d relays, %s)", info.balancer_id, info.relays, info.kind)
        self.runners[info.balancer_id] = runner
        self._pending.discard(info.balancer_id)
        self._listeners.notify(runner)
        if self._unsub_tick is None:
            self._unsub_tick = async_track_time_interval(self.hass, self._tick, TICK)

    @callback
    def _tick(self, _now: datetime) -> None:
        if self._ticking:
            return  # the previous tick is still sending
        self._ticking = True
        self._background(self._async_tick(), "victron_balance balancer tick")

    async def _async_tick(self) -> None:
        try:
            now = self.hass.loop.time()
            for runner in list(self.runners.values()):
                await runner.async_tick(now)
        finally:
            self._ticking = False

    # ------------------------------------------------------------------ service
    def plan_response(
        self,
        balancer_id: str | None,
        supply_current_a: float | None,
        drain_load_w: float | None,
    ) -> dict[str, Any]:
        """The `balancer_plan` service: the plan now, and seed 003's manual options."""
        runner = None
        if balancer_id is not None:
            runner = self.runners.get(balancer_id)
            if runner is None:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="balancer_not_found",
                    translation_placeholders={"balancer_id": balancer_id},
                )
        elif len(self.runners) == 1:
            runner = next(iter(self.runners.values()))
        voltages = pack_voltages(self.coordinator)
        advice = manual_advice(
            self.coordinator,
            supply_current_a or DEFAULT_SUPPLY_A,
            drain_load_w or DEFAULT_DRAIN_W,
        )
        if voltages is None or advice is None:
            raise ServiceValidationError(translation_domain=DOMAIN, translation_key="pack_unknown")
        settings = runner.settings if runner is not None else BalancerSettings.default("cell")
        averaging = (
            Averaging.TRUE_MEAN if settings.strategy is Strategy.TRUE_MEAN else Averaging.RUNNING
        )
        parameters = settings.parameters
        result = plan(voltages, parameters, averaging=averaging)
        current = _battery_float(self.coordinator, "/Dc/0/Current") or 0.0
        charging = pack_mode(current) is PackMode.CHARGING
        return {
            "balancer": None if runner is None else runner.balancer_id,
            "plan": {
                "strategy": settings.strategy.value,
                "tbase": settings.tbase,
                "floor_voltage": settings.floor_voltage,
                "max_minutes": settings.max_minutes,
                "average_v": round(result.average, 4),
                "runs_now": should_run(sum(voltages) / len(voltages), parameters, charging),
                "cells": [
                    {"cell": number, "voltage_v": round(volts, 3), "minutes": round(minutes, 1)}
                    for number, (volts, minutes) in enumerate(
                        zip(voltages, result.minutes, strict=True), start=1
                    )
                ],
            },
            "manual": advice.to_dict(),
        }

    def diagnostics(self) -> dict[str, Any]:
        """Per balancer id."""
        return {
            balancer_id: runner.diagnostics()
            for balancer_id, runner in sorted(self.runners.items())
        }
