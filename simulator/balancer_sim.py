"""The balancer hardware on MQTT: the device side of docs/balancer-mqtt.md.

Translates between `BalancerHardware` and the topics under ``balancer/<id>``,
drives the physics clock, and publishes the measured output voltage/current on
change and every ``measure_interval``. All state topics are retained so a
controller that (re)subscribes sees the device at once; availability has a Last
Will so a dead device turns ``offline``.

Protocol 2: ``lease/set`` grants or renews the lease (JSON ``lease_s`` and the
controller's ``will`` topic, which the device then listens to: ``offline`` there
ends the lease at once) or releases it (``release``); the device reports it on
the retained ``lease`` topic. The timing itself is the pure hardware's.
"""

from __future__ import annotations

import json
import logging
import time

from simulator.balancer_hw import (
    LEASE_RELEASED,
    LEASE_WILL,
    BalancerConfig,
    BalancerHardware,
    CellSink,
    MemoryCells,
)
from simulator.device_link import LastWill, WillLink
from simulator.device_tools import ChangePublisher, SimTicker, fmt_number
from simulator.timers import ClockTimer

_LOGGER = logging.getLogger(__name__)

_WILDCARDS = ("+", "#")


def _on_off(payload: bytes) -> bool | None:
    text = payload.strip().lower()
    if text == b"on":
        return True
    if text == b"off":
        return False
    return None


class BalancerSimulator:
    """A relay balancer with a DC/DC charger, commanded over MQTT."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        balancer_id: str = "bal1",
        cells: CellSink | None = None,
        config: BalancerConfig | None = None,
        hardware: BalancerHardware | None = None,
        measure_interval: float = 1.0,
        tick_interval: float | None = 0.05,
        speed: float = 1.0,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        if hardware is None:
            config = config or BalancerConfig()
            cells = cells or MemoryCells([3.3] * config.relays)
            hardware = BalancerHardware(cells, config)
        self.hardware = hardware
        self.balancer_id = balancer_id
        self.base_topic = f"balancer/{balancer_id}"
        self.measure_interval = measure_interval
        self.bad_commands = 0
        self.bad_command_log: list[tuple[str, bytes]] = []
        base = self.base_topic
        self._link = WillLink(
            host,
            port,
            will=LastWill(f"{base}/availability", b"offline"),
            subscriptions=[
                f"{base}/relay/+/set",
                f"{base}/dcdc/set",
                f"{base}/dcdc/current/set",
                f"{base}/fault/clear",
                f"{base}/lease/set",
            ],
            on_connect=self._on_connect,
            on_message=self._on_message,
            username=username,
            password=password,
            identifier=f"balancer-{balancer_id}-sim",
        )
        self._state = ChangePublisher(self._link.send)
        self._measure_timer = ClockTimer(self._periodic)
        self._ticker = SimTicker(self.step, tick_interval, speed) if tick_interval else None
        self._started = False
        # Wall-clock time of faults for the wire (the model counts simulated seconds).
        self._fault_wall: dict[int, float] = {}
        self._will_topic: str | None = None  # the lease holder's Last Will topic we follow
        hardware.add_listener(self._publish_changes)

    # --- lifecycle -------------------------------------------------------------

    async def start(self, timeout: float = 10.0) -> None:
        """Connect, publish availability, info and all state, start the clock."""
        if self._started:
            return
        self._started = True
        await self._link.start(timeout)
        self._measure_timer.arm_in(self.measure_interval)
        if self._ticker is not None:
            self._ticker.start()

    async def stop(self) -> None:
        """Publish ``offline``, disconnect, leave no task or timer behind."""
        self._started = False
        self._measure_timer.cancel()
        if self._ticker is not None:
            self._ticker.stop()
        await self._link.stop(farewell=(f"{self.base_topic}/availability", b"offline"))

    def go_offline(self) -> None:
        """Fault: lose the network dirty (the broker publishes ``offline``)."""
        self._link.drop()

    async def come_online(self, timeout: float = 10.0) -> None:
        """Reconnect after go_offline()."""
        await self._link.resume(timeout)

    async def flush(self) -> None:
        """Wait until every queued publication reached the socket."""
        await self._link.flush()

    @property
    def connected(self) -> bool:
        """Connected to the broker."""
        return self._link.connected

    def step(self, dt: float) -> None:
        """Advance the hardware by ``dt`` simulated seconds."""
        self.hardware.step(dt)

    # --- wire format ---------------------------------------------------------------

    def info(self) -> dict[str, object]:
        """The retained ``info`` document."""
        cfg = self.hardware.config
        dcdc: dict[str, object] = {
            "open_circuit_voltage": cfg.open_circuit_voltage,
            "max_current": cfg.max_current,
            "output_resistance": cfg.output_resistance,
        }
        info: dict[str, object] = {
            "id": self.balancer_id,
            "protocol": cfg.protocol,
            "relays": cfg.relays,
            "kind": cfg.kind,
            "dcdc": dcdc,
            "relay_life": {"load": cfg.load_life, "dry": cfg.dry_life},
            "settle_time": cfg.settle_time,
            "measure_interval": self.measure_interval,
        }
        if cfg.protocol >= 2:
            dcdc["measures_current"] = cfg.measures_current
            info["lease"] = {"default_s": cfg.lease_s, "max_s": cfg.max_lease_s}
            info["max_charge_s"] = cfg.max_charge_s
        return info

    def state_values(self) -> dict[str, bytes]:
        """Every retained state topic and its payload now (measurements excluded)."""
        hw = self.hardware
        base = self.base_topic
        values: dict[str, bytes] = {
            f"{base}/dcdc": b"on" if hw.dcdc_on else b"off",
            f"{base}/dcdc/current": fmt_number(hw.current_setpoint).encode(),
            f"{base}/fault": self._fault_payload(),
        }
        if hw.config.protocol >= 2:
            lease = json.dumps(hw.lease_report(), separators=(",", ":")).encode()
            values[f"{base}/lease"] = lease
        for n in range(1, hw.relay_count + 1):
            values[f"{base}/relay/{n}"] = b"on" if hw.relay_on(n) else b"off"
            values[f"{base}/relay/{n}/cycles"] = str(hw.cycles(n)).encode()
            values[f"{base}/relay/{n}/load_cycles"] = str(hw.load_cycles(n)).encode()
            values[f"{base}/relay/{n}/charge_ah"] = fmt_number(hw.delivered_ah(n)).encode()
        return values

    def measurements(self) -> dict[str, bytes]:
        """The measured output, as published."""
        hw = self.hardware
        values = {f"{self.base_topic}/output_voltage": fmt_number(hw.output_voltage).encode()}
        if hw.config.measures_current:
            values[f"{self.base_topic}/output_current"] = fmt_number(hw.output_current).encode()
        return values

    def _fault_payload(self) -> bytes:
        fault = self.hardware.fault
        if fault is None:
            return b""  # empty retained message: no fault (and clears the retained one)
        count = len(self.hardware.faults)
        wall = self._fault_wall.setdefault(id(fault), time.time())
        body = {
            "reason": fault.reason,
            "relay": fault.relay,
            "detail": fault.detail,
            "at": round(wall, 3),
            "count": count,
        }
        return json.dumps(body, separators=(",", ":")).encode()

    # --- MQTT --------------------------------------------------------------------

    def _on_connect(self) -> None:
        self._state.reset()
        base = self.base_topic
        self._link.send(f"{base}/availability", b"online", True)
        info = json.dumps(self.info(), separators=(",", ":")).encode()
        self._link.send(f"{base}/info", info, True)
        self._publish(force=True)

    def _periodic(self) -> None:
        self._measure_timer.arm_in(self.measure_interval)
        self._state.publish(self.measurements(), retain=True, force=True)

    def _publish_changes(self) -> None:
        self._publish(force=False)

    def _publish(self, *, force: bool) -> None:
        self._state.publish(self.state_values(), retain=True, force=force)
        self._state.publish(self.measurements(), retain=True, force=force)

    def _bad(self, topic: str, payload: bytes) -> None:
        self.bad_commands += 1
        self.bad_command_log.append((topic, payload))
        _LOGGER.debug("Ignoring bad command on %s: %r", topic, payload)

    def _on_message(self, topic: str, payload: bytes) -> None:
        base = self.base_topic
        hw = self.hardware
        if topic == self._will_topic and topic == hw.lease_holder:
            if payload.strip().lower() == b"offline":
                hw.end_lease(LEASE_WILL)  # the controller died: as an expired lease, now
            return
        if topic == f"{base}/dcdc/set":
            on = _on_off(payload)
            if on is None:
                self._bad(topic, payload)
            elif not hw.set_dcdc(on):
                self._link.send(f"{base}/dcdc", b"off", True)  # refused: say so
        elif topic == f"{base}/lease/set":
            self._lease_command(topic, payload)
        elif topic == f"{base}/dcdc/current/set":
            try:
                hw.set_current(float(payload.strip()))
            except ValueError:
                self._bad(topic, payload)
        elif topic == f"{base}/fault/clear":
            hw.clear_fault()
        elif topic.startswith(f"{base}/relay/") and topic.endswith("/set"):
            self._relay_command(topic, payload)

    def _lease_command(self, topic: str, payload: bytes) -> None:
        hw = self.hardware
        if payload.strip().lower() == b"release":
            hw.end_lease(LEASE_RELEASED)
            return
        try:
            request = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError):
            request = None
        lease_s = request.get("lease_s") if isinstance(request, dict) else None
        will = request.get("will") if isinstance(request, dict) else None
        valid = (
            isinstance(request, dict)
            and (
                lease_s is None
                or (isinstance(lease_s, int | float) and not isinstance(lease_s, bool))
            )
            and (
                will is None
                or (isinstance(will, str) and will and not any(c in will for c in _WILDCARDS))
            )
        )
        if not valid or not hw.grant_lease(None if lease_s is None else float(lease_s), will):
            self._bad(topic, payload)
            return
        self._follow_will(will)

    def _follow_will(self, will: str | None) -> None:
        """Listen to the lease holder's Last Will topic (its retained value comes at once)."""
        if will == self._will_topic:
            return
        if self._will_topic is not None:
            self._link.unsubscribe(self._will_topic)
        self._will_topic = will
        if will is not None:
            self._link.subscribe(will)

    def _relay_command(self, topic: str, payload: bytes) -> None:
        number = topic[len(f"{self.base_topic}/relay/") : -len("/set")]
        on = _on_off(payload)
        if not number.isdigit() or not 1 <= int(number) <= self.hardware.relay_count or on is None:
            self._bad(topic, payload)
            return
        if not self.hardware.set_relay(int(number), on):
            # Refused: say so explicitly, a controller may be waiting for the state.
            self._link.send(f"{topic[: -len('/set')]}", b"off", True)
