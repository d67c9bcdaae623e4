"""Power profiles: simulated seconds -> watts.

Cheap ones (constant, a sine-shaped clear day) need nothing. The ones from real
data import their heavy packages only when asked for, so the simulator starts
fast without them:

* ``tmy_pv_profile``: pvlib's shipped measured typical meteorological year
  (``pvlib/data/723170TYA.CSV``, Greensboro NC, hourly GHI and air temperature)
  through a simple model: P = kWp * GHI/1000 * derate * (1 + gamma*(Tcell-25)),
  Tcell = Tair + GHI/800*20 (NOCT-style), gamma = -0.4 %/K.
* ``bdew_h0_profile``: demandlib's BDEW H0 standard household load profile
  (15-minute values) scaled to an annual consumption.
* ``passing_clouds``: hourly irradiance made finer with clouds that come and go (a
  seeded two-state process), each hour keeping its measured energy.

Simulated time 0 maps to ``start_hour`` hours into the profile's year; both
profiles wrap around at the end of the year and interpolate linearly.
"""

from __future__ import annotations

import math
import os
import random
import warnings
from collections.abc import Callable, Sequence

type Profile = Callable[[float], float]

HOURS_PER_YEAR = 8760
TMY_FILE = "723170TYA.CSV"


def constant(watts: float) -> Profile:
    """The same power at all times."""

    def profile(_t: float) -> float:
        return watts

    return profile


def clear_day(peak_watts: float, sunrise_h: float = 6.0, sunset_h: float = 20.0) -> Profile:
    """A sine-shaped PV day repeating every 24 h (t = 0 is midnight)."""
    span = sunset_h - sunrise_h

    def profile(t: float) -> float:
        hour = (t / 3600.0) % 24.0
        if not sunrise_h <= hour <= sunset_h:
            return 0.0
        return peak_watts * math.sin(math.pi * (hour - sunrise_h) / span)

    return profile


def sampled(values: Sequence[float], interval_s: float, offset_s: float = 0.0) -> Profile:
    """Linear interpolation over evenly spaced samples, wrapping around."""
    data = list(values)
    if not data:
        raise ValueError("a sampled profile needs at least one value")
    count = len(data)

    def profile(t: float) -> float:
        position = (t + offset_s) / interval_s
        index = math.floor(position)
        fraction = position - index
        a = data[index % count]
        b = data[(index + 1) % count]
        return a + (b - a) * fraction

    return profile


def pv_power_from_weather(kwp: float, ghi: float, temp_air: float, derate: float = 0.86) -> float:
    """DC power of an array from global horizontal irradiance (W/m2) and air temperature."""
    if ghi <= 0:
        return 0.0
    cell_temp = temp_air + ghi / 800.0 * 20.0
    return kwp * 1000.0 * ghi / 1000.0 * derate * (1 - 0.004 * (cell_temp - 25.0))


def tmy_pv_profile(kwp: float, start_hour: float = 0.0, derate: float = 0.86) -> Profile:
    """PV power from pvlib's shipped TMY3 file (imports pvlib lazily)."""
    # Heavy and untyped: imported only when a profile is requested.
    import pvlib  # type: ignore[import-untyped]  # noqa: PLC0415

    path = os.path.join(os.path.dirname(pvlib.__file__), "data", TMY_FILE)
    data, _meta = pvlib.iotools.read_tmy3(path, map_variables=True)
    watts = [
        pv_power_from_weather(kwp, float(ghi), float(temp), derate)
        for ghi, temp in zip(data["ghi"], data["temp_air"], strict=True)
    ]
    # TMY3 hour stamps mark the end of each hour: value k covers hour k..k+1.
    return sampled(watts, 3600.0, start_hour * 3600.0)


def bdew_h0_profile(
    annual_kwh: float = 3500.0, year: int = 2025, start_hour: float = 0.0
) -> Profile:
    """Household load from demandlib's BDEW H0 profile (imports demandlib lazily)."""
    # Heavy and untyped: imported only when a profile is requested.
    from demandlib import bdew  # type: ignore[import-untyped]  # noqa: PLC0415

    # demandlib 0.2.2 calls warnings.simplefilter("error") and never undoes it, which
    # turns every later DeprecationWarning in the process into an exception.
    with warnings.catch_warnings():
        frame = bdew.ElecSlp(year).get_scaled_power_profiles({"h0": annual_kwh})
    # kW per 15 minutes -> W.
    watts = [float(kw) * 1000.0 for kw in frame["h0"]]
    return sampled(watts, 900.0, start_hour * 3600.0)


def passing_clouds(
    ghi: Sequence[float],
    dhi: Sequence[float],
    clear: Sequence[float],
    *,
    cycle_s: float,
    sample_s: float,
    seed: str,
) -> list[float]:
    """Irradiance per ``sample_s`` for hourly means, with clouds passing (W/m2).

    Per hour: ``ghi`` is the measured mean, ``dhi`` the diffuse part (the level in a
    cloud's shade) and ``clear`` the clear-sky level (the sun between clouds). The sun
    fraction f = (ghi - dhi) / (clear - dhi) drives a two-state Markov chain whose sunny
    and shaded runs last f x cycle_s and (1 - f) x cycle_s on average, so a sun-and-shade
    cycle takes ``cycle_s``; hours that are nearly all sun or all cloud stay at their
    mean. Every hour is then scaled back to its measured mean, so the day's energy is
    the measured one. The state carries over from hour to hour.
    """
    if cycle_s <= 0 or sample_s <= 0 or sample_s > 3600:
        raise ValueError(f"need cycle_s > 0 and 0 < sample_s <= 3600, got {cycle_s}, {sample_s}")
    if not len(ghi) == len(dhi) == len(clear):
        raise ValueError("ghi, dhi and clear need one value per hour each")
    rng = random.Random(seed)
    per_hour = max(round(3600.0 / sample_s), 1)
    sunny = True
    out: list[float] = []
    for mean, diffuse_raw, clear_level in zip(ghi, dhi, clear, strict=True):
        diffuse = min(diffuse_raw, mean)
        fraction = (mean - diffuse) / (clear_level - diffuse) if clear_level > diffuse else 1.0
        fraction = min(max(fraction, 0.0), 1.0)
        if not 0.1 < fraction < 0.9:
            out.extend([mean] * per_hour)
            continue
        samples: list[float] = []
        for _ in range(per_hour):
            mean_run = (fraction if sunny else 1.0 - fraction) * cycle_s
            if rng.random() < min(sample_s / mean_run, 1.0):
                sunny = not sunny
            samples.append(clear_level if sunny else diffuse)
        average = sum(samples) / per_hour
        scale = mean / average if average > 0 else 0.0
        out.extend(value * scale for value in samples)
    return out
