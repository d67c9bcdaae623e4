"""PlantModel: pack, BMS, DVCC, chargers and loads stepped in simulated time.

Pure and synchronous: ``PlantModel.step()`` advances one fixed step (default 1 s
simulated), ``run(seconds)`` many; benchmarks can drive it without MQTT or
asyncio. The live simulator steps the same model from its SimClock.

Order inside a step: a due DVCC pass pushes limits to the chargers, the power
split decides the battery current, the pack integrates it, then the BMS judges
the new cell voltages (protection and balancing act from the next step on, as a
BMS polling its cells would).

Losses: the battery keeps ``battery_charge_efficiency`` of the energy put into it and
gives ``battery_discharge_efficiency`` of what it loses (95 % each way by default, a
90 % round trip at the DC bus); the MPPT and the MultiPlus have their own efficiencies
(`simulator.chargers`). The BMS's SoC is the cells' real state.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from simulator.bms import Bms, BmsConfig
from simulator.chargers import (
    EssConfig,
    Flows,
    GridMeterConfig,
    MpptConfig,
    MultiPlusConfig,
    cc_cv_current,
)
from simulator.dvcc import BmsLimits, ChargerLimits, DvccLoop, DvccSettings, effective_cvl
from simulator.energy import EnergyTotals
from simulator.pack import Pack, PackConfig
from simulator.profiles import Profile, constant


@dataclass(frozen=True)
class PlantConfig:
    """The simulated installation; chargers are optional (behaviour 24)."""

    pack: PackConfig = field(default_factory=PackConfig)
    bms: BmsConfig = field(default_factory=BmsConfig)
    multiplus: MultiPlusConfig | None = None
    mppt: MpptConfig | None = None
    grid_meter: GridMeterConfig | None = None
    ess: EssConfig | None = None
    dc_coupled_feed_in: bool = False
    pv: Profile = field(default_factory=lambda: constant(0.0))  # W available at the MPPT
    load: Profile = field(default_factory=lambda: constant(0.0))  # W of AC loads
    step: float = 1.0  # simulated seconds per physics step
    battery_charge_efficiency: float = 0.95  # stored / DC energy in
    battery_discharge_efficiency: float = 0.95  # DC energy out / stored

    def __post_init__(self) -> None:
        if self.step <= 0:
            raise ValueError(f"step must be positive, got {self.step}")
        for name in ("battery_charge_efficiency", "battery_discharge_efficiency"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ValueError(f"{name} must be within (0, 1], got {value}")


class PlantModel:
    """The physical side of the simulated GX."""

    def __init__(self, config: PlantConfig | None = None) -> None:
        self.config = config or PlantConfig()
        self.pack = Pack(self.config.pack)
        self.bms = Bms(self.config.bms, self.pack)
        self.dvcc = DvccLoop(random.Random(f"dvcc-{self.config.pack.seed}"))
        self.settings = DvccSettings()
        # Set when another battery service (e.g. dbus-mqtt-battery) is the active BMS.
        self.external_bms: BmsLimits | None = None
        # An extra AC load on the output (an EV charger), W, set by whoever drives the plant.
        self.ev_load_w = 0.0
        self.now = 0.0
        self.steps = 0
        self.flows = Flows()
        self.energy = EnergyTotals()
        self._multiplus_ac_w = 0.0  # what the MultiPlus delivers to its AC side now
        self.bms.update(self.now)

    # ------------------------------------------------------------------ inputs
    def set_settings(self, settings: DvccSettings) -> None:
        """New DVCC settings; a change reaches the chargers 1.3-2.3 s later."""
        if settings != self.settings:
            self.settings = settings
            self.dvcc.settings_changed(self.now)

    def bms_limits(self) -> BmsLimits:
        """What DVCC follows: the external BMS if set, else the pack's own BMS."""
        if self.external_bms is not None:
            return self.external_bms
        return BmsLimits(self.bms.cvl, self.bms.ccl, self.bms.charge_allowed)

    @property
    def has_chargers(self) -> bool:
        """DVCC only acts on something when a charger exists."""
        return self.config.multiplus is not None or self.config.mppt is not None

    @property
    def charger_limits(self) -> ChargerLimits:
        """What the last DVCC pass wrote to the chargers."""
        return self.dvcc.applied

    @property
    def effective_charge_voltage(self) -> float | None:
        """Control/EffectiveChargeVoltage right now (not delayed, behaviour 22)."""
        return effective_cvl(self.settings, self.bms_limits())

    @property
    def ovp_events(self) -> int:
        """How often the BMS tripped on over-voltage."""
        return len(self.bms.ovp_events)

    # -------------------------------------------------------------------- time
    def run(self, seconds: float) -> None:
        """Advance ``seconds`` of simulated time in fixed steps."""
        steps = round(seconds / self.config.step)
        for _ in range(steps):
            self.step()

    def step(self, dt: float | None = None) -> None:
        """Advance one fixed step, or ``dt`` seconds split into fixed steps."""
        size = self.config.step
        if dt is None or dt == size:
            self._step(size)
            return
        remaining = dt
        while remaining > 1e-12:
            part = min(size, remaining)
            self._step(part)
            remaining -= part

    def _step(self, dt: float) -> None:
        if self.dvcc.due(self.now):
            self.dvcc.run(self.now, self.settings, self.bms_limits())
        self.flows = self._split_power(dt)
        current = self.flows.battery_current
        self.energy.add(self.flows, current * self.pack.voltage(), dt)
        cfg = self.config
        if current > 0:
            stored = current * cfg.battery_charge_efficiency
        else:
            stored = current / cfg.battery_discharge_efficiency
        self.pack.step(current, dt, stored)
        self.now += dt
        self.steps += 1
        self.bms.update(self.now)

    # ------------------------------------------------------------------- power
    def _split_power(self, dt: float) -> Flows:
        cfg = self.config
        pack = self.pack
        cells = len(pack.cells)
        volts = max(pack.voltage(), 1.0)
        limits = self.dvcc.applied if self.settings.enabled else ChargerLimits(None, None)
        ccl = limits.current
        charge_ok = self.bms.charge_allowed
        discharge_ok = self.bms.discharge_allowed
        multiplus = cfg.multiplus
        inverter_eff = multiplus.inverter_efficiency if multiplus is not None else 1.0
        charger_eff = multiplus.charger_efficiency if multiplus is not None else 1.0
        pv_available = max(0.0, cfg.pv(self.now)) if cfg.mppt is not None else 0.0
        pv_dc = pv_available * (cfg.mppt.efficiency if cfg.mppt is not None else 1.0)
        load = max(0.0, cfg.load(self.now)) + max(0.0, self.ev_load_w)

        # PV (DC, after the MPPT): first to the loads through the inverter (with ESS),
        # the surplus to the battery.
        pv_to_load = 0.0
        if cfg.ess is not None and multiplus is not None:
            pv_to_load = min(pv_dc, load / inverter_eff)
        surplus = pv_dc - pv_to_load
        pv_battery = 0.0
        mppt_cvl = 0.0
        if cfg.mppt is not None and charge_ok:
            mppt_cvl = limits.voltage or cfg.mppt.absorption_cell_voltage * cells
            cap = cfg.mppt.max_charge_current
            if ccl is not None and not cfg.dc_coupled_feed_in:
                cap = min(cap, ccl)
            pv_battery = cc_cv_current(
                min(cap, surplus / volts), pack.current_for_voltage(mppt_cvl)
            )
        surplus -= pv_battery * volts
        export = surplus if cfg.dc_coupled_feed_in and cfg.ess is not None else 0.0
        pv_used = pv_to_load + pv_battery * volts + export

        # Loads above PV (AC): battery (ESS, above min SoC) or grid.
        deficit = load - pv_to_load * inverter_eff
        from_battery = 0.0
        ess = cfg.ess
        battery_may_discharge = (
            ess is not None
            and multiplus is not None
            and ess.allow_discharge
            and discharge_ok
            and pack.soc * 100 > ess.min_soc
        )
        if battery_may_discharge and multiplus is not None:
            from_battery = min(
                deficit, self.bms.dcl * volts * inverter_eff, multiplus.max_inverter_power
            )
        battery_current = pv_battery - from_battery / inverter_eff / volts

        # MultiPlus charging from the grid, within what is left of the CCL.
        multi_charge = 0.0
        multi_cvl = 0.0
        if multiplus is not None:
            multi_cvl = limits.voltage or multiplus.absorption_cell_voltage * cells
            if multiplus.grid_charging and charge_ok:
                cap = multiplus.max_charge_current
                if ccl is not None:
                    cap = min(cap, ccl - pv_battery)
                room = pack.current_for_voltage(multi_cvl) - battery_current
                multi_charge = cc_cv_current(cap, room)
        battery_current += multi_charge
        if not charge_ok:
            battery_current = min(battery_current, 0.0)  # the charge FET is open
        if not discharge_ok:
            battery_current = max(battery_current, 0.0)

        grid = deficit - from_battery - export * inverter_eff + multi_charge * volts / charger_eff
        vebus_dc = multi_charge - from_battery / inverter_eff / volts
        if ess is not None and multiplus is not None:
            lower = -self.bms.dcl if battery_may_discharge else min(battery_current, 0.0)
            upper = max(pack.current_for_voltage(max(mppt_cvl, multi_cvl)), 0.0)
            upper = max(upper, battery_current) if charge_ok else max(battery_current, 0.0)
            lagged = self._lagged(
                _Split(battery_current, pv_used, grid, load), dt, volts, (lower, upper)
            )
            vebus_dc += lagged.battery_current - battery_current
            battery_current, pv_used, grid = lagged.battery_current, lagged.pv_used, lagged.grid
        return Flows(
            pv_available=pv_available,
            pv_power=pv_used,
            load_power=load,
            grid_power=grid,
            battery_current=battery_current,
            mppt_current=pv_used / volts,
            vebus_dc_current=vebus_dc,
            vebus_ac_in=grid,
            vebus_ac_out=load,
            charge_voltage_limit=max(mppt_cvl, multi_cvl),
            charge_current_limit=ccl,
        )

    def _lagged(
        self, split: _Split, dt: float, volts: float, bounds: tuple[float, float]
    ) -> _Split:
        """The split once the ESS loop's lag is applied (unchanged without a lag).

        The MultiPlus moves its AC power toward the set point with the time constant
        ``EssConfig.response_s``; what it does not deliver yet comes from the grid (or
        goes to it), and its DC side draws that much less (or more) from the battery,
        within the battery's bounds (A): above the upper one the MPPT curtails, beyond
        them the MultiPlus cannot follow.
        """
        ess, multiplus = self.config.ess, self.config.multiplus
        target_ac = split.load - split.grid
        if ess is None or multiplus is None or ess.response_s <= 0:
            self._multiplus_ac_w = target_ac
            return split
        alpha = 1.0 - math.exp(-dt / ess.response_s)
        actual_ac = self._multiplus_ac_w + alpha * (target_ac - self._multiplus_ac_w)
        inverter_eff, charger_eff = multiplus.inverter_efficiency, multiplus.charger_efficiency

        def dc_side(ac: float) -> float:
            return ac / inverter_eff if ac >= 0 else ac * charger_eff

        battery = split.battery_current + (dc_side(target_ac) - dc_side(actual_ac)) / volts
        pv_used = split.pv_used
        lower, upper = bounds
        if battery > upper:
            curtailed = min((battery - upper) * volts, pv_used)
            pv_used -= curtailed
            battery -= curtailed / volts
        if battery > upper or battery < lower:
            # The battery cannot take (or give) it: the MultiPlus follows that much.
            limit = upper if battery > upper else lower
            actual_ac += (battery - limit) * volts * inverter_eff
            battery = limit
        self._multiplus_ac_w = actual_ac
        return _Split(battery, pv_used, split.load - actual_ac, split.load)


@dataclass(frozen=True)
class _Split:
    """The DC battery current (A), PV used (W DC), grid (W) and AC load (W) of a step."""

    battery_current: float
    pv_used: float
    grid: float
    load: float
