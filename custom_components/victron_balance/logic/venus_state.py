"""The integration's picture of one Venus OS system, built from N/ messages.

`VenusState.apply` takes one MQTT message and returns what it changed. Views such as
`BatteryView` derive what the entities show (cells, min/max, delta) from the raw items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .venus_topics import SETTINGS, SYSTEM, ItemTopic, ServiceKey, TopicError, parse_notify_topic
from .venus_values import (
    ANY_CELL_BALANCE,
    ANY_CELL_VOLTAGE,
    BATTERY_ALARMS,
    CELL_BALANCE_PATH,
    CELL_VOLTAGE_PATH,
    MAX_CELLS,
    PayloadKind,
    ValueProblem,
    ValueSpec,
    cell_number,
    coerce,
    decode_payload,
    spec_for,
)


@dataclass(frozen=True, slots=True)
class Update:
    """What one message did to the state."""

    changed: ServiceKey | None = None
    vanished: ServiceKey | None = None
    path: str | None = None  # the path of `changed` that changed
    group: str | None = None  # ANY_CELL_VOLTAGE / ANY_CELL_BALANCE for a cell path
    # A path of `changed` appeared or vanished, or its cell count changed: what the
    # service *is* may have changed, not only a reading (see logic.safety.pack).
    structure: bool = False
    heartbeat: bool = False
    full_publish_completed: bool = False
    echo_token: str | None = None
    plugin_started: bool = False
    problem: str | None = None


NO_CHANGE = Update()
CELL_COUNT_PATH = "/System/NrOfCellsPerBattery"
MAX_ROUTES = 4096  # parsed topics kept; a GX with one battery uses about 300
# Topics the integration does not use, remembered so a full publish (~600 of them every
# few minutes on a real GX) skips parsing them again; only the name is kept, no value.
MAX_IGNORED_TOPICS = 8192


@dataclass(frozen=True, slots=True)
class _Route:
    """A topic the integration uses, parsed once."""

    key: ServiceKey
    path: str
    spec: ValueSpec
    cell: int | None  # the number of a cell voltage or balance path
    group: str | None


@dataclass
class VenusState:
    """Raw item values per service; `None` is a value Venus reported as invalid.

    Only paths with a spec are stored; every other message is counted (`ignored`),
    so memory stays bounded whatever the GX publishes.
    """

    portal_id: str
    services: dict[ServiceKey, dict[str, Any]] = field(default_factory=dict)
    limits: dict[tuple[ServiceKey, str], tuple[Any, Any]] = field(default_factory=dict)
    messages: int = 0
    rejected: int = 0
    ignored: int = 0
    _routes: dict[str, _Route] = field(default_factory=dict, repr=False)
    _ignored_topics: set[str] = field(default_factory=set, repr=False)

    def apply(self, topic: str, raw: bytes) -> Update:
        """Fold one `N/` message into the state."""
        self.messages += 1
        route = self._routes.get(topic)
        if route is None:
            if topic in self._ignored_topics:
                self.ignored += 1
                return NO_CHANGE
            found = self._route(topic, raw)
            if isinstance(found, Update):
                return found
            route = found
        try:
            payload = decode_payload(raw)
        except ValueProblem as err:
            return self._reject(f"{topic}: {err}")
        if payload.kind is PayloadKind.VANISHED:
            return self._remove(route)
        if payload.value is None:
            if route.cell is not None:
                # dbus-mqtt-battery publishes null for cells the pack does not have.
                return self._remove(route)
            return self._store(route, None)
        if payload.minimum is not None or payload.maximum is not None:
            self.limits[(route.key, route.path)] = (payload.minimum, payload.maximum)
        try:
            value = coerce(route.spec, payload.value)
        except ValueProblem as err:
            # The reading is not trustworthy: show it as unknown rather than stale.
            self.rejected += 1
            update = self._store(route, None)
            return Update(
                changed=update.changed,
                path=update.path,
                group=update.group,
                structure=update.structure,
                problem=f"{topic}: {err}",
            )
        return self._store(route, value)

    def _route(self, topic: str, raw: bytes) -> _Route | Update:
        """Parse a topic seen for the first time (or not kept): its route, or the outcome."""
        try:
            parsed = parse_notify_topic(topic)
        except TopicError as err:
            return self._reject(str(err))
        if parsed.portal_id != self.portal_id:
            return self._reject(f"message for unknown portal {parsed.portal_id!r} on {topic}")
        if not isinstance(parsed, ItemTopic):
            return self._apply_portal_message(parsed.name, raw)
        spec = spec_for(parsed.key.service, parsed.path)
        if spec is None:
            self.ignored += 1
            if len(self._ignored_topics) < MAX_IGNORED_TOPICS:
                self._ignored_topics.add(topic)
            return NO_CHANGE
        group = None
        cell = cell_number(CELL_VOLTAGE_PATH, parsed.path)
        if cell is not None:
            group = ANY_CELL_VOLTAGE
        elif (cell := cell_number(CELL_BALANCE_PATH, parsed.path)) is not None:
            group = ANY_CELL_BALANCE
        if cell is not None and not 1 <= cell <= MAX_CELLS:
            return self._reject(f"{topic}: cell number {cell} is outside 1..{MAX_CELLS}")
        route = _Route(parsed.key, parsed.path, spec, cell, group)
        if len(self._routes) < MAX_ROUTES:
            self._routes[topic] = route
        return route

    def value(self, key: ServiceKey, path: str) -> Any:
        """The current value of an item, None if unknown or absent."""
        return self.services.get(key, {}).get(path)

    def has(self, key: ServiceKey) -> bool:
        """Whether the service is currently present on the GX."""
        return key in self.services

    def instances(self, service: str) -> list[int]:
        """Device instances currently present for a service type."""
        return sorted(key.instance for key in self.services if key.service == service)

    def _apply_portal_message(self, name: str, raw: bytes) -> Update:
        if name == "keepalive":
            # dbus-flashmq publishes a plain `1` here when the plugin (re)starts.
            return Update(plugin_started=True)
        try:
            payload = decode_payload(raw)
        except ValueProblem as err:
            return self._reject(f"N/{self.portal_id}/{name}: {err}")
        if name == "heartbeat":
            return Update(heartbeat=True)
        if name == "full_publish_completed":
            return Update(full_publish_completed=True, echo_token=payload.echo_token)
        return NO_CHANGE

    def _store(self, route: _Route, value: Any) -> Update:
        key, path = route.key, route.path
        items = self.services.get(key)
        if items is None:
            items = self.services[key] = {}
        known = path in items
        if known:
            old = items[path]
            if old == value and type(old) is type(value):
                return NO_CHANGE
        items[path] = value
        return Update(
            changed=key,
            path=path,
            group=route.group,
            structure=not known or path == CELL_COUNT_PATH,
        )

    def _remove(self, route: _Route) -> Update:
        key, path = route.key, route.path
        items = self.services.get(key)
        if items is None or path not in items:
            return NO_CHANGE
        del items[path]
        if items:
            return Update(changed=key, path=path, group=route.group, structure=True)
        # Venus empties every topic of a device that disappears.
        del self.services[key]
        self.limits = {k: v for k, v in self.limits.items() if k[0] != key}
        return Update(vanished=key)

    def _reject(self, problem: str) -> Update:
        self.rejected += 1
        return Update(problem=problem)


def battery_instance_from_service(service_name: Any) -> int | None:
    """`com.victronenergy.battery/512` -> 512; anything else -> None."""
    if not isinstance(service_name, str):
        return None
    prefix, _, instance = service_name.partition("/")
    if prefix != "com.victronenergy.battery" or not instance.isdigit():
        return None
    return int(instance)


def select_battery_instance(
    state: VenusState, configured: int | None, exclude: frozenset[int] = frozenset()
) -> int | None:
    """The battery the integration follows: the user's choice, else the system's active one.

    `exclude` holds our own virtual BMS: once Venus uses it, following it would mean
    reading back our own copy of the pack instead of the real BMS.
    """
    if configured is not None:
        return configured
    active = battery_instance_from_service(state.value(SYSTEM, "/ActiveBatteryService"))
    if active is not None and active not in exclude:
        return active
    present = [instance for instance in state.instances("battery") if instance not in exclude]
    return present[0] if present else None


@dataclass(frozen=True, slots=True)
class CellExtreme:
    """The lowest or highest cell: its number and voltage."""

    number: int | None
    voltage: float


class BatteryView:
    """Read-only view of one battery service with derived cell statistics.

    Raw values are read live; the cell statistics are computed once per view. A view
    is for one computation (one flush of the entities, one control step): take a new
    one after new messages.
    """

    def __init__(self, state: VenusState, instance: int) -> None:
        self.key = ServiceKey("battery", instance)
        self.items: dict[str, Any] = state.services.get(self.key, {})
        self._cells: dict[int, float | None] | None = None
        self._extremes: tuple[CellExtreme | None, CellExtreme | None] | None = None

    @property
    def present(self) -> bool:
        """Whether the battery service exists right now."""
        return bool(self.items)

    def value(self, path: str) -> Any:
        """Raw item value."""
        return self.items.get(path)

    def cell_voltages(self) -> dict[int, float | None]:
        """Voltage per present cell (None when its reading was rejected)."""
        if self._cells is None:
            cells: dict[int, float | None] = {}
            for path, value in self.items.items():
                number = cell_number(CELL_VOLTAGE_PATH, path)
                if number is not None:
                    cells[number] = value
            self._cells = dict(sorted(cells.items()))
        return dict(self._cells)

    def cell_voltage(self, number: int) -> float | None:
        """One cell's voltage."""
        value = self.items.get(f"/Voltages/Cell{number}")
        return value if isinstance(value, float) else None

    def cell_present(self, number: int) -> bool:
        """Whether the cell exists (a null reading means the pack has no such cell)."""
        return f"/Voltages/Cell{number}" in self.items

    def cell_balancing(self, number: int) -> bool | None:
        """Whether the BMS is bleeding this cell."""
        value = self.items.get(f"/Balances/Cell{number}")
        return value if isinstance(value, bool) else None

    def _cell_extremes(self) -> tuple[CellExtreme | None, CellExtreme | None]:
        if self._extremes is None:
            cells = [
                CellExtreme(number, voltage)
                for number, voltage in self.cell_voltages().items()
                if voltage is not None
            ]
            if cells:
                self._extremes = (
                    min(cells, key=lambda cell: cell.voltage),
                    max(cells, key=lambda cell: cell.voltage),
                )
            else:
                self._extremes = (
                    self._bms_extreme("/System/MinCellVoltage", "/System/MinVoltageCellId"),
                    self._bms_extreme("/System/MaxCellVoltage", "/System/MaxVoltageCellId"),
                )
        return self._extremes

    def min_cell(self) -> CellExtreme | None:
        """Lowest cell from the cell readings; the BMS summary when no cells are given."""
        return self._cell_extremes()[0]

    def max_cell(self) -> CellExtreme | None:
        """Highest cell from the cell readings; the BMS summary when no cells are given."""
        return self._cell_extremes()[1]

    def alarm_active(self, min_level: int = 2) -> bool:
        """Any BMS alarm at or above `min_level` (1 = warning, 2 = alarm).

        A top balance stops on alarms, not warnings: an imbalanced pack raises a
        cell-imbalance warning by the nature of the job.
        """
        return any(
            isinstance(level := self.items.get(f"/Alarms/{name}"), int) and level >= min_level
            for name in BATTERY_ALARMS
        )

    def cell_delta_mv(self) -> float | None:
        """Spread between highest and lowest cell in millivolts."""
        low, high = self.min_cell(), self.max_cell()
        if low is None or high is None:
            return None
        return round((high.voltage - low.voltage) * 1000.0, 1)

    def _bms_extreme(self, voltage_path: str, id_path: str) -> CellExtreme | None:
        voltage = self.items.get(voltage_path)
        if not isinstance(voltage, float):
            return None
        return CellExtreme(parse_cell_id(self.items.get(id_path)), voltage)


def parse_cell_id(raw: Any) -> int | None:
    """BMS cell ids come as "C3", "3" or 3."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        digits = raw.strip().lstrip("Cc")
        if digits.isdigit():
            return int(digits)
    return None


def dvcc_enabled(state: VenusState) -> bool | None:
    """DVCC on/off from the settings (bit 0 of Bol), else from systemcalc's flag."""
    bol = state.value(SETTINGS, "/Settings/Services/Bol")
    if isinstance(bol, int):
        return bool(bol & 1)
    control = state.value(SYSTEM, "/Control/Dvcc")
    return control if isinstance(control, bool) else None


def float_value(value: Any) -> float | None:
    """A stored value as a number, or None (values are coerced on arrival: floats only)."""
    return value if isinstance(value, float) else None


def phase_total(state: VenusState, prefix: str) -> float | None:
    """Sum of L1..L3 powers under a system prefix; None when no phase is known."""
    powers = [state.value(SYSTEM, f"{prefix}/L{phase}/Power") for phase in (1, 2, 3)]
    known = [power for power in powers if isinstance(power, float)]
    return sum(known) if known else None


def charger_current_limit(state: VenusState) -> float | None:
    """The charge current limit DVCC gave the inverter/charger (else the first MPPT)."""
    for service in ("vebus", "solarcharger"):
        for instance in state.instances(service):
            value = state.value(ServiceKey(service, instance), "/Link/ChargeCurrent")
            if isinstance(value, float):
                return value
    return None
