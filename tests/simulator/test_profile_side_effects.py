"""Loading the real-data profiles must not change the process for everyone else."""

from __future__ import annotations

import warnings

from simulator.profiles import bdew_h0_profile


def test_bdew_profile_leaves_warning_filters_alone() -> None:
    """demandlib 0.2.2 sets warnings to errors globally; the profile loader contains it."""

    def errors() -> list[object]:
        return [entry for entry in warnings.filters if entry[0] == "error"]

    before = errors()
    profile = bdew_h0_profile(3500.0)
    assert errors() == before
    assert 0 < profile(12 * 3600.0) < 5000
