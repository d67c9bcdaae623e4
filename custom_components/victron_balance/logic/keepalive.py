"""The keepalive schedule for dbus-flashmq.

Venus publishes nothing until it receives `R/<portal>/keepalive` and stops 60 s after
the last one. An empty keepalive makes it publish every topic (a full publish); the
`suppress-republish` option keeps it alive without that. Values that do not change are
never republished, so a periodic full publish resynchronises anything lost on the way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

DEFAULT_INTERVAL = 30.0
FULL_REPUBLISH_EVERY = 10  # cycles: with 30 s, a full publish every 5 minutes
KEEPALIVE_TIMEOUT = 60.0  # Venus stops publishing this long after the last keepalive


@dataclass(frozen=True, slots=True)
class Keepalive:
    """One keepalive message to send."""

    payload: str
    full_publish: bool
    token: str | None


class KeepalivePlan:
    """Decides what each keepalive carries; call `next()` once per cycle."""

    def __init__(self, client_tag: str, full_every: int = FULL_REPUBLISH_EVERY) -> None:
        self._tag = client_tag
        self._full_every = max(1, full_every)
        self._cycle = 0

    def next(self) -> Keepalive:
        """The keepalive for this cycle."""
        self._cycle += 1
        token = f"{self._tag}-{self._cycle}"
        if self._cycle % self._full_every == 0:
            options: list[object] = [{"full-publish-completed-echo": token}]
            return Keepalive(json.dumps({"keepalive-options": options}), True, token)
        options = [{"full-publish-completed-echo": token}, "suppress-republish"]
        return Keepalive(json.dumps({"keepalive-options": options}), False, None)

    @staticmethod
    def first() -> Keepalive:
        """The very first keepalive is empty, as the Venus documentation recommends."""
        return Keepalive("", True, None)
