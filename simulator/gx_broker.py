"""Broker rules of a GX (FlashMQ + dbus-flashmq) as a mosquitto configuration.

The simulator is a client of an ordinary broker, so two behaviours of
venus-observed.md that belong to FlashMQ itself need the broker's help:

* 19: a client may not publish on ``N/<id>/...``: only the plugin does.
* 20: any client connecting from localhost is accepted without credentials.

``mosquitto_acl`` and ``mosquitto_config`` reproduce both on mosquitto: a
loopback listener with anonymous access, anonymous clients may read ``N/#`` and
read and write ``W/#``, ``R/#`` and the ``extra_topics`` (e.g. the JSON topics of
the dbus-mqtt-* drivers), and only the simulator, connecting as
``simulator_user``, may write ``N/``. A refused publication is dropped silently,
as FlashMQ does. mosquitto ACLs are allow-lists, so topics outside the Venus
tree must be listed to be usable by anonymous clients.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

SIMULATOR_USER = "venus-sim"
DRIVER_TOPICS = ("enphase/battery", "custom/ev-charger")


def mosquitto_acl(
    simulator_user: str = SIMULATOR_USER, extra_topics: Iterable[str] = DRIVER_TOPICS
) -> str:
    """An ``acl_file`` body: N/ read-only for everyone but ``simulator_user``."""
    lines = [
        "# Anonymous clients: read N/, use W/ and R/ (venus-observed.md 19).",
        "topic read N/#",
        "topic readwrite W/#",
        "topic readwrite R/#",
        *(f"topic readwrite {topic}" for topic in extra_topics),
        "",
        "# The simulated GX publishes N/ (and anything else it needs).",
        f"user {simulator_user}",
        "topic readwrite #",
    ]
    return "\n".join(lines) + "\n"


def mosquitto_config(port: int, acl_file: Path | str, host: str = "127.0.0.1") -> str:
    """A mosquitto.conf body: a loopback listener, anonymous access, the ACL file."""
    lines = [
        "per_listener_settings false",
        f"listener {port} {host}",
        "allow_anonymous true",
        f"acl_file {acl_file}",
        "persistence false",
    ]
    return "\n".join(lines) + "\n"
