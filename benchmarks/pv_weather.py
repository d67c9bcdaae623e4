"""The weather of the PV-surplus benchmark: pvlib's TMY days, passing clouds, forecasts.

Days. Real days from pvlib's shipped typical meteorological year (``723170TYA.CSV``,
Greensboro NC): in each season (Dec-Feb, Mar-May, Jun-Aug, Sep-Nov) the days at the
ranks 100 %, 67 %, 33 % and 0 % of daily irradiation (sunniest to most overcast), 16
days. The hourly data is made finer with `simulator.profiles.passing_clouds`: in partly
cloudy hours the sun comes and goes between the clear-sky level (the highest GHI at that
hour within +/- a week) and the hour's diffuse level, with a mean sun-and-shade cycle of
3, 10 or 30 minutes, every hour keeping its measured irradiation.

Forecast. What a Forecast.Solar or Solcast sensor would say: the day's hourly PV power
from the same TMY hours (no clouds within the hour, as their hourly values), scaled by
(1 + error). The error is one number for the whole day (forecasts miss a day's weather,
not single minutes): by default drawn per day from -20 %..+20 %, or fixed (+/-20 %) for
the biased runs.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass

from simulator.profiles import (
    HOURS_PER_YEAR,
    TMY_FILE,
    Profile,
    passing_clouds,
    pv_power_from_weather,
    sampled,
)

HOUR = 3600.0
KWP = 5.0
SEASONS = (
    ("winter", (12, 1, 2)),
    ("spring", (3, 4, 5)),
    ("summer", (6, 7, 8)),
    ("autumn", (9, 10, 11)),
)
RANKS = (1.0, 2 / 3, 1 / 3, 0.0)
CLEAR_SKY_WINDOW_DAYS = 7
CLOUD_SAMPLE_S = 20.0
FORECAST_ERROR = 0.2  # the default forecast misses the daily total by up to +/-20 %


@dataclass(frozen=True)
class Tmy:
    """The hourly TMY columns the benchmark uses (index k covers hour k..k+1)."""

    ghi: list[float]
    dhi: list[float]
    temp: list[float]
    dates: list[str]  # per day of the TMY, the real date it was taken from

    def daily_irradiation(self, day: int) -> float:
        """Wh/m2 on one day of the TMY."""
        return sum(self.ghi[day * 24 : day * 24 + 24])

    def at(self, values: Sequence[float], hour: int) -> float:
        """A column's value at an hour of the year (wrapping around)."""
        return values[hour % HOURS_PER_YEAR]

    def hourly_pv_w(self, hour: int) -> float:
        """Mean PV power (W) of one hour from its GHI and temperature."""
        return pv_power_from_weather(KWP, self.at(self.ghi, hour), self.at(self.temp, hour))


def load_tmy() -> Tmy:
    """pvlib's shipped TMY3 file (imports pvlib lazily, like simulator.profiles)."""
    import pvlib  # type: ignore[import-untyped]  # noqa: PLC0415

    path = os.path.join(os.path.dirname(pvlib.__file__), "data", TMY_FILE)
    data, _meta = pvlib.iotools.read_tmy3(path, map_variables=True)
    stamps = list(data["Date (MM/DD/YYYY)"])
    dates = []
    for day in range(HOURS_PER_YEAR // 24):
        month, mday, year = str(stamps[day * 24]).split("/")
        dates.append(f"{year}-{month}-{mday}")
    return Tmy(
        ghi=[float(v) for v in data["ghi"]],
        dhi=[float(v) for v in data["dhi"]],
        temp=[float(v) for v in data["temp_air"]],
        dates=dates,
    )


def choose_days(tmy: Tmy) -> list[tuple[str, int]]:
    """(season, day of year) at fixed irradiation ranks in each season."""
    chosen: list[tuple[str, int]] = []
    for season, months in SEASONS:
        days = [d for d in range(365) if int(tmy.dates[d].split("-")[1]) in months]
        ranked = sorted(days, key=lambda d: (tmy.daily_irradiation(d), d))
        for rank in RANKS:
            chosen.append((season, ranked[round(rank * (len(ranked) - 1))]))
    return chosen


def pv_profile(tmy: Tmy, first_hour: int, hours: int, cycle_min: float, seed: str) -> Profile:
    """PV power (W) from ``first_hour`` on, with passing clouds; t = 0 at ``first_hour``."""
    span = range(first_hour, first_hour + hours)
    clear = [
        max(
            tmy.at(tmy.ghi, hour + 24 * shift)
            for shift in range(-CLEAR_SKY_WINDOW_DAYS, CLEAR_SKY_WINDOW_DAYS + 1)
        )
        for hour in span
    ]
    ghi = passing_clouds(
        [tmy.at(tmy.ghi, hour) for hour in span],
        [tmy.at(tmy.dhi, hour) for hour in span],
        clear,
        cycle_s=cycle_min * 60.0,
        sample_s=CLOUD_SAMPLE_S,
        seed=seed,
    )
    per_hour = round(HOUR / CLOUD_SAMPLE_S)
    watts = [
        pv_power_from_weather(KWP, value, tmy.at(tmy.temp, first_hour + index // per_hour))
        for index, value in enumerate(ghi)
    ]
    # Samples are means over their interval: place them at its middle.
    return sampled(watts, CLOUD_SAMPLE_S, -CLOUD_SAMPLE_S / 2)


def sunrise_hour(tmy: Tmy, day: int) -> int:
    """The first hour of ``day`` (0..23) with sun."""
    return next((h for h in range(24) if tmy.at(tmy.ghi, day * 24 + h) > 0), 12)


def sunset_hour(tmy: Tmy, day: int) -> int:
    """The end of the last hour of ``day`` with sun (1..24)."""
    return next((h + 1 for h in range(23, -1, -1) if tmy.at(tmy.ghi, day * 24 + h) > 0), 12)


def forecast_error(date: str) -> float:
    """The default forecast's error on one day: seeded, -20 %..+20 %."""
    return random.Random(f"forecast-{date}").uniform(-FORECAST_ERROR, FORECAST_ERROR)


@dataclass(frozen=True)
class DayForecast:
    """A solar forecast for one day; times in seconds from that day's midnight."""

    hourly_w: tuple[float, ...]  # 24 forecast hourly means (W)
    sunrise_s: float
    sunset_s: float

    @classmethod
    def for_day(cls, tmy: Tmy, day: int, error: float) -> DayForecast:
        """The TMY day's hourly PV, scaled by (1 + error)."""
        return cls(
            tuple(tmy.hourly_pv_w(day * 24 + h) * (1.0 + error) for h in range(24)),
            sunrise_hour(tmy, day) * HOUR,
            sunset_hour(tmy, day) * HOUR,
        )

    def remaining_wh(self, t: float) -> float:
        """Forecast energy from ``t`` to the end of the day (Forecast.Solar's
        "energy production today remaining")."""
        hour = int(t // HOUR)
        if hour >= 24:
            return 0.0
        if hour < 0:
            return sum(self.hourly_w)
        rest = self.hourly_w[hour] * (1.0 - (t - hour * HOUR) / HOUR)
        return rest + sum(self.hourly_w[hour + 1 :])

    def power_w(self, t: float) -> float:
        """Forecast power now ("power production now")."""
        hour = int(t // HOUR)
        return self.hourly_w[hour] if 0 <= hour < 24 else 0.0

    @property
    def daylight_s(self) -> float:
        """Sunrise to sunset."""
        return self.sunset_s - self.sunrise_s

    def sunset_in_s(self, t: float) -> float:
        """Seconds until the sun sets (0 after sunset)."""
        return max(self.sunset_s - t, 0.0)
