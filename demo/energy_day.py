"""The demo's clock and the day before it, for the Energy dashboard.

The simulated installation starts mid-morning of a sunny June day. The demo picks a
fixed-offset time zone in which the wall clock also reads mid-morning, so the Energy
dashboard's hours match the simulated sun. The day before the start is simulated in
minute steps and imported as hourly statistics, and the live counters go on from it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from simulator.energy import EnergyTotals
from simulator.plant import PlantConfig, PlantModel

JUNE_DAY = 172  # of pvlib's typical year: sun with passing clouds
MORNING = 10.5  # the wall-clock hour the demo aims for
# What the devices have counted before the demo's day (kWh), so counters look lived-in.
LIFETIME = EnergyTotals(
    battery_charged=1520.0,
    battery_discharged=1436.0,
    pv_yield=8850.0,
    grid_import=2140.0,
    grid_export=930.0,
)
STATISTICS: dict[str, str] = {
    "sensor.battery_energy_charged": "battery_charged",
    "sensor.battery_energy_discharged": "battery_discharged",
    "sensor.victron_gx_pv_energy": "pv_yield",
    "sensor.victron_gx_grid_energy_imported": "grid_import",
    "sensor.victron_gx_grid_energy_exported": "grid_export",
}


@dataclass(frozen=True)
class DemoClock:
    """Where the demo starts: now, the time zone, and the simulated hour of the year."""

    now: datetime
    time_zone: str
    start_hour: float  # hours into the profiles' year


def demo_clock(now: datetime | None = None) -> DemoClock:
    """A whole-hour UTC offset that puts the local time closest to mid-morning."""
    now = now or datetime.now(UTC)
    utc_hour = now.hour + now.minute / 60
    offset = round((MORNING - utc_hour + 12) % 24 - 12)
    offset = max(-12, min(14, offset))
    # Etc/GMT-N is UTC+N (POSIX signs are inverted).
    time_zone = "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"
    local_hour = (utc_hour + offset) % 24
    return DemoClock(now, time_zone, 24 * JUNE_DAY + local_hour)


def copy(totals: EnergyTotals) -> EnergyTotals:
    """A snapshot of the counters."""
    return replace(totals)


def simulate_day_before(
    clock: DemoClock, make_plant: Any
) -> tuple[list[tuple[datetime, EnergyTotals]], EnergyTotals]:
    """The counters at each full hour of the 24 hours before `clock.now`, and at `now`.

    `make_plant(start_hour)` builds the demo's plant for a given simulated start.
    """
    first_hour = clock.now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=24)
    lead = (clock.now - first_hour).total_seconds()
    config: PlantConfig = replace(make_plant(clock.start_hour - lead / 3600), step=60.0)
    plant = PlantModel(config)
    plant.energy = copy(LIFETIME)
    hours: list[tuple[datetime, EnergyTotals]] = [(first_hour, copy(plant.energy))]
    for index in range(1, 25):
        plant.run(3600)
        hours.append((first_hour + timedelta(hours=index), copy(plant.energy)))
    plant.run(lead - 24 * 3600)
    return hours, copy(plant.energy)


async def import_statistics(hass: Any, hours: list[tuple[datetime, EnergyTotals]]) -> None:
    """Hourly sums for the Energy dashboard (rows for each of the past 24 hours)."""
    from homeassistant.components.recorder.models import (  # noqa: PLC0415
        StatisticData,
        StatisticMeanType,
        StatisticMetaData,
    )
    from homeassistant.components.recorder.statistics import (  # noqa: PLC0415
        async_import_statistics,
    )

    start = hours[0][1]
    for statistic_id, field in STATISTICS.items():
        rows = [
            StatisticData(
                start=hour_start,
                state=round(getattr(end, field), 3),
                sum=round(getattr(end, field) - getattr(start, field), 3),
            )
            for (hour_start, _), (_, end) in pairwise(hours)
        ]
        metadata = StatisticMetaData(
            mean_type=StatisticMeanType.NONE,
            has_sum=True,
            name=None,
            source="recorder",
            statistic_id=statistic_id,
            unit_of_measurement="kWh",
        )
        async_import_statistics(hass, metadata, rows)


ENERGY_PREFERENCES = {
    "version": 1,
    "minor_version": 1,
    "key": "energy",
    "data": {
        "energy_sources": [
            {
                "type": "grid",
                "flow_from": [
                    {
                        "stat_energy_from": "sensor.victron_gx_grid_energy_imported",
                        "stat_cost": None,
                        "entity_energy_price": None,
                        "number_energy_price": None,
                    }
                ],
                "flow_to": [
                    {
                        "stat_energy_to": "sensor.victron_gx_grid_energy_exported",
                        "stat_compensation": None,
                        "entity_energy_price": None,
                        "number_energy_price": None,
                    }
                ],
                "cost_adjustment_day": 0.0,
            },
            {
                "type": "solar",
                "stat_energy_from": "sensor.victron_gx_pv_energy",
                "config_entry_solar_forecast": None,
            },
            {
                "type": "battery",
                "stat_energy_from": "sensor.battery_energy_discharged",
                "stat_energy_to": "sensor.battery_energy_charged",
            },
        ],
        "device_consumption": [{"stat_consumption": "sensor.ev_charger_total_energy"}],
    },
}
