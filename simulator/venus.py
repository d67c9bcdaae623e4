"""VenusSimulator: a simulated Venus OS GX (FlashMQ + dbus-flashmq) on a real broker."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, replace
from typing import Protocol

from simulator.battery import (
    MAX_CELL_VOLTAGE,
    MIN_CELL_VOLTAGE,
    BatteryConfig,
    cell_path,
    check_cell_count,
    derive,
)
from simulator.charger_services import (
    build_grid_meter_service,
    build_solarcharger_service,
    build_vebus_service,
)
from simulator.clock import SimClock
from simulator.flashmq import FlashMqPlugin
from simulator.items import Item, ItemStore, JsonValue, Service, same_value
from simulator.live_plant import LivePlant
from simulator.mqtt_battery import MqttBatteryConfig, MqttBatteryDriver
from simulator.mqtt_ev_charger import MqttEvChargerConfig, MqttEvChargerDriver
from simulator.mqtt_link import MqttLink
from simulator.plant import PlantConfig, PlantModel
from simulator.services import (
    build_battery_service,
    build_platform_service,
    build_settings_service,
    build_system_service,
    initial_cell_voltages,
)
from simulator.systemcalc import derive_system
from simulator.timers import ClockTimer

_LOGGER = logging.getLogger(__name__)

DEFAULT_PORTAL_ID = "02fc00000001"
DEFAULT_BATTERY = BatteryConfig()


class _DriverConfig(Protocol):
    @property
    def topic(self) -> str: ...

    @property
    def update_interval(self) -> float: ...


class _JsonDriver(Protocol):
    """A dbus-mqtt-* driver process: JSON in on its topic, a 1 s update loop."""

    @property
    def config(self) -> _DriverConfig: ...

    def handle_message(self, payload: bytes) -> None: ...

    def tick(self) -> None: ...


def _normalise(path: str) -> str:
    return path if path.startswith("/") else "/" + path


@dataclass
class _Glitch:
    """A cell reading held at a false value; ``true_value`` is what the BMS really reads."""

    true_value: JsonValue
    timer: ClockTimer | None = None


class VenusSimulator:
    """The Venus OS side of the wire: system, settings and battery services over MQTT."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        portal_id: str = DEFAULT_PORTAL_ID,
        battery: BatteryConfig | None = DEFAULT_BATTERY,
        heartbeat_interval: float = 3.0,
        keepalive_timeout: float = 60.0,
        username: str | None = None,
        password: str | None = None,
        seed: int = 1,
        plant: PlantConfig | None = None,
        speed: float = 1.0,
        mqtt_battery: MqttBatteryConfig | None = None,
        mqtt_ev_charger: MqttEvChargerConfig | None = None,
    ) -> None:
        """``plant`` adds physics (pack, BMS, chargers) stepped by a SimClock at ``speed``;
        without it the battery is static and only changes through set_value & co.
        ``mqtt_battery`` adds a dbus-mqtt-battery driver listening on its JSON topic,
        ``mqtt_ev_charger`` a dbus-mqtt-ev-charger driver on its own.
        """
        self.portal_id = portal_id
        self.seed = seed
        self.store = ItemStore()
        self.store.add_service(build_system_service(portal_id))
        self.store.add_service(build_settings_service())
        self.store.add_service(build_platform_service())
        self._batteries: dict[int, BatteryConfig] = {}
        self._update_timers: dict[int, ClockTimer] = {}
        self._running = False
        self._announced = False
        rng = random.Random(seed)
        self.clock = SimClock(speed)
        self.plant: PlantModel | None = None
        self._live: LivePlant | None = None
        self.mqtt_battery: MqttBatteryDriver | None = None
        self.mqtt_ev_charger: MqttEvChargerDriver | None = None
        self._drivers: list[_JsonDriver] = []
        self._driver_timers: list[ClockTimer] = []
        # (service type, instance, path) -> a glitching reading (fault injection).
        self._glitches: dict[tuple[str, int, str], _Glitch] = {}
        driver_topics = [c.topic for c in (mqtt_battery, mqtt_ev_charger) if c is not None]
        self.plugin = FlashMqPlugin(
            portal_id,
            self.store,
            self._send,
            heartbeat_interval=heartbeat_interval,
            keepalive_timeout=keepalive_timeout,
            rng=rng,
            on_write=self._after_write,
        )
        self._link = MqttLink(
            host,
            port,
            subscriptions=("W/#", "R/#", *dict.fromkeys(driver_topics)),
            on_connect=self._on_connect,
            on_message=self._on_message,
            username=username,
            password=password,
            identifier=f"venus-sim-{portal_id}-{rng.getrandbits(32):08x}",
        )
        if plant is not None:
            if battery is None:
                raise ValueError("a plant needs a battery service for its BMS")
            # The BMS service reports the physical pack.
            battery = replace(battery, cells=plant.pack.cells, capacity_ah=plant.pack.capacity_ah)
        if battery is not None:
            self.add_battery(battery)
        if plant is not None and battery is not None:
            self._add_plant(plant, battery.instance)
        if mqtt_battery is not None:
            self.mqtt_battery = MqttBatteryDriver(mqtt_battery, self, self._loop_time)
            self._drivers.append(self.mqtt_battery)
        if mqtt_ev_charger is not None:
            self.mqtt_ev_charger = MqttEvChargerDriver(mqtt_ev_charger, self, self._loop_time)
            self._drivers.append(self.mqtt_ev_charger)
        self._recompute()

    def _add_plant(self, config: PlantConfig, battery_instance: int) -> None:
        self.plant = PlantModel(config)
        # The GX setting says what the plant does: MPPTs ignore CCL with DC feed-in on.
        feed_in = self.store.item("settings", 0, "/Settings/CGwacs/OvervoltageFeedIn")
        if feed_in is not None:
            feed_in.value = 1 if config.dc_coupled_feed_in else 0
        if config.multiplus is not None:
            self.store.add_service(build_vebus_service(config.multiplus))
        if config.mppt is not None:
            self.store.add_service(build_solarcharger_service(config.mppt))
        if config.grid_meter is not None:
            self.store.add_service(build_grid_meter_service(config.grid_meter))
        self._live = LivePlant(
            self.plant,
            self.clock,
            store=self.store,
            battery_instance=battery_instance,
            apply=self._apply_updates,
            recompute=self._recompute,
        )

    # ------------------------------------------------------------- lifecycle
    async def start(self, timeout: float = 10.0) -> None:
        """Connect, subscribe (W/#, R/#), publish the retained Serial and N/<id>/keepalive 1."""
        if self._running:
            return
        self._running = True
        self._announced = False
        try:
            await self._link.start(timeout)
            await self._link.flush()
        except BaseException:
            await self.stop()
            raise
        for instance in self._batteries:
            self._start_update_timer(instance)
        if self._live is not None:
            self._live.start()
        for driver in self._drivers:
            self._start_driver_timer(driver)

    async def stop(self) -> None:
        """Cancel every task and timer and disconnect; safe to call twice."""
        self._running = False
        if self._live is not None:
            self._live.stop()
        for driver_timer in self._driver_timers:
            driver_timer.cancel()
        self._driver_timers.clear()
        for timer in self._update_timers.values():
            timer.cancel()
        self._update_timers.clear()
        self.plugin.close()
        # Not alive any more: the true readings come back without a publication.
        for key in list(self._glitches):
            self._end_glitch(key)
        await self._link.stop()

    def _on_connect(self) -> None:
        if not self._announced:
            # Plugin start (once per start()): retained Serial plus N/<id>/keepalive 1.
            self._announced = True
            self.plugin.announce()
        else:
            # A new broker (restart) lost the retained Serial: put it back.
            self.plugin.publish_serial()

    def _on_message(self, topic: str, payload: bytes) -> None:
        drivers = [d for d in self._drivers if d.config.topic == topic]
        for driver in drivers:
            driver.handle_message(payload)
        if not drivers:
            self.plugin.handle_message(topic, payload)

    @staticmethod
    def _loop_time() -> float:
        return asyncio.get_running_loop().time()

    def _send(self, topic: str, payload: bytes, retain: bool) -> None:
        self._link.send(topic, payload, retain)

    # ------------------------------------------------------------ properties
    @property
    def alive(self) -> bool:
        """True while a keepalive was seen within keepalive_timeout."""
        return self.plugin.alive

    @property
    def connected(self) -> bool:
        """True while connected to the broker."""
        return self._link.connected

    @property
    def connect_count(self) -> int:
        """Number of successful broker connections (reconnects included)."""
        return self._link.connect_count

    @property
    def keepalive_count(self) -> int:
        """Keepalives received for our portal id (rate-limited ones included)."""
        return self.plugin.keepalive_count

    @property
    def rate_limited_keepalives(self) -> int:
        """Keepalives whose full publish was dropped by the 3-per-second limit."""
        return self.plugin.rate_limited_keepalives

    @property
    def full_publish_count(self) -> int:
        """Full publishes performed."""
        return self.plugin.full_publish_count

    @property
    def settings_writes(self) -> int:
        """Accepted writes that changed a setting (each would hit flash on a GX)."""
        return self.plugin.settings_writes

    @property
    def rejected_writes(self) -> list[tuple[str, str]]:
        """(topic, reason) of every silently rejected W/."""
        return self.plugin.rejected_writes

    @property
    def received_writes(self) -> list[tuple[str, JsonValue]]:
        """(topic, coerced value) of every accepted W/."""
        return self.plugin.received_writes

    @property
    def ovp_events(self) -> int:
        """Over-voltage trips of the simulated BMS (0 without a plant)."""
        return 0 if self.plant is None else self.plant.ovp_events

    @property
    def batteries(self) -> dict[int, BatteryConfig]:
        """The battery configurations by instance."""
        return dict(self._batteries)

    # ---------------------------------------------------------------- values
    def get_value(self, service: str, instance: int, path: str) -> JsonValue:
        """A path's current value (KeyError if it does not exist)."""
        return self.store.value(service, instance, _normalise(path))

    def set_value(self, service: str, instance: int, path: str, value: JsonValue) -> None:
        """Set a value as the owning driver would; published if alive and changed.

        Derived values (cell min/max/ids, Sum/Diff, pack voltage and power, the
        system mirror, DVCC) are recomputed, so e.g. /Dc/0/Voltage follows the cells.
        """
        svc = self._service(service, instance)
        item = svc.items.get(_normalise(path))
        if item is None:
            raise KeyError(f"{service}/{instance}{_normalise(path)}")
        self._apply(svc, item, value)
        self._recompute()

    def _service(self, service: str, instance: int) -> Service:
        svc = self.store.service(service, instance)
        if svc is None:
            raise KeyError(f"no service {service}/{instance}")
        return svc

    def _apply(self, service: Service, item: Item, value: JsonValue) -> None:
        glitch = self._glitches.get((service.service_type, service.instance, item.path))
        if glitch is not None:
            # The reading stays wrong; remember the real one for the end of the glitch.
            glitch.true_value = value
            return
        if same_value(item.value, value):
            return
        item.value = value
        self.plugin.publish_item(service, item)

    def _apply_updates(self, service: Service, updates: dict[str, JsonValue]) -> None:
        for path, value in updates.items():
            item = service.items.get(path)
            if item is not None:
                self._apply(service, item, value)

    def _recompute(self) -> None:
        for instance, config in self._batteries.items():
            battery = self.store.service("battery", instance)
            if battery is not None:
                self._apply_updates(battery, derive(battery, config))
        system = self.store.service("system", 0)
        if system is not None:
            self._apply_updates(system, derive_system(self.store))

    def _after_write(self, service: Service, item: Item) -> None:
        # A setting (Bol, MaxChargeVoltage, BmsInstance) may change systemcalc's view.
        self._recompute()
        if self._live is not None and service.service_type == "settings":
            # Start the 1.3-2.3 s DVCC delay from the write, not from the next wake-up.
            self._live.sync_inputs()

    # ------------------------------------ dbus-mqtt-battery, dbus-mqtt-ev-charger
    def add_driver_service(self, service: Service) -> None:
        """DriverHost: a driver's service appears (published at once if alive)."""
        self.store.add_service(service)
        self.plugin.publish_service(service)
        self._recompute()

    def update_driver_service(self, service: Service, values: dict[str, JsonValue]) -> None:
        """DriverHost: a driver sets its values."""
        self._apply_updates(service, values)
        self._recompute()

    def remove_driver_service(self, service: Service) -> None:
        """DriverHost: a driver exits; its service vanishes."""
        if self.store.service(service.service_type, service.instance) is service:
            self.plugin.vanish(service)
            self.store.remove_service(service.service_type, service.instance)
            self._drop_glitches(service)
        self._recompute()

    def _start_driver_timer(self, driver: _JsonDriver) -> None:
        def tick() -> None:
            driver.tick()
            timer.arm_in(driver.config.update_interval)

        timer = ClockTimer(tick)
        self._driver_timers.append(timer)
        timer.arm_in(driver.config.update_interval)

    # --------------------------------------------------------------- battery
    def _battery(self, instance: int | None) -> tuple[BatteryConfig, Service]:
        if instance is None:
            if not self._batteries:
                raise KeyError("no battery")
            instance = min(self._batteries)
        config = self._batteries.get(instance)
        if config is None:
            raise KeyError(f"no battery {instance}")
        return config, self._service("battery", instance)

    def set_cell_voltages(self, voltages: list[float], instance: int | None = None) -> None:
        """Set every cell voltage of a battery (the lowest instance by default)."""
        config, service = self._battery(instance)
        if len(voltages) != config.cells:
            raise ValueError(f"battery has {config.cells} cells, got {len(voltages)} voltages")
        for index, volts in enumerate(voltages, start=1):
            self._apply(service, service.items[cell_path("Voltages", index)], volts)
        self._recompute()

    def set_cell_count(self, cells: int, instance: int | None = None) -> None:
        """Add or remove cells at runtime.

        serialbattery: removed cells get zero-byte payloads (their paths vanish);
        mqtt_battery: the 24 slots stay and removed cells become null.
        """
        config, service = self._battery(instance)
        check_cell_count(config.flavour, cells)
        old = config.cells
        new_config = replace(config, cells=cells)
        self._batteries[config.instance] = new_config
        if cells < old:
            removed = [
                service.items[cell_path(kind, index)]
                for index in range(cells + 1, old + 1)
                for kind in ("Voltages", "Balances")
            ]
            if config.flavour == "serialbattery":
                self.plugin.vanish(service, removed)
                for item in removed:
                    del service.items[item.path]
            else:
                for item in removed:
                    self._apply(service, item, None)
        elif cells > old:
            fresh = initial_cell_voltages(new_config, self.seed)
            for index in range(old + 1, cells + 1):
                for path, value in (
                    (cell_path("Voltages", index), fresh[index - 1]),
                    (cell_path("Balances", index), 0),
                ):
                    existing = service.items.get(path)
                    if existing is None:
                        # A new D-Bus path appears: published like any change.
                        self.plugin.publish_item(service, service.add(path, value))
                    else:
                        self._apply(service, existing, value)
        # The driver's static limits scale with the cell count.
        self._apply_updates(
            service,
            {
                "/Info/MaxChargeVoltage": round(MAX_CELL_VOLTAGE * cells, 3),
                "/Info/BatteryLowVoltage": round(MIN_CELL_VOLTAGE * cells, 3),
            },
        )
        self._recompute()

    def add_battery(self, config: BatteryConfig) -> None:
        """A battery service (re)appears; published at once if alive."""
        if self.store.service("battery", config.instance) is not None:
            raise ValueError(f"battery {config.instance} already exists")
        service = build_battery_service(config, self.seed)
        self.store.add_service(service)
        self._batteries[config.instance] = config
        self.plugin.publish_service(service)
        if self._running:
            self._start_update_timer(config.instance)
        self._recompute()

    def remove_service(self, service: str, instance: int) -> None:
        """The service vanishes: zero-byte payloads on all its topics (if alive)."""
        svc = self._service(service, instance)
        self.plugin.vanish(svc)
        self.store.remove_service(service, instance)
        self._drop_glitches(svc)
        if service == "battery":
            self._batteries.pop(instance, None)
            timer = self._update_timers.pop(instance, None)
            if timer is not None:
                timer.cancel()
        self._recompute()

    def _start_update_timer(self, instance: int) -> None:
        config = self._batteries[instance]
        if config.flavour != "mqtt_battery" or instance in self._update_timers:
            return

        def tick() -> None:
            service = self.store.service("battery", instance)
            if service is None:
                return
            item = service.items["/UpdateIndex"]
            current = item.value if isinstance(item.value, int) else 0
            self._apply(service, item, (current + 1) % 256)
            # Drift-free cadence, but no burst of catch-up ticks after a clock jump.
            due = timer.when + config.update_interval
            now = asyncio.get_running_loop().time()
            timer.arm_at(due if due > now else now + config.update_interval)

        timer = ClockTimer(tick)
        self._update_timers[instance] = timer
        timer.arm_in(config.update_interval)

    # ------------------------------------------------------- fault injection
    def chargers_ignore_dvcc(self, current: float | None) -> None:
        """Fault injection: the chargers take ``current`` A whatever DVCC says (None: heal)."""
        if self.plant is None:
            raise RuntimeError("chargers need a plant")
        self.plant.dvcc.ignored_by_chargers = current

    def pause_heartbeat(self) -> None:
        """Heartbeats stop while the system stays alive."""
        self.plugin.pause_heartbeat()

    def resume_heartbeat(self) -> None:
        """Heartbeats resume."""
        self.plugin.resume_heartbeat()

    def expire_keepalive(self) -> None:
        """Behave as if keepalive_timeout passed since the last keepalive."""
        self.plugin.expire_keepalive()

    def full_publish(self, echo: str | None = None) -> None:
        """Force a full publish now (as an unthrottled keepalive would)."""
        self.plugin.full_publish(echo)

    def glitch_cell(
        self,
        cell: int,
        voltage: float | None,
        duration: float | None = 1.0,
        instance: int | None = None,
    ) -> None:
        """A glitching cell reading: ``Voltages/Cell<cell>`` reads ``voltage`` for a while.

        Published at once (if alive); a simulated BMS's derived values (min/max,
        Sum/Diff, pack voltage) follow it, as they follow any reading, while a
        dbus-mqtt-battery driver keeps the ones it derived from its JSON. The cell
        itself is untouched: the physics and the BMS protection keep seeing the
        true voltage, and every update to the reading meanwhile is held back.
        After ``duration`` seconds (None: until end_glitch) the true reading
        returns. ``instance`` defaults to the lowest battery instance, a
        dbus-mqtt-battery driver's service included.
        """
        service = self._glitch_target(instance)
        path = cell_path("Voltages", cell)
        item = service.items.get(path)
        if item is None:
            raise KeyError(f"battery/{service.instance} has no {path}")
        key = (service.service_type, service.instance, path)
        glitch = self._glitches.get(key)
        if glitch is None:
            glitch = self._glitches[key] = _Glitch(item.value)
        elif glitch.timer is not None:
            glitch.timer.cancel()
            glitch.timer = None
        if not same_value(item.value, voltage):
            item.value = voltage
            self.plugin.publish_item(service, item)
        self._recompute()
        if duration is not None:
            timer = ClockTimer(lambda: self._end_glitch(key))
            glitch.timer = timer
            timer.arm_in(duration)

    def end_glitch(self, cell: int, instance: int | None = None) -> None:
        """The cell reads true again (no-op if it was not glitching)."""
        service = self._glitch_target(instance)
        self._end_glitch((service.service_type, service.instance, cell_path("Voltages", cell)))

    @property
    def glitching_cells(self) -> list[tuple[int, int]]:
        """(battery instance, cell) of every glitching reading."""
        return sorted(
            (instance, int(path.rsplit("Cell", 1)[1])) for _, instance, path in self._glitches
        )

    def _glitch_target(self, instance: int | None) -> Service:
        batteries = self.store.services_of_type("battery")
        if instance is not None:
            batteries = [b for b in batteries if b.instance == instance]
        if not batteries:
            raise KeyError("no battery" if instance is None else f"no battery {instance}")
        return batteries[0]

    def _drop_glitches(self, service: Service) -> None:
        # A vanished service takes its glitches with it; a new one starts clean.
        for key in [k for k in self._glitches if k[:2] == (service.service_type, service.instance)]:
            timer = self._glitches.pop(key).timer
            if timer is not None:
                timer.cancel()

    def _end_glitch(self, key: tuple[str, int, str]) -> None:
        glitch = self._glitches.pop(key, None)
        if glitch is None:
            return
        if glitch.timer is not None:
            glitch.timer.cancel()
        service_type, instance, path = key
        service = self.store.service(service_type, instance)
        item = None if service is None else service.items.get(path)
        if service is None or item is None:
            return  # the service (or the cell) went away meanwhile
        self._apply(service, item, glitch.true_value)
        self._recompute()

    async def publish_raw(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Publish arbitrary bytes on any topic and wait until sent (malformed input)."""
        await self._link.send_and_wait(topic, payload, retain)
