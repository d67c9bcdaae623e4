"""A synchronous GX for the safety campaign: the simulator's pure parts, wired by hand.

The simulator's item store and service builders, its physics plant (pack, BMS, DVCC,
MultiPlus), systemcalc's choice of controlling BMS and the dbus-mqtt-battery driver
model; every change reaches the integration's `VenusState` as the N/ payload the
simulator would publish, in the same instant (no MQTT, no asyncio). Faults are
injected here; what the checks compare against is this GX's own truth (the store and
the plant), never what the integration believes.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from typing import Any

from custom_components.victron_balance.logic.gx_view import GxView, gx_view
from custom_components.victron_balance.logic.safety.envelope import Document
from custom_components.victron_balance.logic.safety.gx_settings import SettingWrite
from custom_components.victron_balance.logic.safety.pack import PackShape, PackTracker
from custom_components.victron_balance.logic.top_balance.chemistry import PRESETS
from custom_components.victron_balance.logic.venus_state import VenusState
from custom_components.victron_balance.logic.venus_topics import ServiceKey
from simulator.battery import BatteryConfig, derive
from simulator.bms import BmsConfig
from simulator.chargers import MultiPlusConfig
from simulator.dvcc import BmsLimits
from simulator.items import Item, ItemStore, JsonValue, Service, same_value
from simulator.mqtt_battery import MqttBatteryConfig, MqttBatteryDriver
from simulator.pack import PackConfig
from simulator.plant import PlantConfig, PlantModel
from simulator.services import (
    build_battery_service,
    build_settings_service,
    build_system_service,
)
from simulator.systemcalc import active_bms, bms_limits, derive_system, dvcc_settings, is_bms

PORTAL = "c0ffee00beef"
DRIVER_TIMEOUT_S = 15.0
REAL = 512
VIRTUAL = 100
# The chosen BMS is absent: systemcalc reports "BMS lost" and chargers that expect a
# BMS (BmsPresent = 1) stop charging (venus-observed 32).
_BMS_LOST = BmsLimits(cvl=None, ccl=0.0, allow_to_charge=False)


def _payload(item: Item) -> bytes:
    """The simulator's N/ payload; plain scalars the quick way (the same bytes)."""
    value = item.value
    if item.minimum is None and item.maximum is None:
        if value is None:
            return b'{"value":null}'
        kind = type(value)
        if kind is int or (kind is float and math.isfinite(value)):  # type: ignore[arg-type]
            return b'{"value":%s}' % repr(value).encode()
    return item.payload()


@dataclass
class Faults:
    """What is wrong with the real BMS right now (None: nothing)."""

    blocks_charge: bool = False
    blocks_discharge: bool = False
    alarm: str | None = None
    temperature: float | None = None


@dataclass
class PureGx:
    """One GX, its plant and its drivers, stepped one simulated second at a time."""

    cells: int
    flavour: str
    seed: int
    soc: float = 0.97
    spread: float = 0.02
    rng: random.Random = field(init=False)
    store: ItemStore = field(init=False)
    plant: PlantModel = field(init=False)
    state: VenusState = field(init=False)
    tracker: PackTracker = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.store = ItemStore()
        self.state = VenusState(PORTAL)
        self.tracker = PackTracker()
        self.now = 1_767_225_600.0
        self.mono = 0.0
        self.alive = True  # the integration hears the GX (a gap: it does not)
        self.faults = Faults()
        self.config = BatteryConfig(
            instance=REAL,
            cells=self.cells,
            flavour="mqtt_battery" if self.flavour == "mqtt_battery" else "serialbattery",
        )
        self.plant = PlantModel(
            PlantConfig(
                pack=PackConfig(
                    cells=self.cells,
                    capacity_ah=100.0,
                    soc=self.soc,
                    soc_spread=self.spread,
                    seed=self.seed,
                ),
                # A BMS left to the top balance: a fixed CCL (JK-like), its own OVP.
                bms=BmsConfig(
                    balance_current=1.0, ccl_by_cell_voltage=False, max_charge_current=60.0
                ),
                multiplus=MultiPlusConfig(max_charge_current=40.0, grid_charging=True),
            )
        )
        # The driver's timeout as the README recommends (15 s): after a crash it holds
        # our last document that long, not the default 60 s.
        self.driver = MqttBatteryDriver(
            MqttBatteryConfig(instance=VIRTUAL, timeout=DRIVER_TIMEOUT_S), self, self._now
        )
        for service in (build_system_service(PORTAL), build_settings_service()):
            self.store.add_service(service)
            self._publish_service(service)
        self.set_setting("/Settings/Services/Bol", 1)
        self.battery_up = False
        self.battery_back()
        self.recompute()
        self.full_publish()

    def _now(self) -> float:
        return self.mono

    # ------------------------------------------------------------------ the wire
    def _send(self, service: Service, item: Item) -> None:
        if self.alive:
            topic = f"N/{PORTAL}/{service.service_type}/{service.instance}{item.path}"
            update = self.state.apply(topic, _payload(item))
            if update.structure and service.service_type == "battery":
                self._observe()  # as the coordinator does: on a change of shape only

    def _vanish(self, service: Service, item: Item) -> None:
        # Sent while not alive too (venus-observed 6).
        topic = f"N/{PORTAL}/{service.service_type}/{service.instance}{item.path}"
        update = self.state.apply(topic, b"")
        if update.structure or update.vanished is not None:
            self._observe()

    def _observe(self) -> None:
        items = self.state.services.get(ServiceKey("battery", REAL))
        self.tracker.observe(self.mono, None if not items else PackShape.of(REAL, items))

    def _publish_service(self, service: Service) -> None:
        items = list(service.items.values())
        self.rng.shuffle(items)  # a service appears path by path, in hash order (35)
        for item in items:
            self._send(service, item)

    def _apply(self, service: Service, values: dict[str, JsonValue]) -> None:
        for path, value in values.items():
            item = service.items.get(path)
            if item is None or same_value(item.value, value):
                continue
            item.value = value
            self._send(service, item)

    def full_publish(self) -> None:
        """Everything the GX holds, then the completion (what confirms a pack)."""
        if not self.alive:
            return
        for service in self.store:
            for item in service.items.values():
                self._send(service, item)
        self.tracker.full_publish_completed(self.mono)

    # ------------------------------------------------------------------ DriverHost
    def add_driver_service(self, service: Service) -> None:
        """The driver registers its service."""
        self.store.add_service(service)
        self._publish_service(service)
        self.recompute()

    def update_driver_service(self, service: Service, values: dict[str, JsonValue]) -> None:
        """The driver sets its values (systemcalc looks at the end of the second)."""
        self._apply(service, values)

    def remove_driver_service(self, service: Service) -> None:
        """The driver exits."""
        self.store.remove_service(service.service_type, service.instance)
        for item in service.items.values():
            self._vanish(service, item)
        self.recompute()

    # ------------------------------------------------------------------ settings
    def setting(self, path: str) -> JsonValue:
        """A setting's value as the GX holds it."""
        return self.store.value("settings", 0, path)

    def set_setting(self, path: str, value: JsonValue) -> None:
        """Changed on the GX (the user, VRM)."""
        service = self.store.service("settings", 0)
        assert service is not None
        self._apply(service, {path: value})
        self.recompute()

    def receive_write(self, write: SettingWrite, *, rejected: bool = False) -> bool:
        """A W/ from the integration; True when echoed (venus-observed 14-16)."""
        if rejected:
            return False
        item = self.store.item("settings", 0, write.path)
        if item is None:
            return False
        try:
            value = item.coerce(write.value)
        except Exception:
            return False
        if same_value(item.value, value):
            return self.alive
        item.value = value
        service = self.store.service("settings", 0)
        assert service is not None
        self._send(service, item)
        self.recompute()
        return self.alive  # applied either way, echoed only while alive

    # ------------------------------------------------------------------ documents
    def receive_document(self, document: Document | None) -> None:
        """Our JSON on the driver's topic."""
        if document is not None:
            self.driver.handle_message(json.dumps(document.payload).encode())

    # ------------------------------------------------------------------ the real BMS
    def battery_gone(self) -> None:
        """The BMS driver stops: its paths vanish one by one."""
        service = self.store.remove_service("battery", REAL)
        if service is not None:
            items = list(service.items.values())
            self.rng.shuffle(items)
            for item in items:
                self._vanish(service, item)
        self.battery_up = False
        self.recompute()

    def battery_back(self) -> None:
        """The BMS driver (re)starts: its paths appear one by one."""
        if self.battery_up:
            return
        service = build_battery_service(self.config, self.seed)
        self._battery_values(service)
        self.store.add_service(service)
        self._publish_service(service)
        self.battery_up = True
        self.recompute()

    def _battery_values(self, service: Service) -> None:
        values: dict[str, Any] = dict(self.plant.bms.paths())
        faults = self.faults
        if faults.blocks_charge:
            values["/Io/AllowToCharge"] = 0
            values["/Info/MaxChargeCurrent"] = 0.0
        if faults.blocks_discharge:
            values["/Io/AllowToDischarge"] = 0
            values["/Info/MaxDischargeCurrent"] = 0.0
        if faults.alarm is not None and f"/Alarms/{faults.alarm}" in service.items:
            values[f"/Alarms/{faults.alarm}"] = 2
        if faults.temperature is not None:
            values["/Dc/0/Temperature"] = faults.temperature
        for path, value in values.items():
            item = service.items.get(path)
            if item is not None:
                item.value = value
        for path, value in derive(service, self.config).items():
            item = service.items.get(path)
            if item is not None:
                item.value = value

    def real_items(self) -> dict[str, JsonValue]:
        """The real BMS's values as the GX holds them (the truth for the checks)."""
        service = self.store.service("battery", REAL)
        return {} if service is None else {p: i.value for p, i in service.items.items()}

    # ------------------------------------------------------------------ systemcalc
    def recompute(self) -> None:
        """systemcalc's picture (system/0) and DVCC's inputs to the plant."""
        system = self.store.service("system", 0)
        assert system is not None
        self._apply(system, derive_system(self.store))
        self.plant.set_settings(dvcc_settings(self.store))
        bms = active_bms(self.store)
        # DVCC follows what the chosen service publishes.
        self.plant.external_bms = _BMS_LOST if bms is None else bms_limits(bms)

    def active_bms(self) -> int | None:
        """The instance DVCC follows."""
        bms = active_bms(self.store)
        return None if bms is None else bms.instance

    def multiple_batteries(self) -> bool:
        """systemcalc's alarm: two services publish a charge voltage limit."""
        return sum(1 for b in self.store.services_of_type("battery") if is_bms(b)) > 1

    def virtual_cvl(self) -> float | None:
        """What DVCC follows from the virtual BMS, if it follows it."""
        if self.active_bms() != VIRTUAL:
            return None
        value = self.store.value("battery", VIRTUAL, "/Info/MaxChargeVoltage")
        return float(value) if isinstance(value, int | float) else None

    # ------------------------------------------------------------------ time
    def step(self) -> None:
        """One simulated second of physics, the BMS's publication and the driver."""
        self.now += 1.0
        self.mono += 1.0
        self.plant.step()
        service = self.store.service("battery", REAL)
        if service is not None:
            before = {p: i.value for p, i in service.items.items()}
            self._battery_values(service)
            for path, item in service.items.items():
                if not same_value(before[path], item.value):
                    self._send(service, item)
        self.driver.tick()
        self.recompute()

    def set_alive(self, alive: bool) -> None:
        """The integration hears the GX or not; back after a gap it asks for a full
        publish, as the Venus link does after a heartbeat gap."""
        was, self.alive = self.alive, alive
        if alive and not was:
            self.full_publish()

    def view(self) -> GxView:
        """What the integration's supervisor sees."""
        self._observe()
        if self.alive and self.tracker.wants_full_publish(self.mono):
            # As the coordinator does when a battery changed shape.
            self.tracker.requested(self.mono)
            self.full_publish()
        return gx_view(
            self.state,
            battery_instance=REAL,
            virtual_instance=VIRTUAL,
            pack=self.tracker.confirmed(self.mono),
            alive=self.alive,
            preset=PRESETS["lifepo4_355"],
            now_s=self.now,
            mono_s=self.mono,
        )
