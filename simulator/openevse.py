"""A simulated openEVSE WiFi (ESP32 firmware) on an MQTT broker.

It plays the station's side of the firmware's MQTT API (``src/mqtt.cpp``):

* Announce: retained ``openevse/announce/<last 4 of id>`` with
  ``{"state":"connected","id","name","mqtt","http"}``; the Last Will on the same
  topic is ``{"state":"disconnected","id","name"}`` (retained).
* Status: ``<base>/<key>`` for amp (mA), voltage (V), pilot (A), max_current (A),
  power (W), temp (0.1 °C), state, status, vehicle, session_energy (Wh),
  total_energy (kWh), divertmode, manual_override, divert_active,
  available_current. Sent when they change and all of them every
  ``status_interval``; not retained (the firmware's default).
* Retained JSON ``<base>/claim`` (the MQTT client's own claim) and
  ``<base>/override`` (the manual override), ``{"state":"null"}`` when absent.
* Commands: ``<base>/claim/set`` (JSON or ``release``), ``<base>/override/set``
  (JSON, ``toggle`` or ``clear``), ``<base>/divertmode/set`` (``1``|``2``).
  Anything else on those topics is ignored and counted in ``bad_commands``.

The station's physics lives in `OpenEvseModel`; this class only drives its
clock and translates between it and MQTT. Pass ``tick_interval=None`` to drive
the clock yourself with ``step(dt)``.
"""

from __future__ import annotations

import json
import logging

from simulator.device_link import LastWill, WillLink
from simulator.device_tools import ChangePublisher, SimTicker, fmt_number
from simulator.ev import EvModel
from simulator.evse_claims import (
    CLIENT_MANUAL,
    CLIENT_MQTT,
    PRIORITY_MANUAL,
    PRIORITY_MQTT,
    Claim,
    parse_props,
)
from simulator.evse_model import OpenEvseModel
from simulator.timers import ClockTimer

_LOGGER = logging.getLogger(__name__)

_NULL_CLAIM = b'{"state":"null"}'


class OpenEvseSimulator:
    """One openEVSE WiFi module speaking MQTT, with an EV behind it."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        evse_id: str = "openevse-1a2b",
        ev: EvModel | None = None,
        status_interval: float = 30.0,
        username: str | None = None,
        password: str | None = None,
        base_topic: str | None = None,
        device_id: str | None = None,
        max_current: float = 32.0,
        voltage: float = 230.0,
        tick_interval: float | None = 1.0,
        speed: float = 1.0,
        retain_status: bool = False,
    ) -> None:
        self.evse_id = evse_id
        self.short_id = evse_id[-4:]
        # The firmware's long id is the MAC; the hostname ends in its last 4 hex digits.
        self.device_id = device_id or f"c44f33{self.short_id:0>6}"
        self.base_topic = base_topic or evse_id
        self.announce_topic = f"openevse/announce/{self.short_id}"
        self.status_interval = status_interval
        self.retain_status = retain_status
        self.model = OpenEvseModel(ev, max_current=max_current, voltage=voltage)
        self.bad_commands = 0
        self.bad_command_log: list[tuple[str, bytes]] = []
        self._link = WillLink(
            host,
            port,
            will=LastWill(self.announce_topic, self._announce(connected=False)),
            subscriptions=[
                f"{self.base_topic}/claim/set",
                f"{self.base_topic}/override/set",
                f"{self.base_topic}/divertmode/set",
            ],
            on_connect=self._on_connect,
            on_message=self._on_message,
            username=username,
            password=password,
            identifier=f"{evse_id}-sim",
        )
        self._status = ChangePublisher(self._link.send)
        self._retained = ChangePublisher(self._link.send)
        self._status_timer = ClockTimer(self._periodic)
        self._ticker = SimTicker(self.step, tick_interval, speed) if tick_interval else None
        self._started = False
        self.model.add_listener(self._publish_changes)

    # --- lifecycle -------------------------------------------------------------

    async def start(self, timeout: float = 10.0) -> None:
        """Connect, announce, publish everything and start the clock."""
        if self._started:
            return
        self._started = True
        await self._link.start(timeout)
        self._status_timer.arm_in(self.status_interval)
        if self._ticker is not None:
            self._ticker.start()

    async def stop(self) -> None:
        """Announce "disconnected", disconnect and leave no task or timer behind."""
        self._started = False
        self._status_timer.cancel()
        if self._ticker is not None:
            self._ticker.stop()
        await self._link.stop(farewell=(self.announce_topic, self._announce(connected=False)))

    def go_offline(self) -> None:
        """Fault: lose the network without a clean disconnect (the broker sends the Will)."""
        self._link.drop()

    async def come_online(self, timeout: float = 10.0) -> None:
        """Reconnect after go_offline(): announce and republish everything."""
        await self._link.resume(timeout)

    async def flush(self) -> None:
        """Wait until every queued publication reached the socket."""
        await self._link.flush()

    # --- observation -------------------------------------------------------------

    @property
    def ev(self) -> EvModel:
        """The car behind the station."""
        return self.model.ev

    @property
    def connected(self) -> bool:
        """Connected to the broker."""
        return self._link.connected

    @property
    def connect_count(self) -> int:
        """Successful connections so far."""
        return self._link.connect_count

    @property
    def state(self) -> int:
        """The openEVSE state code (1, 2, 3, 4-11, 254, 255)."""
        return self.model.state

    @property
    def pilot(self) -> float:
        """The pilot current in A."""
        return self.model.pilot

    @property
    def amps(self) -> float:
        """The charging current in A."""
        return self.model.amps

    @property
    def active_claims(self) -> tuple[Claim, ...]:
        """Claims other than Default, highest priority first."""
        return self.model.active_claims()

    @property
    def charge_starts(self) -> int:
        """How often the contactor closed (a measure of chatter)."""
        return self.model.charge_starts

    def step(self, dt: float) -> None:
        """Advance the station and the car by ``dt`` simulated seconds."""
        self.model.step(dt)

    def status_values(self) -> dict[str, str]:
        """The status sub-topics and their payloads, as published now."""
        m = self.model
        return {
            "amp": str(round(m.amps * 1000)),
            "voltage": fmt_number(m.voltage, 1),
            "pilot": fmt_number(m.pilot, 1),
            "max_current": fmt_number(m.effective_max, 1),
            "power": str(round(m.power)),
            "temp": str(round(m.temperature * 10)),
            "state": str(m.state),
            "status": "active" if m.active else "disabled",
            "vehicle": "1" if m.ev.plugged else "0",
            "session_energy": fmt_number(m.session_energy, 1),
            "total_energy": fmt_number(m.total_energy / 1000.0, 3),
            "divertmode": str(m.divert_mode),
            "manual_override": "1" if m.manual_override else "0",
            "divert_active": "1" if m.divert_active else "0",
            "available_current": fmt_number(m.divert_available, 1),
        }

    # --- MQTT --------------------------------------------------------------------

    def _announce(self, *, connected: bool) -> bytes:
        body: dict[str, str] = {
            "state": "connected" if connected else "disconnected",
            "id": self.device_id,
            "name": self.evse_id,
        }
        if connected:
            body["mqtt"] = self.base_topic
            body["http"] = f"http://{self.evse_id}.local/"
        return json.dumps(body, separators=(",", ":")).encode()

    def _claim_payload(self, client: str) -> bytes:
        claim = self.model.claims.get(client)
        if claim is None:
            return _NULL_CLAIM
        return json.dumps(claim.props.to_json(), separators=(",", ":")).encode()

    def _on_connect(self) -> None:
        self._status.reset()
        self._retained.reset()
        self._link.send(self.announce_topic, self._announce(connected=True), True)
        self._publish(force=True)

    def _periodic(self) -> None:
        self._status_timer.arm_in(self.status_interval)
        self._publish(force=True)

    def _publish_changes(self) -> None:
        self._publish(force=False)

    def _publish(self, *, force: bool) -> None:
        base = self.base_topic
        values = {f"{base}/{key}": text.encode() for key, text in self.status_values().items()}
        self._status.publish(values, retain=self.retain_status, force=force)
        claims = {
            f"{base}/claim": self._claim_payload(CLIENT_MQTT),
            f"{base}/override": self._claim_payload(CLIENT_MANUAL),
        }
        # Retained state only goes out on change: republishing it is pointless.
        self._retained.publish(claims, retain=True)

    def _bad(self, topic: str, payload: bytes) -> None:
        self.bad_commands += 1
        self.bad_command_log.append((topic, payload))
        _LOGGER.debug("Ignoring bad command on %s: %r", topic, payload)

    def _on_message(self, topic: str, payload: bytes) -> None:
        base = self.base_topic
        text = payload.strip()
        if topic == f"{base}/claim/set":
            if text == b"release":
                self.model.release(CLIENT_MQTT)
            elif (props := parse_props(text)) is not None:
                self.model.claim(CLIENT_MQTT, PRIORITY_MQTT, props)
            else:
                self._bad(topic, payload)
        elif topic == f"{base}/override/set":
            if text == b"clear":
                self.model.release(CLIENT_MANUAL)
            elif text == b"toggle":
                self.model.toggle_override()
            elif (props := parse_props(text)) is not None:
                self.model.claim(CLIENT_MANUAL, PRIORITY_MANUAL, props)
            else:
                self._bad(topic, payload)
        elif topic == f"{base}/divertmode/set":
            if text in (b"1", b"2"):
                self.model.set_divert_mode(int(text))
            else:
                self._bad(topic, payload)
