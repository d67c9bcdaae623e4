"""A ready Home Assistant configuration folder for the demo (no onboarding, no clicks)."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from demo.energy_day import ENERGY_PREFERENCES

ROOT = Path(__file__).resolve().parent.parent

CONFIGURATION_YAML = """\
# Written by scripts/demo; changes are overwritten on the next start.
homeassistant:
  name: Victron Balance demo
  latitude: 52.37
  longitude: 4.89
  elevation: 0
  unit_system: metric
  time_zone: {time_zone}
  country: NL
  currency: EUR
  auth_providers:
    # Logged in straight away from this machine; the demo is bound to 127.0.0.1.
    - type: trusted_networks
      trusted_networks: ["127.0.0.1/32", "::1/128"]
      allow_bypass_login: true
    - type: homeassistant

http:
  server_host: 127.0.0.1
  server_port: {port}

frontend:
config:
api:
history:
logbook:
energy:
recorder:
  purge_keep_days: 1
  commit_interval: 5

lovelace:
  mode: storage
  dashboards:
    victron-balance:
      mode: yaml
      title: Victron Balance
      icon: mdi:battery-charging
      show_in_sidebar: true
      filename: victron_balance_dashboard.yaml

logger:
  default: warning
  logs:
    custom_components.victron_balance: info
"""

ONBOARDING_DONE = {
    "version": 4,
    "minor_version": 1,
    "key": "onboarding",
    "data": {"done": ["user", "core_config", "analytics", "integration"]},
}


def write_config(config_dir: Path, port: int, time_zone: str = "UTC") -> None:
    """Create or refresh the demo's configuration folder.

    Each start simulates a new day: the history and restored states of the last run go.
    """
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "configuration.yaml").write_text(
        CONFIGURATION_YAML.format(port=port, time_zone=time_zone)
    )
    for stale in ("home-assistant_v2.db", "home-assistant_v2.db-wal", "home-assistant_v2.db-shm"):
        (config_dir / stale).unlink(missing_ok=True)
    shutil.copyfile(
        ROOT / "dashboards" / "victron_balance.yaml",
        config_dir / "victron_balance_dashboard.yaml",
    )
    storage = config_dir / ".storage"
    storage.mkdir(exist_ok=True)
    (storage / "core.restore_state").unlink(missing_ok=True)
    (storage / "energy").write_text(json.dumps(ENERGY_PREFERENCES))
    onboarding = storage / "onboarding"
    if not onboarding.exists():
        onboarding.write_text(json.dumps(ONBOARDING_DONE))
    link_integration(config_dir)


def link_integration(config_dir: Path) -> None:
    """Home Assistant finds the integration in `<config>/custom_components` (a symlink)."""
    custom = config_dir / "custom_components"
    custom.mkdir(exist_ok=True)
    link = custom / "victron_balance"
    if not link.exists():
        link.symlink_to(ROOT / "custom_components" / "victron_balance", target_is_directory=True)


async def start_home_assistant(config_dir: Path) -> Any:
    """Home Assistant from `config_dir`, running (its run task in `hass.data`)."""
    from homeassistant import bootstrap  # noqa: PLC0415 - heavy, import when needed
    from homeassistant.core import CoreState  # noqa: PLC0415
    from homeassistant.runner import RuntimeConfig  # noqa: PLC0415

    # Home Assistant finds custom integrations through `<config>/custom_components`.
    sys.path.insert(0, str(config_dir))
    runtime = RuntimeConfig(config_dir=str(config_dir), skip_pip=True)
    hass = await bootstrap.async_setup_hass(runtime)
    if hass is None:
        raise RuntimeError("Home Assistant did not start; see the log above")
    if hass.config.recovery_mode:
        raise RuntimeError(
            f"Home Assistant started in recovery mode; see {config_dir / 'home-assistant.log'}"
        )
    hass.data["demo_run_task"] = asyncio.create_task(hass.async_run(attach_signals=False))
    for _ in range(600):
        if hass.state is CoreState.running:
            return hass
        await asyncio.sleep(0.1)
    raise RuntimeError("Home Assistant did not reach the running state")
