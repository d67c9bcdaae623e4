"""CLI: run the simulated GX against a broker until Ctrl-C.

python -m simulator --broker 127.0.0.1:1883 [--portal-id ID] [--cells N]
    [--flavour serialbattery|mqtt_battery] [--username U --password P]
    [--physics [--speed X] [--chemistry lifepo4] [--soc 0.5] [--multiplus] [--mppt]
     [--ess] [--dc-feed-in] [--pv-kwp KWP] [--load-kwh KWH]]
    [--mqtt-battery [--mqtt-battery-topic enphase/battery]]
    [--mqtt-ev-charger [--mqtt-ev-charger-topic custom/ev-charger]]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from simulator.battery import FLAVOURS, BatteryConfig
from simulator.bms import BmsConfig
from simulator.chargers import EssConfig, MpptConfig, MultiPlusConfig
from simulator.chemistry import CHEMISTRIES
from simulator.mqtt_battery import MqttBatteryConfig
from simulator.mqtt_ev_charger import MqttEvChargerConfig
from simulator.pack import PackConfig
from simulator.plant import PlantConfig
from simulator.profiles import bdew_h0_profile, clear_day, constant, tmy_pv_profile
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
    physics = parser.add_argument_group("physics (off by default: static values)")
    physics.add_argument("--physics", action="store_true", help="simulate pack, BMS, chargers")
    physics.add_argument("--speed", type=float, default=1.0, help="simulated s per wall s")
    physics.add_argument("--chemistry", choices=sorted(CHEMISTRIES), default="lifepo4")
    physics.add_argument("--capacity", type=float, default=280.0, help="Ah per cell")
    physics.add_argument("--soc", type=float, default=0.5, help="initial SoC 0..1")
    physics.add_argument("--balance-current", type=float, default=1.0)
    physics.add_argument("--multiplus", action="store_true", help="add a MultiPlus (vebus)")
    physics.add_argument("--mppt", action="store_true", help="add an MPPT (solarcharger)")
    physics.add_argument("--ess", action="store_true", help="ESS: PV to loads, battery, grid")
    physics.add_argument("--dc-feed-in", action="store_true", help="MPPTs ignore CCL")
    physics.add_argument("--pv-kwp", type=float, help="PV from pvlib's TMY file (needs pvlib)")
    physics.add_argument("--pv-peak", type=float, default=4000.0, help="clear-day PV peak W")
    physics.add_argument("--load-kwh", type=float, help="BDEW H0 load (needs demandlib)")
    physics.add_argument("--load", type=float, default=300.0, help="constant AC load W")
    physics.add_argument("--start-hour", type=float, default=24 * 172 + 6, help="hour of year")
    driver = parser.add_argument_group("dbus-mqtt-battery")
    driver.add_argument("--mqtt-battery", action="store_true", help="run the JSON driver")
    driver.add_argument("--mqtt-battery-topic", default=MqttBatteryConfig.topic)
    driver.add_argument("--mqtt-battery-instance", type=int, default=MqttBatteryConfig.instance)
    ev = parser.add_argument_group("dbus-mqtt-ev-charger")
    ev.add_argument("--mqtt-ev-charger", action="store_true", help="run the JSON driver")
    ev.add_argument("--mqtt-ev-charger-topic", default=MqttEvChargerConfig.topic)
    ev.add_argument("--mqtt-ev-charger-instance", type=int, default=MqttEvChargerConfig.instance)
    ev.add_argument(
        "--mqtt-ev-charger-voltage",
        type=float,
        default=MqttEvChargerConfig.voltage,
        help="V for Current when the JSON has none",
    )
    ev.add_argument(
        "--mqtt-ev-charger-position",
        type=int,
        choices=(0, 1),
        default=MqttEvChargerConfig.position,
        help="/Position (0 AC output, 1 AC input)",
    )
    return parser


def build_mqtt_ev_charger(args: argparse.Namespace) -> MqttEvChargerConfig | None:
    """The MqttEvChargerConfig the options describe (None without --mqtt-ev-charger)."""
    if not args.mqtt_ev_charger:
        return None
    return MqttEvChargerConfig(
        topic=args.mqtt_ev_charger_topic,
        instance=args.mqtt_ev_charger_instance,
        voltage=args.mqtt_ev_charger_voltage,
        position=args.mqtt_ev_charger_position,
    )


def build_plant(args: argparse.Namespace) -> PlantConfig | None:
    """The PlantConfig the physics options describe (None without --physics)."""
    if not args.physics:
        return None
    start = args.start_hour * 3600.0
    if args.pv_kwp is not None:
        pv = tmy_pv_profile(args.pv_kwp, start_hour=args.start_hour)
    else:
        day = clear_day(args.pv_peak)

        def pv(t: float) -> float:
            return day(t + start)

    load = (
        bdew_h0_profile(args.load_kwh, start_hour=args.start_hour)
        if args.load_kwh is not None
        else constant(args.load)
    )
    return PlantConfig(
        pack=PackConfig(
            cells=args.cells,
            chemistry=CHEMISTRIES[args.chemistry],
            capacity_ah=args.capacity,
            soc=args.soc,
            seed=args.seed,
        ),
        bms=BmsConfig(balance_current=args.balance_current),
        multiplus=MultiPlusConfig() if args.multiplus else None,
        mppt=MpptConfig() if args.mppt else None,
        ess=EssConfig() if args.ess else None,
        dc_coupled_feed_in=args.dc_feed_in,
        pv=pv,
        load=load,
    )


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
        plant=build_plant(args),
        speed=args.speed,
        mqtt_battery=(
            MqttBatteryConfig(topic=args.mqtt_battery_topic, instance=args.mqtt_battery_instance)
            if args.mqtt_battery
            else None
        ),
        mqtt_ev_charger=build_mqtt_ev_charger(args),
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
