"""A D-Bus-like item store: services keyed by (service_type, instance), each path an Item.

It mirrors what dbus-flashmq caches from D-Bus (``State::dbus_service_items``) plus
the bits of velib/localsettings behaviour that decide whether a SetValue is
accepted: read-only paths refuse, settings enforce min/max, integer settings
truncate floats, numeric strings are converted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

type JsonValue = bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None
type Number = int | float


class WriteRejected(Exception):
    """A write the owning service refuses; on the wire this is silent."""


def _sanitize(value: JsonValue) -> JsonValue:
    """NaN/inf cannot be JSON; nlohmann (FlashMQ) dumps them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_sanitize(v) for v in value]
    if isinstance(value, dict):
        return {k: _sanitize(v) for k, v in value.items()}
    return value


def dump_json(value: JsonValue) -> str:
    """Compact JSON with sorted keys, as nlohmann::json::dump() writes it."""
    return json.dumps(_sanitize(value), separators=(",", ":"), sort_keys=True, allow_nan=False)


def same_value(old: JsonValue, new: JsonValue) -> bool:
    """Equality that also sees type drift (``false`` -> ``1`` is a change)."""
    return type(old) is type(new) and old == new


@dataclass
class Item:
    """One D-Bus path with its value and, for settings, its range."""

    path: str
    value: JsonValue = None
    minimum: Number | None = None
    maximum: Number | None = None
    writable: bool = False
    integer: bool = False

    @property
    def has_range(self) -> bool:
        """Settings carry min and max; they are published with the value."""
        return self.minimum is not None and self.maximum is not None

    def payload(self) -> bytes:
        """The N/ payload: ``{"value":X}``, plus min/max for settings."""
        body: dict[str, JsonValue] = {"value": self.value}
        if self.minimum is not None and self.maximum is not None:
            body["min"] = self.minimum
            body["max"] = self.maximum
        return dump_json(body).encode()

    def _is_numeric(self) -> bool:
        if self.has_range or self.integer:
            return True
        return isinstance(self.value, int | float) and not isinstance(self.value, bool)

    def coerce(self, raw: JsonValue) -> JsonValue:
        """Return the value a SetValue of ``raw`` would store, or raise WriteRejected."""
        if not self.writable:
            raise WriteRejected("read-only path")
        if raw is None:
            raise WriteRejected("null value")
        if self.value is None and not self.has_range and not self.integer:
            # An untyped, still-invalid path: velib stores whatever type comes in.
            return raw
        if not self._is_numeric():
            if isinstance(raw, str):
                return raw
            raise WriteRejected(f"expected a string, got {type(raw).__name__}")
        number: float
        if isinstance(raw, int | float):  # bool is an int: true -> 1
            number = float(raw)
        elif isinstance(raw, str):
            # localsettings converts a D-Bus string to the setting's type.
            try:
                number = float(raw.strip())
            except ValueError:
                raise WriteRejected(f"not a number: {raw!r}") from None
        else:
            raise WriteRejected(f"expected a number, got {type(raw).__name__}")
        if not math.isfinite(number):
            raise WriteRejected("not a finite number")
        value: Number = int(number) if self.integer else number  # int() truncates 7.5 -> 7
        if self.minimum is not None and value < self.minimum:
            raise WriteRejected(f"out of range: {value} < min {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise WriteRejected(f"out of range: {value} > max {self.maximum}")
        return value


@dataclass
class Service:
    """One D-Bus service, e.g. com.victronenergy.battery.ttyUSB0 as battery/512."""

    service_type: str
    instance: int
    name: str
    items: dict[str, Item] = field(default_factory=dict)

    def add(
        self,
        path: str,
        value: JsonValue = None,
        *,
        minimum: Number | None = None,
        maximum: Number | None = None,
        writable: bool = False,
        integer: bool = False,
    ) -> Item:
        """Add (or replace) a path."""
        item = Item(path, value, minimum, maximum, writable, integer)
        self.items[path] = item
        return item

    def short_name(self) -> str:
        """The MQTT form ``<service_type>/<instance>``."""
        return f"{self.service_type}/{self.instance}"

    def subtree(self, prefix: str) -> list[Item]:
        """Every leaf at or below ``prefix`` ("" or "/" is the whole service)."""
        prefix = prefix.rstrip("/")
        if not prefix:
            return list(self.items.values())
        return [
            item
            for path, item in self.items.items()
            if path == prefix or path.startswith(prefix + "/")
        ]


class ItemStore:
    """All services the simulated GX exposes."""

    def __init__(self) -> None:
        self._services: dict[tuple[str, int], Service] = {}

    def __iter__(self) -> Iterator[Service]:
        return iter(list(self._services.values()))

    def __len__(self) -> int:
        return len(self._services)

    def add_service(self, service: Service) -> None:
        """Register a service; its (type, instance) must be free."""
        key = (service.service_type, service.instance)
        if key in self._services:
            raise ValueError(f"service {service.short_name()} already exists")
        self._services[key] = service

    def remove_service(self, service_type: str, instance: int) -> Service | None:
        """Drop a service and return it (None if it was not there)."""
        return self._services.pop((service_type, instance), None)

    def service(self, service_type: str, instance: int) -> Service | None:
        """The service, or None."""
        return self._services.get((service_type, instance))

    def services_of_type(self, service_type: str) -> list[Service]:
        """All services of one type, lowest instance first."""
        return sorted(
            (s for s in self._services.values() if s.service_type == service_type),
            key=lambda s: s.instance,
        )

    def item(self, service_type: str, instance: int, path: str) -> Item | None:
        """The item, or None."""
        service = self.service(service_type, instance)
        return None if service is None else service.items.get(path)

    def value(self, service_type: str, instance: int, path: str) -> JsonValue:
        """The item's value (KeyError if the item does not exist)."""
        item = self.item(service_type, instance, path)
        if item is None:
            raise KeyError(f"{service_type}/{instance}{path}")
        return item.value

    def item_count(self) -> int:
        """Number of leaves over all services."""
        return sum(len(s.items) for s in self._services.values())
