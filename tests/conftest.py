"""Shared fixtures: a real mosquitto broker, the simulator, and a set-up integration."""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

# Import the integration before Home Assistant starts, so that `custom_components`
# resolves to this repository and not to the test plugin's own folder.
import custom_components.victron_balance  # noqa: F401
from custom_components.victron_balance.const import (
    CONF_PORTAL_ID,
    CONF_TLS,
    CONF_VERIFY_TLS,
    DOMAIN,
)
from custom_components.victron_balance.logic import update_interval
from custom_components.victron_balance.logic.safety import pack
from simulator import BatteryConfig, VenusSimulator
from tests.broker import BrokerUser, MosquittoBroker
from tests.certs import TlsCertificates, make_certificates
from tests.helpers import PORTAL_ID, settle


class FrameReports(logging.Handler):
    """Collects what Home Assistant's frame helper reports."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.reports: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.reports.append(record.getMessage())


@pytest.fixture(autouse=True)
def no_deprecated_calls() -> Iterator[FrameReports]:
    """Fail a test in which Home Assistant reported a deprecated call.

    Its frame helper logs "Detected that custom integration 'victron_balance' calls ...
    This will stop working in Home Assistant 20xx" for the integration's calls, and
    "Detected code that ..." for the tests' own (the newest versions raise for those).
    """
    reports = FrameReports()
    frame_logger = logging.getLogger("homeassistant.helpers.frame")
    frame_logger.addHandler(reports)
    yield reports
    frame_logger.removeHandler(reports)
    if reports.reports:
        pytest.fail("deprecated Home Assistant API used:\n" + "\n".join(reports.reports))


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load integrations from custom_components/."""


@pytest.fixture(autouse=True)
def pack_confirms_at_once(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pack is confirmed by its full publish alone, unless a test wants the real window.

    The window (5 s of a stable shape after a full publish) is tested on its own:
    mark such tests `@pytest.mark.pack_window`.
    """
    if request.node.get_closest_marker("pack_window") is None:
        monkeypatch.setattr(pack, "CONFIRM_S", 0.0)


@pytest.fixture(autouse=True)
async def enable_event_loop_debug(request: pytest.FixtureRequest) -> None:
    """asyncio debug mode, as the plugin's fixture of this name does, except for long runs.

    Debug mode records a stack for every callback the loop schedules; over a simulated
    hour (the `long_run` and `scenario` tests) that makes a test several times slower.
    """
    node = request.node
    long_run = node.get_closest_marker("long_run") or node.get_closest_marker("scenario")
    asyncio.get_running_loop().set_debug(long_run is None)


@pytest.fixture(autouse=True)
def entities_update_live(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Entities are written on every change, unless a test wants the real default.

    The default interval (Normal: 5 s / 30 s) is tested on its own: mark such tests
    `@pytest.mark.default_update_interval` (or set the option in the entry).
    """
    if request.node.get_closest_marker("default_update_interval") is None:
        monkeypatch.setattr(
            update_interval, "DEFAULT_UPDATE_INTERVAL", update_interval.UpdateInterval.LIVE
        )


@pytest.fixture(autouse=True)
def allow_loopback_sockets(socket_enabled: None) -> None:
    """The tests talk to a real broker; the plugin still limits connections to 127.0.0.1."""


@pytest.fixture
def mqtt_broker() -> Iterator[MosquittoBroker]:
    """A real mosquitto broker on a free loopback port (anonymous access)."""
    broker = MosquittoBroker()
    broker.start()
    yield broker
    broker.close()


@pytest.fixture
def auth_broker() -> Iterator[MosquittoBroker]:
    """A broker that wants a username and password (venus / secret)."""
    broker = MosquittoBroker(users=[BrokerUser("venus", "secret")])
    broker.start()
    yield broker
    broker.close()


@pytest.fixture
def tls_certificates(tmp_path: Path) -> TlsCertificates:
    """A test CA and a server certificate for 127.0.0.1."""
    return make_certificates(tmp_path)


@pytest.fixture
def tls_broker(tls_certificates: TlsCertificates) -> Iterator[MosquittoBroker]:
    """A broker that only speaks TLS, with a certificate from the test CA."""
    broker = MosquittoBroker(tls_cert=tls_certificates.cert_file, tls_key=tls_certificates.key_file)
    broker.start()
    yield broker
    broker.close()


@pytest.fixture
def battery_config() -> BatteryConfig:
    """The simulated battery; override in a module to change it."""
    return BatteryConfig(instance=512, cells=16, flavour="serialbattery")


@pytest.fixture
async def simulator(
    mqtt_broker: MosquittoBroker, battery_config: BatteryConfig
) -> AsyncIterator[VenusSimulator]:
    """The Venus OS simulator on the broker (real Venus timings: 3 s heartbeat, 60 s)."""
    sim = VenusSimulator(
        mqtt_broker.host, mqtt_broker.port, portal_id=PORTAL_ID, battery=battery_config, seed=1
    )
    await sim.start()
    # Let its start-up messages reach the broker before the integration subscribes.
    await settle()
    yield sim
    await sim.stop()


@pytest.fixture
def config_entry(mqtt_broker: MosquittoBroker) -> MockConfigEntry:
    """A config entry pointing at the test broker."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"Venus OS {PORTAL_ID}",
        unique_id=PORTAL_ID,
        data={
            CONF_HOST: mqtt_broker.host,
            CONF_PORT: mqtt_broker.port,
            CONF_TLS: False,
            CONF_VERIFY_TLS: True,
            CONF_PORTAL_ID: PORTAL_ID,
        },
    )


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, config_entry: MockConfigEntry, simulator: VenusSimulator
) -> AsyncIterator[MockConfigEntry]:
    """The integration set up against the simulator, unloaded afterwards."""
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    yield config_entry
    if config_entry.state.recoverable:
        await hass.config_entries.async_unload(config_entry.entry_id)
        await hass.async_block_till_done()


@pytest.fixture
def tolerate_aiomqtt_socket_race(hass: HomeAssistant) -> Iterator[None]:
    """Ignore one known aiomqtt race when a broker dies under a publishing client.

    aiomqtt schedules `loop.add_writer(fd)` with call_soon_threadsafe; when the broker
    closes the connection in between, the fd is gone and the loop logs EBADF. It is
    harmless (the client reconnects), but the hass fixture fails on any loop error.
    """
    loop = hass.loop
    previous = loop.get_exception_handler()

    def handler(event_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exception = context.get("exception")
        handle = repr(context.get("handle", ""))
        if (
            isinstance(exception, OSError)
            and exception.errno == errno.EBADF
            and "add_writer" in handle
        ):
            return
        if previous is not None:
            previous(event_loop, context)
        else:
            event_loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
    yield
    loop.set_exception_handler(previous)
