"""The GX emulator of `scripts/bench ingest`: Venus OS's MQTT behaviour, at wire speed.

It imports nothing from the integration (nor from the simulator, which is built for
realism, not for 30,000 messages a second) and speaks MQTT 3.1.1 over a plain socket:
a blast is a buffer of prebuilt PUBLISH packets, so sending costs it next to nothing
and the broker and the consumer are what is measured.

Per portal, as `../shared/reference/venus-observed.md` describes: the retained Serial;
a keepalive (`R/<id>/keepalive`) keeps it alive for 60 s, and one that is empty or
lacks `suppress-republish` triggers a full publish of ~920 topics (181 battery, 29 EV
charger, 484 settings, 223 system) in hash order, ending with `full_publish_completed`
(with the echo); at most 3 full publishes a second; a heartbeat every 3 s while alive;
`W/` writes echoed on `N/`; `R/` reads answered.

Control: one JSON command per line on stdin, one JSON answer per line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ALIVE_S = 60.0
HEARTBEAT_S = 3.0
FULL_PUBLISHES_PER_S = 3
HEARTBEAT_EVERY = 10_000  # blast messages between two interleaved heartbeats
CHUNK = 500  # packets per socket write
BATTERY = "battery/512"
SYSTEM = "system/0"
SETTINGS = "settings/0"
EVCHARGER = "evcharger/40"
CELLS = 16

# The 34 topics that change most on a real system.
BLAST_TOPICS: tuple[str, ...] = (
    *(f"{BATTERY}/Voltages/Cell{n}" for n in range(1, CELLS + 1)),
    f"{BATTERY}/Dc/0/Voltage",
    f"{BATTERY}/Dc/0/Current",
    f"{BATTERY}/Dc/0/Power",
    f"{BATTERY}/Dc/0/Temperature",
    f"{BATTERY}/Soc",
    f"{BATTERY}/System/MinCellVoltage",
    f"{BATTERY}/System/MaxCellVoltage",
    f"{BATTERY}/Voltages/Diff",
    f"{SYSTEM}/Dc/Battery/Power",
    f"{SYSTEM}/Dc/Battery/Current",
    f"{SYSTEM}/Dc/Battery/Voltage",
    f"{SYSTEM}/Dc/Pv/Power",
    *(f"{SYSTEM}/Ac/Grid/L{phase}/Power" for phase in (1, 2, 3)),
    *(f"{SYSTEM}/Ac/Consumption/L{phase}/Power" for phase in (1, 2, 3)),
)
# Natural traffic: the cells (all at once, as a BMS sends them) and ~30 other values.
STEADY_CELLS = BLAST_TOPICS[:CELLS]
STEADY_OTHERS: tuple[str, ...] = (
    *BLAST_TOPICS[CELLS:],
    f"{BATTERY}/ConsumedAmphours",
    f"{BATTERY}/TimeToGo",
    f"{BATTERY}/Voltages/Sum",
    f"{BATTERY}/UpdateIndex",
    f"{SYSTEM}/Dc/Battery/Soc",
    *(f"{SYSTEM}/Ac/PvOnGrid/L{phase}/Power" for phase in (1, 2, 3)),
    f"{SYSTEM}/Ac/ActiveIn/L1/Power",
    f"{EVCHARGER}/Ac/Power",
    f"{EVCHARGER}/Current",
    f"{EVCHARGER}/Ac/L1/Power",
)


# ---------------------------------------------------------------------- MQTT wire
def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte, number = number % 128, number // 128
        out.append(byte | (0x80 if number else 0))
        if not number:
            return bytes(out)


def _text(value: bytes) -> bytes:
    return len(value).to_bytes(2, "big") + value


def publish_packet(topic: str, payload: bytes, *, retain: bool = False) -> bytes:
    """A QoS 0 PUBLISH."""
    body = _text(topic.encode()) + payload
    return bytes((0x30 | int(retain),)) + _varint(len(body)) + body


class Wire:
    """A minimal MQTT 3.1.1 client: connect, subscribe at QoS 0, publish, read publishes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, host: str, port: int, client_id: str) -> Wire:
        """Connect (clean session, keepalive 60 s) and wait for the CONNACK."""
        reader, writer = await asyncio.open_connection(host, port)
        body = _text(b"MQTT") + bytes((4, 0x02)) + (60).to_bytes(2, "big")
        body += _text(client_id.encode())
        writer.write(b"\x10" + _varint(len(body)) + body)
        kind, payload = await cls._read_packet(reader)
        if kind >> 4 != 2 or payload[1] != 0:
            raise ConnectionError(f"broker refused the connection ({kind}, {payload!r})")
        return cls(reader, writer)

    @staticmethod
    async def _read_packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
        head = (await reader.readexactly(1))[0]
        length, shift = 0, 0
        while True:
            byte = (await reader.readexactly(1))[0]
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        return head, await reader.readexactly(length) if length else b""

    def subscribe(self, filters: list[str]) -> None:
        """Subscribe at QoS 0 (the SUBACK is read and dropped by `run`)."""
        body = (1).to_bytes(2, "big")
        for topic_filter in filters:
            body += _text(topic_filter.encode()) + b"\x00"
        self.writer.write(b"\x82" + _varint(len(body)) + body)

    async def run(self, on_publish: Callable[[str, bytes], None]) -> None:
        """Read until the connection ends; PUBLISHes go to `on_publish`."""
        while True:
            head, body = await self._read_packet(self.reader)
            if head >> 4 != 3:
                continue  # SUBACK, PINGRESP
            size = int.from_bytes(body[:2], "big")
            topic = body[2 : 2 + size].decode()
            start = 2 + size + (2 if head & 0x06 else 0)
            on_publish(topic, body[start:])

    async def ping(self) -> None:
        """PINGREQ every 30 s (the broker drops us after 1.5 x 60 s of silence)."""
        while True:
            await asyncio.sleep(30)
            self.writer.write(b"\xc0\x00")


# ---------------------------------------------------------------------- the GX
@dataclass
class Item:
    """One D-Bus item: its value, and min/max for settings."""

    value: Any
    limits: tuple[float, float] | None = None
    step: float = 0.0  # how far one change moves it (0: a constant)
    low: float = 0.0
    high: float = 0.0
    digits: int = 3

    def payload(self) -> bytes:
        """`{"value": X}` (settings also carry min and max)."""
        if self.limits is None:
            return b'{"value": ' + json.dumps(self.value).encode() + b"}"
        low, high = self.limits
        return json.dumps({"max": high, "min": low, "value": self.value}).encode()

    def change(self, rng: random.Random) -> None:
        """A new reading: a random walk that never stays put."""
        if not self.step or not isinstance(self.value, int | float):
            return
        value = float(self.value) + rng.choice((-1.0, 1.0)) * self.step * rng.randint(1, 3)
        if not self.low <= value <= self.high:
            value = float(self.value) - (value - float(self.value))
        self.value = round(value, self.digits)


def _walk(value: float, step: float, low: float, high: float, digits: int) -> Item:
    return Item(value, step=step, low=low, high=high, digits=digits)


def build_items(portal_id: str, rng: random.Random) -> dict[str, Item]:
    """~920 topics: a 16-cell battery (181), an EV charger (29), settings (484), system (223)."""
    items: dict[str, Item] = {}
    battery: dict[str, Item] = {
        "/Dc/0/Voltage": _walk(53.2, 0.01, 50.0, 56.0, 2),
        "/Dc/0/Current": _walk(12.0, 0.1, -80.0, 80.0, 1),
        "/Dc/0/Power": _walk(640.0, 3.0, -4000.0, 4000.0, 0),
        "/Dc/0/Temperature": _walk(24.0, 0.1, 10.0, 35.0, 1),
        "/Soc": _walk(62.0, 0.01, 5.0, 99.0, 2),
        "/ConsumedAmphours": _walk(-90.0, 0.01, -250.0, 0.0, 2),
        "/TimeToGo": _walk(36000.0, 10.0, 0.0, 864000.0, 0),
        "/Capacity": Item(280.0),
        "/InstalledCapacity": Item(280.0),
        "/Info/MaxChargeVoltage": Item(55.2),
        "/Info/MaxChargeCurrent": Item(100.0),
        "/Info/MaxDischargeCurrent": Item(150.0),
        "/Info/BatteryLowVoltage": Item(48.0),
        "/System/MinCellVoltage": _walk(3.318, 0.001, 3.25, 3.40, 3),
        "/System/MaxCellVoltage": _walk(3.342, 0.001, 3.26, 3.45, 3),
        "/System/MinVoltageCellId": Item("C3"),
        "/System/MaxVoltageCellId": Item("C12"),
        "/System/NrOfCellsPerBattery": Item(CELLS),
        "/Io/AllowToCharge": Item(1),
        "/Io/AllowToDischarge": Item(1),
        "/Io/AllowToBalance": Item(1),
        "/Balancing": Item(0),
        "/Voltages/Sum": _walk(53.2, 0.01, 50.0, 56.0, 2),
        "/Voltages/Diff": _walk(0.024, 0.001, 0.0, 0.2, 3),
        "/UpdateIndex": _walk(1.0, 1.0, 0.0, 255.0, 0),
        "/ProductName": Item("SerialBattery(Jkbms)"),
        "/ProductId": Item(49157),
        "/DeviceInstance": Item(512),
        "/Connected": Item(1),
        "/CustomName": Item("Bench pack"),
    }
    for number in range(1, CELLS + 1):
        battery[f"/Voltages/Cell{number}"] = _walk(3.318 + 0.0015 * number, 0.001, 3.25, 3.45, 3)
        battery[f"/Balances/Cell{number}"] = Item(0)
    for name in ("LowVoltage", "HighVoltage", "HighCellVoltage", "LowCellVoltage", "LowSoc"):
        battery[f"/Alarms/{name}"] = Item(0)
    for name in ("HighChargeCurrent", "HighDischargeCurrent", "CellImbalance", "InternalFailure"):
        battery[f"/Alarms/{name}"] = Item(0)
    for name in ("HighChargeTemperature", "LowChargeTemperature", "HighTemperature"):
        battery[f"/Alarms/{name}"] = Item(0)
    for name in ("LowTemperature", "BmsCable", "FuseBlown", "Contactor", "StateOfHealth"):
        battery[f"/Alarms/{name}"] = Item(0)
    _fill(battery, "/History/Filler", 181)
    system: dict[str, Item] = {
        "/Serial": Item(portal_id),
        "/Dc/Pv/Power": _walk(1800.0, 15.0, 0.0, 6000.0, 0),
        "/Dc/Battery/Power": _walk(640.0, 3.0, -4000.0, 4000.0, 0),
        "/Dc/Battery/Current": _walk(12.0, 0.1, -80.0, 80.0, 1),
        "/Dc/Battery/Voltage": _walk(53.2, 0.01, 50.0, 56.0, 2),
        "/Dc/Battery/Soc": _walk(62.0, 0.01, 5.0, 99.0, 2),
        "/ActiveBatteryService": Item("com.victronenergy.battery/512"),
        "/ActiveBmsService": Item("com.victronenergy.battery.ttyUSB0"),
        "/ActiveBmsInstance": Item(512),
        "/AutoSelectedBatteryService": Item("Bench pack on CAN-bus"),
        "/Control/Dvcc": Item(False),
        "/Control/EffectiveChargeVoltage": Item(None),
        "/Dc/Battery/ChargeVoltage": Item(None),
    }
    for phase in (1, 2, 3):
        system[f"/Ac/Grid/L{phase}/Power"] = _walk(120.0, 8.0, -3000.0, 3000.0, 0)
        system[f"/Ac/Consumption/L{phase}/Power"] = _walk(450.0, 8.0, 0.0, 5000.0, 0)
        system[f"/Ac/PvOnGrid/L{phase}/Power"] = _walk(300.0, 5.0, 0.0, 3000.0, 0)
        system[f"/Ac/ActiveIn/L{phase}/Power"] = _walk(120.0, 8.0, -3000.0, 3000.0, 0)
    _fill(system, "/Filler", 223)
    settings: dict[str, Item] = {
        "/Settings/Services/Bol": Item(0, (0, 7)),
        "/Settings/SystemSetup/MaxChargeCurrent": Item(-1, (-1, 10000)),
        "/Settings/SystemSetup/MaxChargeVoltage": Item(0.0, (0.0, 80.0)),
        "/Settings/SystemSetup/BmsInstance": Item(-1, (-255, 100000)),
        "/Settings/CGwacs/OvervoltageFeedIn": Item(0, (0, 1)),
    }
    while len(settings) < 484:
        settings[f"/Settings/Filler/{len(settings)}"] = Item(rng.randint(0, 100), (0, 100))
    evcharger: dict[str, Item] = {
        "/Ac/Power": _walk(0.0, 10.0, 0.0, 11000.0, 0),
        "/Ac/L1/Power": _walk(0.0, 10.0, 0.0, 11000.0, 0),
        "/Current": _walk(0.0, 0.1, 0.0, 32.0, 1),
        "/Status": Item(0),
        "/Mode": Item(0),
        "/SetCurrent": Item(16),
        "/MaxCurrent": Item(32),
        "/StartStop": Item(1),
        "/ProductName": Item("MQTT EV Charger"),
    }
    _fill(evcharger, "/Filler", 29)
    for prefix, paths in (
        (BATTERY, battery),
        (SYSTEM, system),
        (SETTINGS, settings),
        (EVCHARGER, evcharger),
    ):
        for path, item in paths.items():
            items[f"{prefix}{path}"] = item
    return items


def _fill(paths: dict[str, Item], prefix: str, total: int) -> None:
    while len(paths) < total:
        paths[f"{prefix}/{len(paths)}"] = Item(len(paths))


@dataclass
class Gx:
    """One emulated GX (portal)."""

    portal_id: str
    rng: random.Random
    send: Callable[[bytes, str], None]  # (packet, portal) -> queued on the socket
    items: dict[str, Item] = field(default_factory=dict)
    alive_until: float = 0.0
    heartbeat_paused: bool = False
    full_publishes: deque[float] = field(default_factory=deque)
    full_publish_count: int = 0

    def __post_init__(self) -> None:
        self.items = build_items(self.portal_id, self.rng)

    @property
    def alive(self) -> bool:
        """Keepalives arrived within the last 60 s."""
        return time.monotonic() < self.alive_until

    def topic(self, key: str) -> str:
        """The N/ topic of an item."""
        return f"N/{self.portal_id}/{key}"

    def publish_item(self, key: str) -> None:
        """One item, as a live (not retained) publication."""
        self.send(publish_packet(self.topic(key), self.items[key].payload()), self.portal_id)

    def announce(self) -> None:
        """The retained Serial: present without any keepalive."""
        packet = publish_packet(
            self.topic(f"{SYSTEM}/Serial"), self.items[f"{SYSTEM}/Serial"].payload(), retain=True
        )
        self.send(packet, self.portal_id)

    def heartbeat(self) -> bytes:
        """The heartbeat packet (now)."""
        return publish_packet(f"N/{self.portal_id}/heartbeat", b'{"value": %d}' % int(time.time()))

    def on_keepalive(self, payload: bytes) -> None:
        """Alive for 60 s; a full publish unless suppressed (at most 3 a second)."""
        self.alive_until = time.monotonic() + ALIVE_S
        echo: str | None = None
        if payload.strip():
            try:
                options = json.loads(payload).get("keepalive-options", [])
            except (ValueError, AttributeError):
                return
            if "suppress-republish" in options:
                return
            for option in options:
                if isinstance(option, dict) and isinstance(
                    option.get("full-publish-completed-echo"), str
                ):
                    echo = option["full-publish-completed-echo"]
        self.full_publish(echo)

    def full_publish(self, echo: str | None = None) -> bool:
        """Every topic in hash order, then the completion message."""
        now = time.monotonic()
        while self.full_publishes and now - self.full_publishes[0] > 1.0:
            self.full_publishes.popleft()
        if len(self.full_publishes) >= FULL_PUBLISHES_PER_S:
            return False  # dropped silently, as FlashMQ does
        self.full_publishes.append(now)
        self.full_publish_count += 1
        keys = list(self.items)
        self.rng.shuffle(keys)
        packets = [publish_packet(self.topic(key), self.items[key].payload()) for key in keys]
        body: dict[str, Any] = {"value": int(time.time())}
        if echo is not None:
            body["full-publish-completed-echo"] = echo
        packets.append(
            publish_packet(f"N/{self.portal_id}/full_publish_completed", json.dumps(body).encode())
        )
        for packet in packets:
            self.send(packet, self.portal_id)
        return True

    def on_write(self, key: str, payload: bytes) -> None:
        """A W/: applied and echoed on N/ (while alive), as the GX does."""
        item = self.items.get(key)
        if item is None:
            return
        try:
            item.value = json.loads(payload)["value"]
        except (ValueError, KeyError, TypeError):
            return
        if self.alive:
            self.publish_item(key)

    def on_read(self, prefix: str) -> None:
        """An R/: the item or the sub-tree is published again."""
        for key in [key for key in self.items if key == prefix or key.startswith(prefix + "/")]:
            self.publish_item(key)

    def change_all(self) -> None:
        """Every reading moves (settings and constants stay)."""
        for item in self.items.values():
            item.change(self.rng)

    def blast_packets(self, messages: int) -> list[bytes]:
        """`messages` changing values over the 34 hottest topics, heartbeats interleaved."""
        packets: list[bytes] = []
        topics = [(key, self.topic(key)) for key in BLAST_TOPICS]
        for index in range(messages):
            key, topic = topics[index % len(topics)]
            item = self.items[key]
            item.change(self.rng)
            packets.append(publish_packet(topic, item.payload()))
            if (index + 1) % HEARTBEAT_EVERY == 0:
                packets.append(self.heartbeat())
        return packets


class Emulator:
    """Both portals on one broker connection, driven by commands."""

    def __init__(self, wire: Wire, portals: list[str], seed: int) -> None:
        self.wire = wire
        self.sent: dict[str, int] = dict.fromkeys(portals, 0)
        self.gx = {
            portal: Gx(portal, random.Random(f"{seed}-{portal}"), self._send) for portal in portals
        }

    def _send(self, packet: bytes, portal: str) -> None:
        self.wire.writer.write(packet)
        self.sent[portal] += 1

    async def start(self) -> None:
        """Subscribe to keepalives, writes and reads; announce the Serials."""
        filters = []
        for portal in self.gx:
            filters += [f"R/{portal}/#", f"W/{portal}/#"]
        self.wire.subscribe(filters)
        for gx in self.gx.values():
            gx.announce()
        await self.wire.writer.drain()

    def on_publish(self, topic: str, payload: bytes) -> None:
        """Keepalives, writes and reads for any of the portals."""
        kind, _, rest = topic.partition("/")
        portal, _, key = rest.partition("/")
        gx = self.gx.get(portal)
        if gx is None:
            return
        if kind == "R" and key == "keepalive":
            gx.on_keepalive(payload)
        elif kind == "R":
            gx.on_read(key)
        elif kind == "W":
            gx.on_write(key, payload)

    async def heartbeats(self) -> None:
        """Every 3 s, for every live portal."""
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            for gx in self.gx.values():
                if gx.alive and not gx.heartbeat_paused:
                    self._send(gx.heartbeat(), gx.portal_id)

    async def blast(self, portal: str, messages: int) -> dict[str, Any]:
        """Send `messages` at full speed; the socket's backpressure is the only pacing."""
        gx = self.gx[portal]
        packets = gx.blast_packets(messages)
        writer = self.wire.writer
        started = time.monotonic()
        for start in range(0, len(packets), CHUNK):
            chunk = packets[start : start + CHUNK]
            writer.write(b"".join(chunk))
            self.sent[portal] += len(chunk)
            await writer.drain()
            await asyncio.sleep(0)  # let the heartbeat timer and keepalives through
        return {"sent": len(packets), "seconds": round(time.monotonic() - started, 3)}

    async def steady(self, portal: str, seconds: float, full_every_s: float) -> dict[str, Any]:
        """Natural traffic: each second the 16 cells at once and ~30 values spread out."""
        gx = self.gx[portal]
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent_before = self.sent[portal]
        next_full = start + full_every_s
        second = 0
        while loop.time() - start < seconds:
            tick = start + second
            for key in STEADY_CELLS:
                gx.items[key].change(gx.rng)
                gx.publish_item(key)
            for index, key in enumerate(STEADY_OTHERS):
                await asyncio.sleep(max(0.0, tick + index / len(STEADY_OTHERS) - loop.time()))
                gx.items[key].change(gx.rng)
                gx.publish_item(key)
            if loop.time() >= next_full:
                gx.full_publish()
                next_full += full_every_s
            second += 1
            await asyncio.sleep(max(0.0, start + second - loop.time()))
        await self.wire.writer.drain()
        return {"sent": self.sent[portal] - sent_before}

    async def command(self, request: dict[str, Any]) -> dict[str, Any]:
        """One control command."""
        cmd = request["cmd"]
        portal = request.get("portal", "")
        if cmd == "count":
            return {"sent": self.sent[portal]}
        if cmd == "pause_heartbeat":
            self.gx[portal].heartbeat_paused = True
            return {}
        if cmd == "resume_heartbeat":
            self.gx[portal].heartbeat_paused = False
            return {}
        if cmd == "blast":
            return await self.blast(portal, int(request["messages"]))
        if cmd == "steady":
            return await self.steady(
                portal, float(request["seconds"]), float(request.get("full_every_s", 30.0))
            )
        if cmd == "burst":
            gx = self.gx[portal]
            gx.change_all()
            before = self.sent[portal]
            gx.full_publishes.clear()  # a burst is always sent
            gx.full_publish()
            await self.wire.writer.drain()
            return {"sent": self.sent[portal] - before}
        if cmd == "alive":
            return {"alive": self.gx[portal].alive}
        raise ValueError(f"unknown command {cmd!r}")


async def main() -> None:
    """Connect, then answer commands until stdin closes."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--portal", action="append", required=True)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    wire = await Wire.connect(args.host, args.port, "bench-gx")
    emulator = Emulator(wire, args.portal, args.seed)
    await emulator.start()
    background = [
        asyncio.create_task(wire.run(emulator.on_publish)),
        asyncio.create_task(wire.ping()),
        asyncio.create_task(emulator.heartbeats()),
    ]
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    print(json.dumps({"ready": True}), flush=True)
    while line := await stdin.readline():
        try:
            answer = await emulator.command(json.loads(line))
        except (KeyError, ValueError) as err:
            answer = {"error": str(err)}
        print(json.dumps(answer), flush=True)
    for task in background:
        task.cancel()
    wire.writer.close()


if __name__ == "__main__":
    asyncio.run(main())
