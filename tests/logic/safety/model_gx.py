"""A small model of a GX for the pure-layer safety tests.

Everything reaches the integration's `VenusState` as `N/` messages through its own
parser, as on the wire: a real BMS on instance 512, settings/0, system/0 with
systemcalc's choice of controlling BMS (venus-observed 31-33), and a dbus-mqtt-battery
driver that appears on the first document and vanishes 60 s after the last one. Time
is explicit (`tick`). The model imports the integration only to feed it; what it
checks against are its own raw values.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from custom_components.victron_balance.logic.gx_view import GxView, gx_view
from custom_components.victron_balance.logic.safety.envelope import Document
from custom_components.victron_balance.logic.safety.gx_settings import (
    BMS_INSTANCE_PATH,
    SettingWrite,
)
from custom_components.victron_balance.logic.safety.pack import PackShape, PackTracker
from custom_components.victron_balance.logic.top_balance.chemistry import (
    PRESETS,
    ChemistryPreset,
)
from custom_components.victron_balance.logic.venus_state import VenusState
from custom_components.victron_balance.logic.venus_topics import ServiceKey

PORTAL = "p"
REAL = 512
VIRTUAL = 100
DRIVER_TIMEOUT_S = 60.0
ALARMS = (
    "HighVoltage",
    "HighCellVoltage",
    "LowVoltage",
    "HighChargeTemperature",
    "LowChargeTemperature",
    "InternalFailure",
    "BmsCable",
    "CellImbalance",
)


@dataclass
class RealBms:
    """What the real BMS publishes (None: not published)."""

    cells: list[float | None]
    ccl: float | None = 50.0
    dcl: float | None = 60.0
    cvl: float | None = None  # set from the cell count
    allow_charge: int | None = 1
    allow_discharge: int | None = 1
    temperature: float | None = 20.0
    soc: float | None = 80.0
    reports_cells: bool = True  # NrOfCellsPerBattery = N (else 0: dbus-mqtt-battery)
    alarms: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ALARMS, 0))

    def items(self) -> dict[str, Any]:
        """The battery service's paths and values."""
        n = len(self.cells)
        known = [v for v in self.cells if v is not None]
        items: dict[str, Any] = {
            "/ProductName": "JK BMS",
            "/ProductId": 0xBA77,
            "/Dc/0/Voltage": round(sum(known), 2) if known else None,
            "/Dc/0/Current": 10.0,
            "/Dc/0/Power": round(sum(known) * 10.0, 1) if known else None,
            "/Dc/0/Temperature": self.temperature,
            "/Soc": self.soc,
            "/InstalledCapacity": 100.0,
            "/Info/MaxChargeVoltage": round(3.45 * n, 3) if self.cvl is None else self.cvl,
            "/Info/MaxChargeCurrent": self.ccl,
            "/Info/MaxDischargeCurrent": self.dcl,
            "/Io/AllowToCharge": self.allow_charge,
            "/Io/AllowToDischarge": self.allow_discharge,
            "/System/NrOfCellsPerBattery": n if self.reports_cells else 0,
        }
        for name, level in self.alarms.items():
            items[f"/Alarms/{name}"] = level
        for number, volts in enumerate(self.cells, start=1):
            items[f"/Voltages/Cell{number}"] = volts
            items[f"/Balances/Cell{number}"] = 0
        return items


class ModelGx:
    """The GX side for pure tests; see the module docstring."""

    def __init__(self, cells: int = 4, *, preset: str = "lifepo4_355", seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.state = VenusState(PORTAL)
        self.tracker = PackTracker()
        self.preset: ChemistryPreset = PRESETS[preset]
        self.now = 1_700_000_000.0
        self.mono = 10_000.0
        self.alive = True
        self.true_cells = cells
        self.real = RealBms(cells=[3.30] * cells)
        self.battery_up = False
        self.settings: dict[str, Any] = {
            "/Settings/Services/Bol": 1,
            "/Settings/SystemSetup/MaxChargeCurrent": -1,
            "/Settings/SystemSetup/MaxChargeVoltage": 0.0,
            "/Settings/SystemSetup/BmsInstance": -1,
            "/Settings/CGwacs/OvervoltageFeedIn": 0,
        }
        self._shape: PackShape | None = None
        self.shape_since = self.mono
        self.virtual_items: dict[str, Any] | None = None
        self.last_document_mono: float | None = None
        self.documents: list[Document] = []
        self.writes: list[SettingWrite] = []
        for path, value in self.settings.items():
            self.send("settings", 0, path, value)
        self.publish_battery()
        self.systemcalc()
        self.full_publish()

    # ------------------------------------------------------------------ wire
    def send(self, service: str, instance: int, path: str, value: Any) -> None:
        """One N/ message as the GX publishes it."""
        topic = f"N/{PORTAL}/{service}/{instance}{path}"
        self.state.apply(topic, json.dumps({"value": value}).encode())
        if service == "battery":
            self._observe_shape()

    def vanish(self, service: str, instance: int, path: str) -> None:
        """A zero-byte payload: the path is gone."""
        self.state.apply(f"N/{PORTAL}/{service}/{instance}{path}", b"")
        if service == "battery":
            self._observe_shape()

    def _observe_shape(self) -> None:
        items = self.state.services.get(ServiceKey("battery", REAL))
        shape = None if not items else PackShape.of(REAL, items)
        if shape != self._shape:
            self._shape, self.shape_since = shape, self.mono
        self.tracker.observe(self.mono, shape)

    def shown_cells(self) -> int | None:
        """How many cells the GX shows right now (None: no battery)."""
        return None if self._shape is None else len(self._shape.cells)

    def publish_battery(self, only: list[str] | None = None) -> None:
        """The real battery's paths (all, or some: a driver half-way through starting)."""
        items = self.real.items()
        paths = list(items) if only is None else only
        for path in paths:
            self.send("battery", REAL, path, items[path])
        self.battery_up = True

    def battery_gone(self) -> None:
        """The BMS driver stops: its paths vanish one by one."""
        items = self.state.services.get(ServiceKey("battery", REAL), {})
        paths = list(items)
        self.rng.shuffle(paths)
        for path in paths:
            self.vanish("battery", REAL, path)
        self.battery_up = False

    def battery_partly_back(self, fraction: float) -> None:
        """The BMS driver restarts and has registered only some of its paths so far."""
        paths = list(self.real.items())
        self.rng.shuffle(paths)
        self.publish_battery(paths[: max(1, int(len(paths) * fraction))])

    def full_publish(self) -> None:
        """Every topic again, then the completion (the tracker's confirmation point)."""
        if self.battery_up:
            self.publish_battery()
        for path, value in self.settings.items():
            self.send("settings", 0, path, value)
        self.tracker.full_publish_completed(self.mono)

    def update_real(self) -> None:
        """The real BMS publishes its current values (changes only, as Venus does)."""
        if self.battery_up:
            self.publish_battery()
        self.systemcalc()

    # ------------------------------------------------------------------ systemcalc
    def bms_instance(self) -> int:
        """The controlling-BMS setting."""
        return int(self.settings["/Settings/SystemSetup/BmsInstance"])

    def capable(self) -> list[int]:
        """Battery instances that publish Info/MaxChargeVoltage (systemcalc's BMS test)."""
        out = []
        if self.battery_up and self.real.items()["/Info/MaxChargeVoltage"] is not None:
            out.append(REAL)
        if self.virtual_items is not None:
            out.append(VIRTUAL)
        return sorted(out)

    def active_bms(self) -> int | None:
        """systemcalc's choice (31, 32)."""
        wanted = self.bms_instance()
        capable = self.capable()
        if wanted == -255:
            return None
        if wanted == -1:
            return capable[0] if capable else None
        return wanted if wanted in capable else None

    def systemcalc(self) -> None:
        """Publish systemcalc's choice on system/0."""
        active = self.active_bms()
        self.send("system", 0, "/ActiveBmsInstance", active)
        name = None
        if active == VIRTUAL:
            name = f"com.victronenergy.battery.mqtt_battery_{VIRTUAL}"
        elif active == REAL:
            name = "com.victronenergy.battery.ttyUSB0"
        self.send("system", 0, "/ActiveBmsService", name)
        self.send("system", 0, "/ActiveBatteryService", f"com.victronenergy.battery/{REAL}")

    # ------------------------------------------------------------------ outputs
    def receive_document(self, document: Document | None) -> None:
        """Our document on the driver's topic: the driver (re)appears and follows it."""
        if document is None:
            return
        self.documents.append(document)
        self.last_document_mono = self.mono
        payload = document.payload
        info = payload["Info"]
        items = {
            "/ProductId": 0xFFFF,
            "/ProductName": "MQTT Battery",
            "/Info/MaxChargeVoltage": info["MaxChargeVoltage"],
            "/Info/MaxChargeCurrent": info["MaxChargeCurrent"],
            "/Info/MaxDischargeCurrent": info["MaxDischargeCurrent"],
            "/Io/AllowToCharge": payload["Io"]["AllowToCharge"],
        }
        for path, value in items.items():
            self.send("battery", VIRTUAL, path, value)
        self.virtual_items = items
        self.systemcalc()

    def receive_write(self, write: SettingWrite, *, echo: bool = True) -> bool:
        """A settings write; True when the GX echoed it (applied and confirmed)."""
        self.writes.append(write)
        if not self.alive:
            return False
        self.settings[write.path] = write.value
        if echo:
            self.send("settings", 0, write.path, write.value)
        if write.path == BMS_INSTANCE_PATH:
            self.systemcalc()
        return echo

    def tick(self, seconds: float = 1.0) -> None:
        """Time passes; the driver exits 60 s after the last document."""
        self.now += seconds
        self.mono += seconds
        last = self.last_document_mono
        if (
            self.virtual_items is not None
            and last is not None
            and (self.mono - last > DRIVER_TIMEOUT_S)
        ):
            for path in list(self.virtual_items):
                self.vanish("battery", VIRTUAL, path)
            self.virtual_items = None
            self.systemcalc()

    def view(self) -> GxView:
        """What the supervisor sees now."""
        self._observe_shape()
        return gx_view(
            self.state,
            battery_instance=REAL,
            virtual_instance=VIRTUAL,
            pack=self.tracker.confirmed(self.mono),
            alive=self.alive,
            preset=self.preset,
            now_s=self.now,
            mono_s=self.mono,
        )

    def settled(self, seconds: float = 6.0) -> None:
        """Let the pack description confirm (a full publish and the window)."""
        self.full_publish()
        self.tick(seconds)
