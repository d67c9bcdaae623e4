"""The managed top balance through the virtual BMS, against the simulated GX."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.victron_balance.const import DOMAIN
from custom_components.victron_balance.logic.venus_topics import SETTINGS, ServiceKey
from custom_components.victron_balance.top_balance import TopBalanceRunner
from custom_components.victron_balance.transport.venus_link import HEARTBEAT_TIMEOUT
from simulator import BatteryConfig, VenusSimulator
from simulator.mqtt_battery import MqttBatteryConfig
from tests.broker import MosquittoBroker
from tests.helpers import PORTAL_ID, advance, settle, wait_until

STATE = "sensor.battery_top_balance"
MODE = "select.victron_gx_charge_mode"
VIRTUAL = 100


@pytest.fixture
async def simulator(mqtt_broker: MosquittoBroker) -> AsyncIterator[VenusSimulator]:
    """A GX with a real BMS (512), DVCC on, and the dbus-mqtt-battery driver installed."""
    sim = VenusSimulator(
        mqtt_broker.host,
        mqtt_broker.port,
        portal_id=PORTAL_ID,
        battery=BatteryConfig(instance=512, cells=16),
        mqtt_battery=MqttBatteryConfig(instance=VIRTUAL),
        seed=1,
    )
    await sim.start()
    sim.set_value("settings", 0, "/Settings/Services/Bol", 1)
    sim.set_value("settings", 0, "/Settings/SystemSetup/BmsInstance", VIRTUAL)
    await settle()
    yield sim
    await sim.stop()


def virtual(simulator: VenusSimulator, path: str) -> object:
    try:
        return simulator.get_value("battery", VIRTUAL, path)
    except KeyError:
        return None


async def start(hass: HomeAssistant, entry: MockConfigEntry, **data: float) -> None:
    await hass.services.async_call(
        DOMAIN, "start_top_balance", {"config_entry_id": entry.entry_id, **data}, blocking=True
    )


async def test_a_run_steers_the_chargers_through_the_virtual_bms(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    await start(hass, init_integration, target_cell_voltage=3.55, max_current=60)
    assert hass.states.get(MODE).state == "top_balance"
    await advance(hass, freezer, 3)
    # The driver appeared and carries our limits; the GX follows it as the BMS.
    await wait_until(lambda: virtual(simulator, "/Info/MaxChargeVoltage") is not None)
    cvl = virtual(simulator, "/Info/MaxChargeVoltage")
    assert isinstance(cvl, float)
    assert cvl <= 16 * 3.55
    assert virtual(simulator, "/Io/AllowToCharge") == 1
    assert simulator.get_value("system", 0, "/ActiveBmsInstance") == VIRTUAL
    assert hass.states.get(STATE).state == "bulk"
    # We keep reading the real BMS, not our own copy of it.
    assert init_integration.runtime_data.venus.battery_instance == 512
    # DVCC user limits are cleared so they do not cap the run.
    assert simulator.get_value("settings", 0, "/Settings/SystemSetup/MaxChargeCurrent") == -1


async def test_start_needs_dvcc(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
    issue_registry: ir.IssueRegistry,
) -> None:
    simulator.set_value("settings", 0, "/Settings/Services/Bol", 0)
    link = init_integration.runtime_data.link
    await wait_until(lambda: link.state.value(SETTINGS, "/Settings/Services/Bol") == 0)
    with pytest.raises(ServiceValidationError) as raised:
        await start(hass, init_integration)
    assert raised.value.translation_key == "dvcc_required"
    assert issue_registry.async_get_issue(DOMAIN, f"dvcc_disabled_{init_integration.entry_id}")
    assert hass.states.get(STATE).state == "idle"


async def test_stop_returns_to_safe_limits(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    await start(hass, init_integration)
    await advance(hass, freezer, 2)
    await hass.services.async_call(
        DOMAIN, "stop_top_balance", {"config_entry_id": init_integration.entry_id}, blocking=True
    )
    assert hass.states.get(MODE).state == "follow_bms"
    runner = init_integration.runtime_data.top_balance
    assert runner.decision is not None
    assert runner.decision.state.value == "aborted"
    safe = runner.controller.safe_decision()
    await advance(hass, freezer, 2)
    await wait_until(lambda: virtual(simulator, "/Info/MaxChargeVoltage") == round(safe.cvl_v, 3))
    assert runner.reports[-1].outcome.startswith("aborted")


async def test_missing_driver_aborts_with_a_repair(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The driver runs but the GX does not use it as BMS: stop, and say what to do."""
    simulator.set_value("settings", 0, "/Settings/SystemSetup/BmsInstance", 512)
    await start(hass, init_integration)
    await advance(hass, freezer, 35)
    runner = init_integration.runtime_data.top_balance
    assert runner.controller.state.value == "aborted"
    assert runner.controller.abort_reason == "virtual_bms_missing"
    issue = issue_registry.async_get_issue(
        DOMAIN, f"virtual_bms_missing_{init_integration.entry_id}"
    )
    assert issue is not None
    assert issue.translation_placeholders == {"topic": "enphase/battery", "instance": "100"}


async def test_venus_lost_refuses_charge(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    await start(hass, init_integration)
    await advance(hass, freezer, 2)
    simulator.pause_heartbeat()
    await advance(hass, freezer, HEARTBEAT_TIMEOUT + 2)
    runner = init_integration.runtime_data.top_balance
    assert runner.decision is not None
    assert runner.decision.allow_to_charge is False
    await wait_until(lambda: virtual(simulator, "/Io/AllowToCharge") == 0)


async def test_reload_mid_run_reverts_to_safe_limits(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    await start(hass, init_integration)
    await advance(hass, freezer, 2)
    await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    runner = init_integration.runtime_data.top_balance
    # Unload aborted the run (never left elevated); the report says so.
    assert runner.controller.state.value == "aborted"
    assert runner.controller.abort_reason == "unload"
    assert runner.reports


async def test_crash_mid_run_resumes_from_the_store(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    """Without a clean shutdown, the persisted run is picked up again (within its window)."""
    await start(hass, init_integration)
    await advance(hass, freezer, 2)
    runner = init_integration.runtime_data.top_balance
    await runner._persist()  # what the periodic save wrote before the crash
    restarted = TopBalanceRunner(hass, runner.coordinator, runner.session)
    await restarted.async_load()
    assert restarted.active
    await restarted.async_shutdown()
    assert restarted.controller.state.value == "aborted"


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"target_cell_voltage": 3.9}, "invalid_parameter"),
        ({"max_current": 0}, "invalid_parameter"),
        ({"bleed_current": 50}, "invalid_parameter"),
    ],
)
async def test_start_parameters_are_checked(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    data: dict[str, float],
    key: str,
) -> None:
    with pytest.raises(ServiceValidationError) as raised:
        await start(hass, init_integration, **data)
    assert raised.value.translation_key == key
    assert hass.states.get(STATE).state == "idle"


async def test_parameter_numbers(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    await hass.services.async_call(
        "number",
        "set_value",
        {ATTR_ENTITY_ID: "number.victron_gx_top_balance_cell_target", "value": 3.6},
        blocking=True,
    )
    assert init_integration.runtime_data.top_balance.target_cell_v == 3.6
    entity = hass.data["number"].get_entity("number.victron_gx_bms_bleed_current")
    with pytest.raises(ServiceValidationError):
        await entity.async_set_native_value(20.0)


async def test_report_service(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    """Past runs, per-cell drift and hand-balancing advice, as a service response."""
    await start(hass, init_integration)
    await advance(hass, freezer, 2)
    await hass.services.async_call(
        DOMAIN, "stop_top_balance", {"config_entry_id": init_integration.entry_id}, blocking=True
    )
    volts = [3.45] * 16
    volts[6] = 3.30  # one cell far behind: too much for a 1 A bleed in a day
    simulator.set_cell_voltages(volts, instance=512)
    battery = ServiceKey("battery", 512)
    state = init_integration.runtime_data.link.state
    await wait_until(
        lambda: [state.value(battery, f"/Voltages/Cell{n}") for n in range(1, 17)] == volts
    )
    response = await hass.services.async_call(
        DOMAIN,
        "top_balance_report",
        {"config_entry_id": init_integration.entry_id, "load_w": 50},
        blocking=True,
        return_response=True,
    )
    assert len(response["reports"]) == 1
    assert response["reports"][0]["outcome"].startswith("aborted")
    assert set(response["drift"]) <= {str(cell) for cell in range(1, 17)}
    advice = response["advice"]
    assert advice is not None
    assert advice["severe"] is True
    assert advice["recommended"] in ("drain", "charge")
    assert advice["charge"]["cells"] == [7]
    assert advice["charge"]["voltage"] == 3.6  # HVC 3.65 V minus the margin
    assert advice["drain"]["cell"] != 7


async def select_mode(hass: HomeAssistant, option: str) -> None:
    await hass.services.async_call(
        "select", "select_option", {ATTR_ENTITY_ID: MODE, "option": option}, blocking=True
    )


async def test_hold_at_soc_through_the_virtual_bms(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    """Charge current 0 A from the target on, back when SoC falls below the band; no flash."""
    await hass.services.async_call(
        "number",
        "set_value",
        {ATTR_ENTITY_ID: "number.victron_gx_hold_state_of_charge", "value": 80},
        blocking=True,
    )
    venus = init_integration.runtime_data.venus

    async def soc(value: float) -> None:
        simulator.set_value("battery", 512, "/Soc", value)
        await wait_until(lambda: venus.battery().value("/Soc") == value)
        await advance(hass, freezer, 2)

    await soc(70.0)
    await select_mode(hass, "hold_at_soc")
    await advance(hass, freezer, 2)
    await wait_until(lambda: (virtual(simulator, "/Info/MaxChargeCurrent") or 0) > 0)
    await soc(81.0)
    await wait_until(lambda: virtual(simulator, "/Info/MaxChargeCurrent") == 0)
    await soc(79.0)  # inside the band: still holding
    await advance(hass, freezer, 2)
    assert virtual(simulator, "/Info/MaxChargeCurrent") == 0
    await soc(76.0)
    await wait_until(lambda: (virtual(simulator, "/Info/MaxChargeCurrent") or 0) > 0)
    assert virtual(simulator, "/Io/AllowToCharge") == 1
    writes = simulator.settings_writes
    await select_mode(hass, "follow_bms")
    await advance(hass, freezer, 2)
    assert init_integration.runtime_data.top_balance.hold is None
    assert simulator.settings_writes == writes  # holding never touched the GX's flash


async def test_unreadable_stored_state_is_not_trusted(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    config_entry: MockConfigEntry,
    simulator: VenusSimulator,
) -> None:
    """Corrupt storage: no run is resumed, bad reports are skipped, control follows the BMS."""
    entry_id = config_entry.entry_id
    for name, data in (
        (
            "top_balance",
            {
                "params": {"max_current_a": 30.0},
                "reports": [{"nonsense": True}],
                "controller": {"state": "bulk", "settings": "broken"},
            },
        ),
        ("charge_control", {"mode": "warp_speed", "current_a": "lots"}),
    ):
        key = f"{DOMAIN}.{entry_id}.{name}"
        hass_storage[key] = {"version": 1, "minor_version": 1, "key": key, "data": data}
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    runner = config_entry.runtime_data.top_balance
    assert not runner.active
    assert runner.reports == []
    assert runner.max_current_a == 30.0
    assert hass.states.get(MODE).state == "follow_bms"
    assert simulator.settings_writes == 0
    await hass.config_entries.async_unload(config_entry.entry_id)


async def test_virtual_bms_topic_and_instance_from_the_options(
    freezer: FrozenDateTimeFactory,
    hass: HomeAssistant,
    mqtt_broker: MosquittoBroker,
    config_entry: MockConfigEntry,
) -> None:
    """A driver configured with another topic and instance is found and used."""
    sim = VenusSimulator(
        mqtt_broker.host,
        mqtt_broker.port,
        portal_id=PORTAL_ID,
        battery=BatteryConfig(instance=512, cells=16),
        mqtt_battery=MqttBatteryConfig(topic="custom/vbms", instance=101),
        seed=1,
    )
    await sim.start()
    try:
        sim.set_value("settings", 0, "/Settings/Services/Bol", 1)
        sim.set_value("settings", 0, "/Settings/SystemSetup/BmsInstance", 101)
        await settle()
        config_entry.add_to_hass(hass)
        hass.config_entries.async_update_entry(
            config_entry, options={"virtual_bms_topic": "custom/vbms", "virtual_bms_instance": 101}
        )
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
        await start(hass, config_entry)
        await advance(hass, freezer, 35)
        runner = config_entry.runtime_data.top_balance
        assert runner.active, runner.controller.abort_reason  # the driver was found in time
        assert sim.get_value("battery", 101, "/Info/MaxChargeVoltage") is not None
        assert config_entry.runtime_data.venus.battery_instance == 512
        await hass.config_entries.async_unload(config_entry.entry_id)
    finally:
        await sim.stop()


async def test_start_refused_while_the_pack_is_unknown(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    """No cells, no bounds: nothing is started and nothing is announced."""
    simulator.remove_service("battery", 512)
    await wait_until(
        lambda: (
            init_integration.runtime_data.venus.battery() is None
            or not init_integration.runtime_data.venus.battery().present
        )
    )
    with pytest.raises(ServiceValidationError) as raised:
        await start(hass, init_integration)
    assert raised.value.translation_key == "pack_unknown"
    assert init_integration.runtime_data.top_balance.published == 0


async def test_incomplete_pack_data_is_not_announced(
    hass: HomeAssistant, init_integration: MockConfigEntry, simulator: VenusSimulator
) -> None:
    """The driver rejects a JSON without voltage, power and SoC: do not send one."""
    runner = init_integration.runtime_data.top_balance
    battery = ServiceKey("battery", 512)
    state = init_integration.runtime_data.link.state
    await simulator.publish_raw(f"N/{PORTAL_ID}/battery/512/Soc", b'{"value": null}')
    await wait_until(
        lambda: "/Soc" in state.services[battery] and state.value(battery, "/Soc") is None
    )
    await runner._publish_limits(54.0, 10.0, True)
    assert runner.published == 0
    simulator.set_value("battery", 512, "/Soc", 60.0)
    await wait_until(lambda: state.value(battery, "/Soc") == 60.0)
    await runner._publish_limits(54.0, 10.0, True)
    assert runner.published == 1
