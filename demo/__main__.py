"""Run the demo: `python -m demo [--broker HOST:PORT] [--port 8123] [--smoke]`.

Starts an embedded MQTT broker (amqtt) unless one is given, the Venus OS simulator in
real time, and Home Assistant with Victron Balance already configured against it and a
dashboard for the pack and its cells. `--smoke` runs the same stack headless for a
bounded time, checks through Home Assistant's REST API that the integration's entities
carry live values, prints a summary and exits 0 or 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import socket
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

from demo.energy_day import DemoClock, demo_clock, import_statistics, simulate_day_before
from demo.ha_config import ROOT, start_home_assistant, write_config
from simulator import (
    BalancerConfig,
    BalancerSimulator,
    BatteryConfig,
    EvModel,
    OpenEvseSimulator,
    VenusSimulator,
)
from simulator.bms import BmsConfig
from simulator.chargers import EssConfig, GridMeterConfig, MpptConfig, MultiPlusConfig
from simulator.mqtt_battery import MqttBatteryConfig
from simulator.mqtt_ev_charger import MqttEvChargerConfig
from simulator.pack import PackConfig
from simulator.plant import PlantConfig
from simulator.profiles import bdew_h0_profile, tmy_pv_profile

DOMAIN = "victron_balance"
PORTAL_ID = "c0ffee000001"
EVSE_ID = "openevse-demo"
BALANCER_SWITCH = "switch.balancer_bal1_balancing"
TOP_BALANCE_BUTTON = "button.battery_start_top_balance"
CELLS = 16
_LOGGER = logging.getLogger("demo")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def start_embedded_broker(port: int) -> Any:
    """An amqtt broker on 127.0.0.1:port, anonymous access."""
    from amqtt.broker import Broker  # noqa: PLC0415 - only the demo needs amqtt

    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
    )
    await broker.start()
    return broker


VIRTUAL_BMS = MqttBatteryConfig(instance=100)


def demo_plant(start_hour: float, cells: int = CELLS) -> PlantConfig:
    """An imbalanced 280 Ah LiFePO4 pack (16S), MultiPlus-II, MPPT, 5 kWp and a household.

    ESS as most Victron owners run it: PV feeds the loads and the battery, the grid
    covers the rest; the MultiPlus does not charge the battery from the grid.
    """
    return PlantConfig(
        pack=PackConfig(cells=cells, soc=0.80, soc_spread=0.10, seed=3),
        # A JK BMS's default: bleed any cell 10 mV above the lowest from 3.0 V on.
        bms=BmsConfig(balance_current=1.0, balance_start=3.0, ccl_by_cell_voltage=False),
        multiplus=MultiPlusConfig(grid_charging=False),
        mppt=MpptConfig(),
        grid_meter=GridMeterConfig(),
        ess=EssConfig(),
        pv=tmy_pv_profile(5.0, start_hour=start_hour),
        load=bdew_h0_profile(3500.0, start_hour=start_hour),
    )


async def configure_integration(hass: Any, broker_host: str, broker_port: int) -> None:
    """Add the Victron Balance entry through its own config flow, unless it exists."""
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.data.get("host") != broker_host or entry.data.get("port") != broker_port:
            await hass.config_entries.async_remove(entry.entry_id)
    if hass.config_entries.async_entries(DOMAIN):
        return
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": "user"},
        data={"host": broker_host, "port": broker_port, "tls": False, "verify_tls": True},
    )
    if result.get("type") == "form" and result.get("step_id") == "openevse":
        # The simulated openEVSE announced itself on the broker: take it.
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {
                "evse_base_topic": EVSE_ID,
                "evse_in_venus": True,
                "ev_charger_topic": MqttEvChargerConfig.topic,
                "ev_charger_instance": MqttEvChargerConfig.instance,
            },
        )
    if result.get("type") != "create_entry":
        raise RuntimeError(f"the config flow did not create the entry: {result}")
    await hass.async_block_till_done()
    # Show PV-surplus charging at work: the car waits for the sun's surplus.
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.ev_charger_charging_mode", "option": "pv_surplus"},
        blocking=True,
    )


async def start_balancing(hass: Any) -> None:
    """Switch the balancer on once it has announced itself (it appears at runtime)."""
    for _ in range(100):
        if hass.states.get(BALANCER_SWITCH) is not None:
            await hass.services.async_call(
                "switch", "turn_on", {"entity_id": BALANCER_SWITCH}, blocking=True
            )
            return
        await asyncio.sleep(0.1)
    _LOGGER.warning("the balancer did not appear in Home Assistant")


async def feed_ev_load(sim: VenusSimulator, evse: OpenEvseSimulator) -> None:
    """The car's power is an AC load of the simulated installation."""
    while True:
        if sim.plant is not None:
            sim.plant.ev_load_w = evse.model.power
        await asyncio.sleep(0.5)


async def ensure_demo_user(hass: Any) -> Any:
    """A user to be logged in as (trusted network, no password), on the server's clock."""
    from homeassistant.auth.const import GROUP_ID_ADMIN  # noqa: PLC0415
    from homeassistant.components.frontend.storage import async_user_store  # noqa: PLC0415

    for user in await hass.auth.async_get_users():
        if not user.system_generated and user.name == "Demo":
            break
    else:
        user = await hass.auth.async_create_user("Demo", group_ids=[GROUP_ID_ADMIN])
    # The demo's time zone makes the wall clock match the simulated sun; show times in it.
    store, data = await async_user_store(hass, user.id)
    data["language"] = {
        "language": "en",
        "number_format": "language",
        "time_format": "language",
        "date_format": "language",
        "first_weekday": "language",
        "time_zone": "server",
    }
    await store.async_save(data)
    return user


async def smoke_check(hass: Any, port: int, wait: float, expected_cells: int) -> dict[str, Any]:
    """Ask Home Assistant's REST API which integration entities carry live values."""
    from homeassistant.auth.models import TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN  # noqa: PLC0415

    user = await ensure_demo_user(hass)
    refresh = await hass.auth.async_create_refresh_token(
        user,
        client_name=f"demo smoke {time.time()}",
        token_type=TOKEN_TYPE_LONG_LIVED_ACCESS_TOKEN,
        access_token_expiration=timedelta(hours=1),
    )
    token = hass.auth.async_create_access_token(refresh)
    headers = {"Authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{port}/api"
    summary: dict[str, Any] = {}
    async with aiohttp.ClientSession(headers=headers) as http:
        deadline = time.monotonic() + wait
        while True:
            async with http.post(
                f"{base}/template",
                json={"template": "{{ integration_entities('victron_balance') | list | tojson }}"},
            ) as response:
                entity_ids: list[str] = json.loads(await response.text())
            async with http.get(f"{base}/states") as response:
                states = {state["entity_id"]: state for state in await response.json()}
            ours = {entity_id: states[entity_id] for entity_id in entity_ids if entity_id in states}
            live = [
                entity_id
                for entity_id, state in ours.items()
                if state["state"] not in ("unknown", "unavailable")
            ]
            cells = [
                entity_id
                for entity_id in live
                if re.fullmatch(r"sensor\.battery_cell_\d+_voltage", entity_id)
            ]
            summary = {
                "entities": len(ours),
                "entities_with_live_values": len(live),
                "cells_seen": len(cells),
                "soc": states.get("sensor.battery_state_of_charge", {}).get("state"),
                "cell_spread_mv": states.get("sensor.battery_cell_voltage_spread", {}).get("state"),
                "pv_power_w": states.get("sensor.victron_gx_pv_power", {}).get("state"),
                "evse_status": states.get("sensor.ev_charger_status", {}).get("state"),
                "evse_control": states.get("sensor.ev_charger_control_reason", {}).get("state"),
                "balancer_status": states.get("sensor.balancer_bal1_status", {}).get("state"),
                "balancer_active_cell": states.get("sensor.balancer_bal1_active_cell", {}).get(
                    "state"
                ),
            }
            devices_live = {"sensor.ev_charger_status", "sensor.balancer_bal1_status"} <= set(live)
            summary["ok"] = len(cells) == expected_cells and len(live) >= 20 and devices_live
            if summary["ok"] or time.monotonic() > deadline:
                return summary
            await asyncio.sleep(2)


async def start_top_balance(hass: Any) -> None:
    """Show a top balance at work: the same button a user presses."""
    from homeassistant.exceptions import HomeAssistantError  # noqa: PLC0415

    try:
        await hass.services.async_call(
            "button", "press", {"entity_id": TOP_BALANCE_BUTTON}, blocking=True
        )
    except HomeAssistantError as err:
        _LOGGER.warning("the demo's top balance did not start: %s", err)


async def main(
    args: argparse.Namespace,
    clock: DemoClock,
    plant: PlantConfig,
    day: tuple[list[tuple[Any, Any]], Any],
) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    started = time.monotonic()
    broker = None
    if args.broker:
        host, _, port_text = args.broker.rpartition(":")
        broker_host, broker_port = host or "127.0.0.1", int(port_text)
    else:
        broker_host, broker_port = "127.0.0.1", free_port()
        broker = await start_embedded_broker(broker_port)
        _LOGGER.info("embedded MQTT broker on %s:%d", broker_host, broker_port)
    sim = VenusSimulator(
        broker_host,
        broker_port,
        portal_id=PORTAL_ID,
        battery=BatteryConfig(cells=args.cells),
        plant=plant,
        speed=args.speed,
        seed=3,
        mqtt_ev_charger=MqttEvChargerConfig(),
        mqtt_battery=VIRTUAL_BMS,
    )
    hours, counters_now = day
    assert sim.plant is not None
    sim.plant.energy = counters_now  # the devices' counters go on from the day before
    await sim.start()
    # DVCC on; the controlling BMS stays "automatic": the integration switches it to the
    # virtual BMS (dbus-mqtt-battery) for the top balance and gives it back afterwards.
    sim.set_value("settings", 0, "/Settings/Services/Bol", 1)
    evse = OpenEvseSimulator(
        broker_host,
        broker_port,
        evse_id=EVSE_ID,
        ev=EvModel(battery_kwh=60.0, soc=35.0, target_soc=90.0, plugged=True),
        status_interval=5.0,  # its status topics are not retained: repeat them soon
        speed=args.speed,
    )
    await evse.start()
    ev_load = asyncio.create_task(feed_ev_load(sim, evse))
    assert sim.plant is not None
    balancer = BalancerSimulator(
        broker_host,
        broker_port,
        balancer_id="bal1",
        cells=sim.plant.pack,  # the balancer's DC/DC charges the simulated cells
        config=BalancerConfig.lifepo4(relays=args.cells),
        speed=args.speed,
    )
    await balancer.start()
    port = free_port() if args.smoke else args.port
    config_dir: Path = args.config
    await asyncio.to_thread(write_config, config_dir, port, clock.time_zone)
    hass = None
    try:
        hass = await start_home_assistant(config_dir)
        await configure_integration(hass, broker_host, broker_port)
        await ensure_demo_user(hass)
        await import_statistics(hass, hours)
        await start_balancing(hass)
        await start_top_balance(hass)
        url = f"http://127.0.0.1:{port}/victron-balance"
        if args.smoke:
            summary = await smoke_check(
                hass, port, wait=args.smoke_seconds, expected_cells=args.cells
            )
            summary["seconds_to_live"] = round(time.monotonic() - started, 1)
            print(json.dumps(summary, indent=2))
            return 0 if summary["ok"] else 1
        print(f"\nVictron Balance demo is running: {url}\n(Ctrl-C to stop)\n", flush=True)
        await hass.data["demo_run_task"]
        return 0
    finally:
        if hass is not None and hass.state.value != "not_running":
            await hass.async_stop()
        ev_load.cancel()
        await balancer.stop()
        await evse.stop()
        await sim.stop()
        if broker is not None:
            await broker.shutdown()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--broker", help="use this MQTT broker (host:port) instead of the embedded one"
    )
    parser.add_argument("--port", type=int, default=8123, help="Home Assistant's web port")
    parser.add_argument(
        "--config", type=Path, default=ROOT / ".demo" / "config", help="HA config folder"
    )
    parser.add_argument("--cells", type=int, default=CELLS, help="cells in series (1-32)")
    parser.add_argument("--smoke", action="store_true", help="headless check, then exit 0/1")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second")
    parser.add_argument("--smoke-seconds", type=float, default=90.0, help="how long --smoke waits")
    args = parser.parse_args(argv)
    args.config = args.config.absolute()
    return args


if __name__ == "__main__":
    try:
        arguments = parse_args(sys.argv[1:])
        # Read pvlib's and demandlib's data before the event loop and Home Assistant
        # start: pandas changes warning filters while parsing, which is not thread-safe.
        clock = demo_clock()
        plant = demo_plant(clock.start_hour, arguments.cells)
        day = simulate_day_before(clock, lambda hour: demo_plant(hour, arguments.cells))
        sys.exit(asyncio.run(main(arguments, clock, plant, day)))
    except KeyboardInterrupt:
        sys.exit(0)
