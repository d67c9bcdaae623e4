"""The Venus OS side of the wire: FlashMQ with the dbus-flashmq plugin (v25).

Topic dialect (see venus-observed.md for the numbered behaviours):

* ``N/<id>/<service_type>/<instance>/<path>`` carries ``{"value":X}`` (settings add
  ``min``/``max``); an invalid value is ``{"value":null}``; a vanished device gets a
  zero-byte payload on each of its topics.
* Only ``N/<id>/system/0/Serial`` is retained (discovery without keepalive).
* ``R/<id>/keepalive`` (or the legacy ``R/<id>/system/0/Serial``) makes the system
  "alive" for 60 s and, unless suppressed, triggers a full publish that ends with
  ``N/<id>/full_publish_completed``. Full publishes are rate-limited to 3 a second.
  While alive, ``N/<id>/heartbeat`` every 3 s and value changes are published;
  when not alive nothing is (no nulls either).
* ``W/<id>/...`` writes never answer with an error: the only confirmation is the
  N/ echo of the changed value. ``R/<id>/...`` always answers, alive or not.

Not done here, because they are properties of the broker, not of the plugin
(``simulator.gx_broker`` configures mosquitto to reproduce both):

* 19: FlashMQ's ACL blocks clients from publishing on ``N/<id>/...``. A plain
  mosquitto does not, so a test client *can* inject N/ messages here (which is
  handy for fault injection, see ``VenusSimulator.publish_raw``).
* 20: FlashMQ accepts any client connecting from localhost without credentials.
  The simulator simply connects with whatever credentials it is given.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable, Iterable

from simulator.items import (
    Item,
    ItemStore,
    JsonValue,
    Service,
    WriteRejected,
    dump_json,
    same_value,
)
from simulator.timers import ClockTimer

_LOGGER = logging.getLogger(__name__)

# dbus-flashmq state.h: KEEPALIVE_TOKENS, refilled by the one-second timer.
KEEPALIVE_TOKENS = 3
TOKEN_REFILL_PERIOD = 1.0
SUPPRESS_REPUBLISH = "suppress-republish"
ECHO_KEY = "full-publish-completed-echo"

type SendFn = Callable[[str, bytes, bool], None]
type WriteHook = Callable[[Service, Item], None]


def _reject_constant(name: str) -> JsonValue:
    # nlohmann rejects NaN/Infinity; Python's json would accept them.
    raise ValueError(f"invalid JSON constant {name}")


def completion_echo(text: str) -> str | None:
    """The ``full-publish-completed-echo`` token of a keepalive payload, if any."""
    if not text.strip():
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    options = data.get("keepalive-options")
    echo: str | None = None
    if isinstance(options, list):
        for option in options:
            if isinstance(option, dict) and isinstance(option.get(ECHO_KEY), str):
                echo = option[ECHO_KEY]
    return echo


class FlashMqPlugin:
    """Keepalive/alive state, heartbeat, full publish, W/ and R/ handling, change publishing."""

    def __init__(
        self,
        portal_id: str,
        store: ItemStore,
        send: SendFn,
        *,
        heartbeat_interval: float = 3.0,
        keepalive_timeout: float = 60.0,
        rng: random.Random | None = None,
        on_write: WriteHook | None = None,
    ) -> None:
        self.portal_id = portal_id
        self.store = store
        self.heartbeat_interval = heartbeat_interval
        self.keepalive_timeout = keepalive_timeout
        self._send = send
        self._rng = rng or random.Random()
        self._on_write = on_write
        self._alive = False
        self._alive_until = 0.0
        self._expiry = ClockTimer(self._on_expiry)
        self._heartbeat = ClockTimer(self._on_heartbeat)
        self.heartbeat_paused = False
        self._tokens = KEEPALIVE_TOKENS
        self._tokens_refilled_at: float | None = None
        # Counters and logs for tests.
        self.keepalive_count = 0
        self.rate_limited_keepalives = 0
        self.full_publish_count = 0
        self.settings_writes = 0
        self.rejected_writes: list[tuple[str, str]] = []
        self.reject_writes = False  # fault injection: SetValue fails for every write
        self.received_writes: list[tuple[str, JsonValue]] = []

    # ----------------------------------------------------------------- state
    @property
    def alive(self) -> bool:
        """True while a keepalive was seen within ``keepalive_timeout``."""
        return self._alive

    def close(self) -> None:
        """Cancel every timer (the simulator is stopping)."""
        self._expiry.cancel()
        self._heartbeat.cancel()
        self._alive = False

    def expire_keepalive(self) -> None:
        """Behave as if the keepalive timeout passed now."""
        if self._alive:
            self._go_dead()

    def _go_dead(self) -> None:
        self._alive = False
        self._expiry.cancel()
        self._heartbeat.cancel()
        _LOGGER.info("Keepalive expired: N/ traffic stops")

    def _on_expiry(self) -> None:
        # Re-check the clock: only the deadline of the *last* keepalive counts.
        loop = asyncio.get_running_loop()
        if loop.time() < self._alive_until:
            self._expiry.arm_at(self._alive_until)
            return
        self._go_dead()

    # ------------------------------------------------------------ publishing
    def topic(self, service: Service, path: str) -> str:
        """The N/ topic of a service path."""
        return f"N/{self.portal_id}/{service.service_type}/{service.instance}{path}"

    def announce(self) -> None:
        """Plugin start: the retained Serial and a one-off plain ``1`` on N/<id>/keepalive."""
        self.publish_serial()
        self._send(f"N/{self.portal_id}/keepalive", b"1", False)

    def publish_serial(self) -> None:
        """(Re)publish the retained Serial, the one topic present without keepalive."""
        item = self.store.item("system", 0, "/Serial")
        payload = (
            item.payload() if item is not None else dump_json({"value": self.portal_id}).encode()
        )
        self._send(f"N/{self.portal_id}/system/0/Serial", payload, True)

    def _send_item(self, service: Service, item: Item) -> None:
        # Live publications are never retained, the Serial included.
        self._send(self.topic(service, item.path), item.payload(), False)

    def publish_item(self, service: Service, item: Item) -> None:
        """A value changed: publish it, but only while alive."""
        if self._alive:
            self._send_item(service, item)

    def publish_service(self, service: Service) -> None:
        """A service appeared: all its items one by one, in hash order, while alive.

        A driver that (re)starts registers its ~181 paths one by one (behaviour 35):
        whoever reads them sees the service grow, never all of it at once.
        """
        if self._alive:
            items = list(service.items.values())
            self._rng.shuffle(items)
            for item in items:
                self._send_item(service, item)

    def vanish(self, service: Service, items: Iterable[Item] | None = None) -> None:
        """Zero-byte payloads for a vanished service (or some of its paths), one by one.

        Published even while no keepalive is active (behaviour 6's exception, 2026-11-23).
        """
        doomed = list(service.items.values() if items is None else items)
        self._rng.shuffle(doomed)
        for item in doomed:
            self._send(self.topic(service, item.path), b"", False)

    def full_publish(self, echo: str | None = None) -> None:
        """Every item of every service in hash-like order, then the completion message."""
        self.full_publish_count += 1
        services = list(self.store)
        # FlashMQ walks unordered_maps: services and paths come in hash order.
        self._rng.shuffle(services)
        count = 0
        for service in services:
            items = list(service.items.values())
            self._rng.shuffle(items)
            for item in items:
                self._send_item(service, item)
                count += 1
        body: dict[str, JsonValue] = {"value": int(time.time())}
        if echo is not None:
            body[ECHO_KEY] = echo
        self._send(f"N/{self.portal_id}/full_publish_completed", dump_json(body).encode(), False)
        _LOGGER.info("Full publish of %d topics (echo=%r)", count, echo)

    # ------------------------------------------------------------- heartbeat
    def pause_heartbeat(self) -> None:
        """Fault injection: stop heartbeats while staying alive."""
        self.heartbeat_paused = True

    def resume_heartbeat(self) -> None:
        """Undo pause_heartbeat()."""
        self.heartbeat_paused = False

    def _beat(self) -> None:
        if not self.heartbeat_paused:
            body = dump_json({"value": int(time.time())})
            self._send(f"N/{self.portal_id}/heartbeat", body.encode(), False)
        self._heartbeat.arm_in(self.heartbeat_interval)

    def _on_heartbeat(self) -> None:
        if self._alive:
            self._beat()

    # -------------------------------------------------------------- incoming
    def handle_message(self, topic: str, payload: bytes) -> None:
        """Dispatch one W/ or R/ message (everything else is ignored)."""
        parts = topic.split("/")
        if len(parts) < 2 or parts[0] not in ("W", "R"):
            return
        if parts[0] == "W":
            self._handle_write(topic, parts, payload)
            return
        if parts[1] != self.portal_id:
            _LOGGER.debug("Ignoring %s: not our portal id", topic)
            return
        rest = parts[2:]
        if rest == ["keepalive"]:
            self._handle_keepalive(payload)
            return
        if rest == ["system", "0", "Serial"]:
            # Legacy keepalive; it is also an ordinary read of the Serial.
            self._handle_keepalive(payload)
        self._handle_read(topic, rest)

    def _take_token(self) -> bool:
        now = asyncio.get_running_loop().time()
        if (
            self._tokens_refilled_at is None
            or now - self._tokens_refilled_at >= TOKEN_REFILL_PERIOD
        ):
            self._tokens = KEEPALIVE_TOKENS
            self._tokens_refilled_at = now
        if self._tokens <= 0:
            return False
        self._tokens -= 1
        return True

    def _handle_keepalive(self, payload: bytes) -> None:
        self.keepalive_count += 1
        text = payload.decode("utf-8", errors="replace")
        # Like dbus-flashmq, a substring test: no JSON parsing needed to suppress.
        if SUPPRESS_REPUBLISH not in text:
            if self._take_token():
                self.full_publish(completion_echo(text))
            else:
                # dbus-flashmq drops only the full publish; the keepalive still counts.
                self.rate_limited_keepalives += 1
                _LOGGER.info("Keepalive rate-limited: full publish dropped")
        loop = asyncio.get_running_loop()
        self._alive_until = loop.time() + self.keepalive_timeout
        self._expiry.arm_at(self._alive_until)
        if not self._alive:
            self._alive = True
            _LOGGER.info("Keepalive received: alive for %.1f s", self.keepalive_timeout)
        if not self._heartbeat.active:
            self._beat()

    def _handle_read(self, topic: str, rest: list[str]) -> None:
        if len(rest) < 2:
            _LOGGER.info("Ignoring read %s: no service/instance", topic)
            return
        try:
            instance = int(rest[1])
        except ValueError:
            _LOGGER.info("Ignoring read %s: bad instance", topic)
            return
        service = self.store.service(rest[0], instance)
        items = [] if service is None else service.subtree("/" + "/".join(rest[2:]))
        if service is None or not items:
            _LOGGER.info("Ignoring read %s: unknown path", topic)
            return
        # Reads answer whether or not the system is alive.
        for item in items:
            self._send_item(service, item)

    def _reject(self, topic: str, reason: str) -> None:
        self.rejected_writes.append((topic, reason))
        _LOGGER.info("Write to %s rejected: %s", topic, reason)

    def _parse_write(self, parts: list[str], payload: bytes) -> tuple[Service, Item, JsonValue]:
        if parts[1] != self.portal_id:
            raise WriteRejected("wrong portal id")
        if len(parts) < 5:
            raise WriteRejected("topic has no service path")
        if not payload:
            raise WriteRejected("empty payload")
        try:
            data = json.loads(payload, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError):
            raise WriteRejected("payload is not JSON") from None
        if not isinstance(data, dict):
            raise WriteRejected("payload is not a JSON object")
        if "value" not in data:
            raise WriteRejected("no 'value' in payload")
        try:
            instance = int(parts[3])
        except ValueError:
            raise WriteRejected("bad instance") from None
        service = self.store.service(parts[2], instance)
        if service is None:
            raise WriteRejected("unknown service")
        item = service.items.get("/" + "/".join(parts[4:]))
        if item is None:
            raise WriteRejected("unknown path")
        return service, item, item.coerce(data["value"])

    def _handle_write(self, topic: str, parts: list[str], payload: bytes) -> None:
        if self.reject_writes:
            self._reject(topic, "fault injection: every write refused")
            return
        try:
            service, item, value = self._parse_write(parts, payload)
        except WriteRejected as err:
            self._reject(topic, str(err))
            return
        self.received_writes.append((topic, value))
        if same_value(item.value, value):
            # velib's SetValue returns OK before PropertiesChanged: no change, no echo.
            _LOGGER.info("Write to %s accepted (unchanged %r)", topic, value)
            return
        item.value = value
        if service.service_type == "settings":
            # localsettings writes every change to flash.
            self.settings_writes += 1
        _LOGGER.info("Write to %s accepted: %r", topic, value)
        self.publish_item(service, item)
        if self._on_write is not None:
            self._on_write(service, item)
