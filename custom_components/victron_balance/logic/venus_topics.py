"""Venus OS MQTT topic names (dbus-flashmq dialect).

`N/<portal>/<service>/<instance>/<path>` carries notifications, `W/...` writes and
`R/...` reads. The portal id is the GX's VRM id.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TopicKind(StrEnum):
    """First topic level."""

    NOTIFY = "N"
    WRITE = "W"
    READ = "R"


SERIAL_DISCOVERY_TOPIC = "N/+/system/0/Serial"


@dataclass(frozen=True, slots=True)
class ServiceKey:
    """A D-Bus service as Venus names it on MQTT: type and device instance."""

    service: str
    instance: int


@dataclass(frozen=True, slots=True)
class ItemTopic:
    """A parsed `N/<portal>/<service>/<instance>/<path>` topic."""

    portal_id: str
    key: ServiceKey
    path: str


@dataclass(frozen=True, slots=True)
class PortalTopic:
    """A parsed portal-level topic such as `N/<portal>/heartbeat`."""

    portal_id: str
    name: str


class TopicError(ValueError):
    """The topic does not follow the Venus layout."""


def parse_notify_topic(topic: str) -> ItemTopic | PortalTopic:
    """Parse an `N/` topic into an item topic or a portal-level topic."""
    parts = topic.split("/")
    if len(parts) < 3 or parts[0] != TopicKind.NOTIFY or not parts[1]:
        raise TopicError(f"not a Venus notification topic: {topic!r}")
    portal_id = parts[1]
    if len(parts) == 3:
        return PortalTopic(portal_id, parts[2])
    if len(parts) < 5 or not parts[2] or not all(parts[4:]):
        raise TopicError(f"incomplete Venus item topic: {topic!r}")
    try:
        instance = int(parts[3])
    except ValueError as err:
        raise TopicError(f"device instance is not a number in {topic!r}") from err
    return ItemTopic(portal_id, ServiceKey(parts[2], instance), "/" + "/".join(parts[4:]))


def notify_topic(portal_id: str, key: ServiceKey, path: str) -> str:
    """Build `N/<portal>/<service>/<instance><path>`."""
    return f"N/{portal_id}/{key.service}/{key.instance}{path}"


def write_topic(portal_id: str, key: ServiceKey, path: str) -> str:
    """Build the `W/` topic for an item."""
    return f"W/{portal_id}/{key.service}/{key.instance}{path}"


def read_topic(portal_id: str, key: ServiceKey, path: str) -> str:
    """Build the `R/` topic for an item (or a sub-tree)."""
    return f"R/{portal_id}/{key.service}/{key.instance}{path}"


def keepalive_topic(portal_id: str) -> str:
    """The keepalive topic; an empty payload there triggers a full publish."""
    return f"R/{portal_id}/keepalive"


def portal_subscription(portal_id: str) -> str:
    """Every notification of one portal."""
    return f"N/{portal_id}/#"


SYSTEM = ServiceKey("system", 0)
SETTINGS = ServiceKey("settings", 0)
