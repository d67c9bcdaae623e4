"""CLI: run the simulated GX against a broker until Ctrl-C.

python -m simulator --broker 127.0.0.1:1883 [--portal-id ID] [--cells N]
    [--flavour serialbattery|mqtt_battery] [--username U --password P]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from simulator.battery import FLAVOURS, BatteryConfig
from simulator.venus import DEFAULT_PORTAL_ID, VenusSimulator


def parse_broker(text: str) -> tuple[str, int]:
    """``host[:port]`` (port defaults to 1883)."""
    host, sep, port = text.rpartition(":")
    if not sep:
        return text, 1883
    try:
        return host, int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad broker address {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    parser.add_argument("--broker", type=parse_broker, default=("127.0.0.1", 1883))
    parser.add_argument("--portal-id", default=DEFAULT_PORTAL_ID)
    parser.add_argument("--instance", type=int, default=512, help="battery device instance")
    parser.add_argument("--cells", type=int, default=16)
    parser.add_argument("--flavour", choices=FLAVOURS, default="serialbattery")
    parser.add_argument("--username")
    parser.add_argument("--password")
    parser.add_argument("--heartbeat-interval", type=float, default=3.0)
    parser.add_argument("--keepalive-timeout", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


async def run(args: argparse.Namespace) -> None:
    """Start the simulator and wait for SIGINT/SIGTERM."""
    host, port = args.broker
    sim = VenusSimulator(
        host,
        port,
        portal_id=args.portal_id,
        battery=BatteryConfig(instance=args.instance, cells=args.cells, flavour=args.flavour),
        heartbeat_interval=args.heartbeat_interval,
        keepalive_timeout=args.keepalive_timeout,
        username=args.username,
        password=args.password,
        seed=args.seed,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await sim.start()
    logging.getLogger("simulator").info(
        "Simulating GX %s on %s:%d with %d topics; Ctrl-C to stop",
        args.portal_id,
        host,
        port,
        sim.store.item_count(),
    )
    try:
        await stop.wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
