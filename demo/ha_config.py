"""A ready Home Assistant configuration folder for the demo (no onboarding, no clicks)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

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
    custom = config_dir / "custom_components"
    custom.mkdir(exist_ok=True)
    link = custom / "victron_balance"
    if not link.exists():
        link.symlink_to(ROOT / "custom_components" / "victron_balance", target_is_directory=True)
