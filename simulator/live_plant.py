"""Runs a PlantModel from a SimClock and mirrors it onto the simulated GX's services.

Each wake-up (every step/speed wall seconds, at least 20 ms apart) it reads the
DVCC settings and the active BMS from the item store, steps the plant in fixed
simulated steps until it has caught up with the clock, and publishes the result
once: the BMS values on its battery service, the chargers' live values, and the
flows on system/0. Publishing once per wake-up (not per step) keeps the MQTT
traffic bounded at high speed factors.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from simulator.charger_services import grid_meter_values, solarcharger_values, vebus_values
from simulator.clock import SimClock
from simulator.dvcc import UNCONTROLLED, BmsLimits
from simulator.items import ItemStore, JsonValue, Service
from simulator.plant import PlantModel
from simulator.systemcalc import active_bms, bms_limits, dvcc_settings
from simulator.timers import ClockTimer

_LOGGER = logging.getLogger(__name__)

MIN_WAKE_INTERVAL = 0.02
# A stalled loop must not freeze the simulator while it catches up.
MAX_STEPS_PER_WAKE = 20000
# BmsInstance = -255 (or no BMS at all): DVCC has no CVL/CCL to follow.
_NO_BMS = BmsLimits(cvl=None, ccl=None)

type ApplyFn = Callable[[Service, dict[str, JsonValue]], None]


class LivePlant:
    """Binds one PlantModel to the item store of a running simulator."""

    def __init__(
        self,
        model: PlantModel,
        clock: SimClock,
        *,
        store: ItemStore,
        battery_instance: int,
        apply: ApplyFn,
        recompute: Callable[[], None],
    ) -> None:
        self.model = model
        self.clock = clock
        self.store = store
        self.battery_instance = battery_instance
        self._apply = apply
        self._recompute = recompute
        self._timer = ClockTimer(self._wake)
        self.dropped_steps = 0

    @property
    def wake_interval(self) -> float:
        """Wall seconds between wake-ups."""
        return max(self.clock.wall_delay(self.model.config.step), MIN_WAKE_INTERVAL)

    def start(self) -> None:
        """Bind the clock to the loop and start stepping."""
        loop = asyncio.get_running_loop()
        self.clock.bind(loop.time)
        self.sync_inputs()
        self.publish()
        self._timer.arm_in(self.wake_interval)

    def stop(self) -> None:
        """Stop stepping."""
        self._timer.cancel()

    def sync_inputs(self) -> None:
        """Settings and the active BMS as the store holds them now."""
        model = self.model
        model.set_settings(dvcc_settings(self.store))
        bms = active_bms(self.store)
        if bms is None or bms.instance == self.battery_instance:
            # Our own BMS (or none): DVCC follows the pack's BMS directly, without
            # the rounding and delay of a round trip through the store.
            model.external_bms = None if bms is not None else _NO_BMS
        else:
            model.external_bms = bms_limits(bms)

    def _wake(self) -> None:
        model = self.model
        step = model.config.step
        due = int((self.clock.now() - model.now) / step + 1e-9)
        if due > MAX_STEPS_PER_WAKE:
            self.dropped_steps += due - MAX_STEPS_PER_WAKE
            _LOGGER.warning("Physics fell behind by %d steps; skipping them", due)
            model.now += (due - MAX_STEPS_PER_WAKE) * step
            due = MAX_STEPS_PER_WAKE
        self.sync_inputs()
        for _ in range(due):
            model.step()
        self.publish()
        self._timer.arm_in(self.wake_interval)

    def publish(self) -> None:
        """Mirror the plant onto the services (only changed values go out)."""
        model = self.model
        flows = model.flows
        battery = self.store.service("battery", self.battery_instance)
        if battery is not None:
            energy = model.energy
            history: dict[str, JsonValue] = {
                # Only a battery service that has these paths (serialbattery) shows them.
                "/History/ChargedEnergy": round(energy.battery_charged, 2),
                "/History/DischargedEnergy": round(energy.battery_discharged, 2),
            }
            self._apply(battery, dict(model.bms.paths()) | history)
        volts = model.pack.voltage()
        limits = model.charger_limits if model.settings.enabled else UNCONTROLLED
        at_voltage = flows.charge_voltage_limit > 0 and volts >= flows.charge_voltage_limit - 0.05
        config = model.config
        if config.multiplus is not None:
            vebus = self.store.service("vebus", config.multiplus.instance)
            if vebus is not None:
                self._apply(vebus, vebus_values(flows, limits, volts, at_voltage))
        if config.mppt is not None:
            mppt = self.store.service("solarcharger", config.mppt.instance)
            if mppt is not None:
                self._apply(
                    mppt, solarcharger_values(flows, limits, volts, at_voltage, model.energy)
                )
        if config.grid_meter is not None:
            meter = self.store.service("grid", config.grid_meter.instance)
            if meter is not None:
                self._apply(meter, grid_meter_values(flows, model.energy))
        system = self.store.service("system", 0)
        if system is not None:
            self._apply(
                system,
                {
                    "/Dc/Pv/Power": round(flows.pv_power),
                    "/Ac/Consumption/L1/Power": round(flows.load_power),
                    "/Ac/Grid/L1/Power": round(flows.grid_power),
                },
            )
        self._recompute()
