"""The two consumers of `scripts/bench ingest`, each in a process of its own.

* `bare`: plain aiomqtt, `json.loads` and a dict store: the baseline.
* `ha`: Home Assistant 2025.4 with the recorder on (SQLite, defaults) and
  victron_balance added through its config flow, default options.

Both answer the orchestrator's commands (one JSON line in, one out) and measure
themselves: messages received (sampled every 20 ms with the process's CPU time),
and for Home Assistant the state changes of the integration's entities, the
recorder's rows and database size, and how long the recorder needs to catch up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt

SAMPLE_S = 0.02
STALL_S = 10.0  # no new message for this long: the rest is lost
STALL_TRICKLE = 20  # messages in STALL_S that are only heartbeats and keepalive answers
IDLE_WAIT_S = 60.0

CONFIGURATION_YAML = """\
homeassistant:
  name: Ingest benchmark
  latitude: 52.37
  longitude: 4.89
  elevation: 0
  unit_system: metric
  time_zone: UTC
  country: NL
  currency: EUR

recorder:

logger:
  default: warning
"""


@dataclass
class Window:
    """What a consumer counts from `arm` on: (loop time, messages, CPU s) samples."""

    messages: int
    cpu: float
    started: float
    samples: list[tuple[float, int, float]] = field(default_factory=list)

    def reached(self, target: int) -> tuple[float, float] | None:
        """(time, CPU) of the first sample with `target` messages."""
        for at, count, cpu in self.samples:
            if count >= target:
                return at, cpu
        return None

    def first_arrival(self) -> float | None:
        """The sample time of the first message after arming."""
        for at, count, _cpu in self.samples:
            if count > self.messages:
                return at
        return None


class Sampler:
    """Samples a message counter every 20 ms while armed."""

    def __init__(self, counter: Callable[[], int]) -> None:
        self.counter = counter
        self.window: Window | None = None
        self._task: asyncio.Task[None] | None = None

    def arm(self) -> Window:
        """Start a window now."""
        loop = asyncio.get_running_loop()
        self.window = Window(self.counter(), time.process_time(), loop.time())
        if self._task is None:
            self._task = asyncio.create_task(self._sample())
        return self.window

    async def _sample(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            window = self.window
            if window is not None:
                window.samples.append((loop.time(), self.counter(), time.process_time()))
            await asyncio.sleep(SAMPLE_S)

    async def drained(self, expected: int) -> dict[str, Any]:
        """Wait until `expected` more messages arrived (or they stall); the rate and CPU."""
        window = self.window
        assert window is not None
        loop = asyncio.get_running_loop()
        target = window.messages + expected
        last_count, last_progress = self.counter(), loop.time()
        while (reached := window.reached(target)) is None:
            await asyncio.sleep(SAMPLE_S)
            count = self.counter()
            # The heartbeat goes on every 3 s: only more than a trickle is progress.
            if count - last_count > STALL_TRICKLE:
                last_count, last_progress = count, loop.time()
            elif loop.time() - last_progress > STALL_S:
                break
        first = window.first_arrival() or window.started
        if reached is None:
            at, cpu = window.samples[-1][0], window.samples[-1][2]
        else:
            at, cpu = reached
        received = min(self.counter(), target) - window.messages
        seconds = max(at - first, SAMPLE_S)
        return {
            "received": received,
            "seconds": round(seconds, 3),
            "msgs_per_s": round(received / seconds, 1),
            "cpu_s": round(cpu - window.cpu, 3),
            "drained_at": at,
        }


class Control:
    """Reads commands from stdin and writes answers to the real stdout."""

    def __init__(self) -> None:
        # Anything else printed (Home Assistant, libraries) goes to stderr.
        self._out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
        sys.stdout = sys.stderr

    def answer(self, data: dict[str, Any]) -> None:
        """One JSON line to the orchestrator."""
        self._out.write(json.dumps(data) + "\n")

    async def commands(self) -> Any:
        """Yield commands until stdin closes."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            yield json.loads(line)


# ---------------------------------------------------------------------- bare aiomqtt
async def run_bare(host: str, port: int, portal_id: str) -> None:
    """The baseline: aiomqtt as its documentation shows it, json.loads, a dict."""
    control = Control()
    store: dict[str, Any] = {}
    received = [0]

    async with aiomqtt.Client(host, port, identifier="bench-bare") as client:
        await client.subscribe(f"N/{portal_id}/#")

        async def keepalive() -> None:
            payload = ""  # the first one asks for a full publish
            while True:
                await client.publish(f"R/{portal_id}/keepalive", payload)
                payload = json.dumps({"keepalive-options": ["suppress-republish"]})
                await asyncio.sleep(30)

        async def consume() -> None:
            async for message in client.messages:
                payload = message.payload
                if isinstance(payload, bytes) and payload:
                    store[message.topic.value] = json.loads(payload)
                received[0] += 1

        tasks = [asyncio.create_task(keepalive()), asyncio.create_task(consume())]
        sampler = Sampler(lambda: received[0])
        control.answer({"ready": True})
        async for request in control.commands():
            control.answer(await _common(request, sampler, lambda: received[0]))
        for task in tasks:
            task.cancel()


async def _common(
    request: dict[str, Any], sampler: Sampler, counter: Callable[[], int]
) -> dict[str, Any]:
    cmd = request["cmd"]
    if cmd == "arm":
        sampler.arm()
        return {}
    if cmd == "drained":
        result = await sampler.drained(int(request["expected"]))
        result.pop("drained_at")
        return result
    if cmd == "messages":
        return {"messages": counter()}
    raise ValueError(f"unknown command {cmd!r}")


# ---------------------------------------------------------------------- Home Assistant
class HomeAssistantConsumer:
    """Home Assistant with the recorder and victron_balance, and what it counts."""

    def __init__(self, hass: Any, entry: Any, database: Path) -> None:
        from homeassistant.const import EVENT_STATE_CHANGED  # noqa: PLC0415
        from homeassistant.helpers import entity_registry as er  # noqa: PLC0415

        self.hass = hass
        self.entry = entry
        self.database = database
        self.link = entry.runtime_data.link
        self.session = entry.runtime_data.session
        self.writer = entry.runtime_data.venus.writer
        self.sampler = Sampler(lambda: int(self.link.state.messages))
        self.ours = {
            item.entity_id
            for item in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        }
        self.changes: Counter[str] = Counter()
        self.not_alive = 0
        hass.bus.async_listen(EVENT_STATE_CHANGED, self._on_state_changed)
        self.link.add_liveness_listener(self._on_liveness)
        self._armed_at: dict[str, Any] = {}

    def _on_state_changed(self, event: Any) -> None:
        entity_id = event.data["entity_id"]
        if entity_id in self.ours:
            self.changes[entity_id] += 1

    def _on_liveness(self, alive: bool) -> None:
        if not alive:
            self.not_alive += 1

    def _database(self) -> dict[str, int]:
        uri = f"file:{self.database}?mode=ro"
        with sqlite3.connect(uri, uri=True) as connection:
            states = connection.execute("SELECT COUNT(*) FROM states").fetchone()[0]
            events = connection.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            pages = connection.execute("PRAGMA page_count").fetchone()[0]
            page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        return {"rows": int(states) + int(events), "bytes": int(pages) * int(page_size)}

    async def _recorder_done(self) -> None:
        from homeassistant.helpers.recorder import get_instance  # noqa: PLC0415

        await get_instance(self.hass).async_block_till_done()

    async def arm(self) -> dict[str, Any]:
        """Start counting now (after the recorder caught up)."""
        await self._recorder_done()
        database = await self.hass.async_add_executor_job(self._database)
        self.changes.clear()
        self._armed_at = {
            "database": database,
            "not_alive": self.not_alive,
            "reconnects": self.session.reconnects,
            "time": self.hass.loop.time(),
        }
        self.sampler.arm()
        return {}

    def _energy_total(self, entity_id: str) -> bool:
        """A kWh total: integrated every 5 s and written at its own pace, not per message."""
        state = self.hass.states.get(entity_id)
        return state is not None and state.attributes.get("device_class") == "energy"

    async def _totals(self) -> dict[str, Any]:
        database = await self.hass.async_add_executor_job(self._database)
        before = self._armed_at
        return {
            "state_changed": sum(self.changes.values()),
            "max_per_entity": max(self.changes.values(), default=0),
            "max_per_reading_entity": max(
                (n for entity_id, n in self.changes.items() if not self._energy_total(entity_id)),
                default=0,
            ),
            "most_written": dict(self.changes.most_common(5)),
            "recorder_rows": database["rows"] - before["database"]["rows"],
            "db_bytes": database["bytes"] - before["database"]["bytes"],
            "not_alive": self.not_alive - before["not_alive"],
            "disconnects": self.session.reconnects - before["reconnects"],
            "alive": bool(self.link.alive),
        }

    async def drained(self, expected: int) -> dict[str, Any]:
        """A blast: drain rate, then the recorder's lag and everything it cost."""
        result = await self.sampler.drained(expected)
        await self._recorder_done()
        done = self.hass.loop.time()
        result["recorder_lag_s"] = round(done - result.pop("drained_at"), 3)
        window = self.sampler.window
        assert window is not None
        result["cpu_s"] = round(time.process_time() - window.cpu, 3)
        return {**result, **(await self._totals())}

    async def window(self) -> dict[str, Any]:
        """Close a timed window (idle, steady): CPU, state changes, rows, bytes."""
        window = self.sampler.window
        assert window is not None
        await self._recorder_done()
        seconds = self.hass.loop.time() - window.started
        cpu = time.process_time() - window.cpu
        return {"seconds": round(seconds, 3), "cpu_s": round(cpu, 3), **(await self._totals())}

    async def settled(self) -> dict[str, Any]:
        """Wait until every marked entity is written (after a burst)."""
        loop = self.hass.loop
        deadline = loop.time() + IDLE_WAIT_S
        while not self.writer.idle and loop.time() < deadline:  # noqa: ASYNC110 - a measurement
            await asyncio.sleep(0.1)
        return {"idle": bool(self.writer.idle)}

    async def command(self, request: dict[str, Any]) -> dict[str, Any]:
        """One command of the orchestrator."""
        cmd = request["cmd"]
        if cmd == "arm":
            return await self.arm()
        if cmd == "drained":
            return await self.drained(int(request["expected"]))
        if cmd == "window":
            return await self.window()
        if cmd == "settled":
            return await self.settled()
        if cmd == "messages":
            return {"messages": int(self.link.state.messages), "alive": bool(self.link.alive)}
        raise ValueError(f"unknown command {cmd!r}")


async def run_home_assistant(
    host: str, port: int, portal_id: str, config_dir: Path, update_interval: str | None
) -> None:
    """Start Home Assistant, add the integration through its config flow, serve commands.

    `update_interval`: set that option through the options flow (default: untouched).
    """
    from demo.ha_config import start_home_assistant  # noqa: PLC0415

    control = Control()
    hass = await start_home_assistant(config_dir)
    result = await hass.config_entries.flow.async_init(
        "victron_balance",
        context={"source": "user"},
        data={
            "host": host,
            "port": port,
            "tls": False,
            "verify_tls": True,
            "portal_id": portal_id,
        },
    )
    if result.get("type") != "create_entry":
        raise RuntimeError(f"the config flow did not create the entry: {result}")
    await hass.async_block_till_done()
    entry = hass.config_entries.async_entries("victron_balance")[0]
    if update_interval is not None:
        flow = await hass.config_entries.options.async_init(entry.entry_id)
        await hass.config_entries.options.async_configure(
            flow["flow_id"], {"update_interval": update_interval}
        )
        await hass.async_block_till_done()
    consumer = HomeAssistantConsumer(hass, entry, config_dir / "home-assistant_v2.db")
    control.answer({"ready": True, "entities": len(consumer.ours)})
    async for request in control.commands():
        try:
            answer = await consumer.command(request)
        except (KeyError, ValueError) as err:
            answer = {"error": str(err)}
        control.answer(answer)
    await hass.async_stop()


def main() -> None:
    """`python -m benchmarks.ingest_consumers bare|ha --port P --portal ID [--config DIR]`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=("bare", "ha"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--portal", required=True)
    parser.add_argument("--config", type=Path)
    parser.add_argument("--update-interval")
    args = parser.parse_args()
    if args.kind == "bare":
        asyncio.run(run_bare(args.host, args.port, args.portal))
    else:
        prepare_config(args.config)
        asyncio.run(
            run_home_assistant(args.host, args.port, args.portal, args.config, args.update_interval)
        )


def prepare_config(config_dir: Path) -> None:
    """A configuration folder: the recorder on, the integration linked in."""
    from demo.ha_config import link_integration  # noqa: PLC0415

    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "configuration.yaml").write_text(CONFIGURATION_YAML)
    link_integration(config_dir)


if __name__ == "__main__":
    main()
