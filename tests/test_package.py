"""Packaging checks that hassfest and HACS would make, and a name and icon for every entity.

The translations themselves: tests/test_translations.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import ModuleType

import pytest
from homeassistant.helpers.entity import EntityDescription
from homeassistant.util.yaml import load_yaml_dict

from custom_components.victron_balance import (
    balancer_entities,
    binary_sensor,
    button,
    energy_entities,
    number,
    select,
    sensor,
    switch,
)

ROOT = Path(__file__).parent.parent
INTEGRATION = ROOT / "custom_components" / "victron_balance"
TRANSLATIONS = json.loads((INTEGRATION / "translations" / "en.json").read_text())
ICONS = json.loads((INTEGRATION / "icons.json").read_text())


def test_manifest_is_valid_for_hassfest_and_hacs() -> None:
    manifest = json.loads((INTEGRATION / "manifest.json").read_text())
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:]), "domain, name, then alphabetical"
    assert manifest["domain"] == INTEGRATION.name
    for required in ("codeowners", "documentation", "issue_tracker", "version", "iot_class"):
        assert manifest[required]
    assert manifest["iot_class"] == "local_push"
    assert manifest["config_flow"] is True
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    pinned = (ROOT / "requirements_test.txt").read_text()
    for requirement in manifest["requirements"]:
        assert requirement in pinned, "the integration's requirement is what the tests use"


def test_hacs_json() -> None:
    hacs = json.loads((ROOT / "hacs.json").read_text())
    assert set(hacs) <= {"name", "homeassistant", "render_readme", "hacs", "country"}
    assert hacs["homeassistant"] == "2025.4.4"


PLATFORMS = {
    "sensor": sensor,
    "binary_sensor": binary_sensor,
    "button": button,
    "number": number,
    "select": select,
    "switch": switch,
}


def _is_description(value: object) -> bool:
    # HA hands out "thawed" copies of EntityDescription classes, so isinstance() fails.
    return hasattr(value, "key") and hasattr(value, "translation_key")


def _descriptions(module: ModuleType) -> list[EntityDescription]:
    """Every entity description a platform module defines."""
    found: list[EntityDescription] = []
    for value in vars(module).values():
        if _is_description(value):
            found.append(value)  # type: ignore[arg-type]
        elif isinstance(value, tuple) and value and _is_description(value[0]):
            found.extend(value)
    return found


def _platform_descriptions(platform: str) -> list[EntityDescription]:
    """The platform module's descriptions plus the balancer's (and energy's) for it."""
    extra = _descriptions(energy_entities) if platform == "sensor" else []
    return (
        _descriptions(PLATFORMS[platform])
        + list(balancer_entities.DESCRIPTIONS.get(platform, ()))
        + extra
    )


def _translation_keys() -> dict[str, set[str]]:
    return {
        platform: {str(d.translation_key) for d in _platform_descriptions(platform)}
        for platform in PLATFORMS
    }


@pytest.mark.parametrize("platform", list(PLATFORMS))
def test_every_entity_has_a_name_and_an_icon(platform: str) -> None:
    used = _translation_keys()[platform]
    assert set(TRANSLATIONS["entity"][platform]) == used  # none missing, none stale
    # Entities with a device class get their (state-dependent) icon from it.
    without_class = {
        str(description.translation_key)
        for description in _platform_descriptions(platform)
        if getattr(description, "device_class", None) is None
    }
    assert without_class <= set(ICONS["entity"].get(platform, {}))


def test_services_are_described() -> None:
    services = load_yaml_dict(str(INTEGRATION / "services.yaml"))
    assert set(services) == set(TRANSLATIONS["services"]) == set(ICONS["services"])
    for name, service in services.items():
        assert set(service["fields"]) == set(TRANSLATIONS["services"][name]["fields"])
