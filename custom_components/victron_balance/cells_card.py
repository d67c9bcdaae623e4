"""The cells card (`custom:victron-balance-cells-card`), served by the integration itself.

The built card (frontend/ holds its TypeScript source) ships inside the integration, so
a HACS install needs no separate frontend repository and no dashboard resource: the
file is served from a static path and added to every dashboard as an extra module.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from homeassistant.components.frontend import add_extra_js_url
from homeassistant.components.http import StaticPathConfig
from homeassistant.core import HomeAssistant

from .const import DOMAIN, LOGGER

CARD_FILE = Path(__file__).parent / "static" / "victron-balance-cells-card.js"
CARD_URL = f"/{DOMAIN}_static/victron-balance-cells-card.js"
_REGISTERED = f"{DOMAIN}_cells_card"


def _version(path: Path) -> str:
    """A short content hash: browsers fetch a new card after an update, not a cached one."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


async def async_register_cells_card(hass: HomeAssistant) -> None:
    """Serve the card and load it in the frontend (once; skipped without a frontend)."""
    if hass.data.get(_REGISTERED) or "frontend" not in hass.config.components:
        return
    hass.data[_REGISTERED] = True
    version = await hass.async_add_executor_job(_version, CARD_FILE)
    await hass.http.async_register_static_paths(
        [StaticPathConfig(CARD_URL, str(CARD_FILE), cache_headers=True)]
    )
    add_extra_js_url(hass, f"{CARD_URL}?v={version}")
    LOGGER.debug("Cells card served at %s (version %s)", CARD_URL, version)
