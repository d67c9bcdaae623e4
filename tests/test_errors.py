"""Failed actions become translated Home Assistant errors, in one place."""

from __future__ import annotations

import pytest
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from custom_components.victron_balance.errors import entity_action, service_action, translated
from custom_components.victron_balance.logic.charge_supervisor import Refused
from custom_components.victron_balance.transport.mqtt_session import PublishFailed


class Entity:
    """Records whether its state was written."""

    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.written = 0

    def async_write_ha_state(self) -> None:
        self.written += 1

    @entity_action
    async def act(self, value: int) -> None:
        if self.error is not None:
            raise self.error


async def test_a_refusal_is_a_translated_validation_error() -> None:
    entity = Entity(Refused("invalid_charge_current", {"value": "300", "min": "0", "max": "200"}))
    with pytest.raises(ServiceValidationError) as raised:
        await entity.act(1)
    assert raised.value.translation_key == "invalid_charge_current"
    assert raised.value.translation_placeholders == {"value": "300", "min": "0", "max": "200"}
    assert entity.written == 0


async def test_a_transport_failure_is_a_translated_error() -> None:
    entity = Entity(PublishFailed("not connected to gx:1883"))
    with pytest.raises(HomeAssistantError) as raised:
        await entity.act(1)
    assert not isinstance(raised.value, ServiceValidationError)
    assert raised.value.translation_key == "communication_error"
    assert raised.value.translation_placeholders == {"error": "not connected to gx:1883"}


async def test_success_writes_the_state_once() -> None:
    entity = Entity(None)
    await entity.act(1)
    assert entity.written == 1


async def test_services_map_the_same_way() -> None:
    @service_action
    async def handler(error: Exception | None) -> str:
        if error is not None:
            raise error
        return "ok"

    assert await handler(None) == "ok"
    with pytest.raises(ServiceValidationError):
        await handler(Refused("pack_unknown"))
    assert translated(PublishFailed("x")).translation_key == "communication_error"
