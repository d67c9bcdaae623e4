"""Our side of the balancer's lease (protocol 2, docs/balancer-mqtt.md): pure.

The device switches itself off when no renewal arrives within `lease_s`. We renew
every `renew_s` while we drive the device, and count the lease as ours only while
the device reports it (with our will topic) *and* our last renewal is at most half
a lease old: then it cannot have lapsed on the device while we still send "on".
"""

from __future__ import annotations

from .contract import LeaseReport

LEASE_S = 10.0  # the lease we ask for
RENEW_S = 3.0  # renew this often while driving


class LeaseKeeper:
    """When to renew, and whether the lease is ours now."""

    def __init__(self, holder: str | None, lease_s: float = LEASE_S, renew_s: float = RENEW_S):
        if not 0 < renew_s < lease_s / 2:
            raise ValueError("renew_s must be below half of lease_s")
        self.holder = holder
        self.lease_s = lease_s
        self.renew_s = renew_s
        self.renewed_at: float | None = None  # the last renewal handed to the broker
        self._seen_ends: int | None = None  # the device's count of ended leases

    def due(self, now: float) -> bool:
        """A renewal should go out now."""
        return self.renewed_at is None or now - self.renewed_at >= self.renew_s

    def renewed(self, now: float) -> None:
        """A renewal was sent."""
        self.renewed_at = now

    def lost(self) -> None:
        """A renewal failed or we stopped driving: nothing is renewed any more."""
        self.renewed_at = None

    def active(self, now: float, report: LeaseReport | None) -> bool:
        """The lease is the device's and ours, and cannot have lapsed."""
        renewed = self.renewed_at
        return (
            report is not None
            and report.active
            and report.holder == self.holder
            and renewed is not None
            and 0 <= now - renewed <= self.lease_s / 2
        )

    def ended(self, report: LeaseReport | None) -> bool:
        """The device reports a lease that ended since we last looked (it switched off)."""
        if report is None:
            return False
        seen, self._seen_ends = self._seen_ends, report.ends
        return seen is not None and report.ends > seen
