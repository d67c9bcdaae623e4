"""Behaviours 1, 7 and 8: discovery before any keepalive, foreign portal ids."""

from __future__ import annotations

from simulator import VenusSimulator
from tests.broker import MosquittoBroker
from tests.simulator.conftest import SimFactory
from tests.simulator.helpers import PORTAL, Observer, wait_until

SERIAL = f"N/{PORTAL}/system/0/Serial"
KEEPALIVE_ANNOUNCE = f"N/{PORTAL}/keepalive"


async def test_serial_is_retained_and_the_only_topic_without_keepalive(
    sim: VenusSimulator, observer: Observer, mqtt_broker: MosquittoBroker
) -> None:
    """1: a client connecting later gets the retained Serial and nothing else."""
    late = Observer(mqtt_broker.host, mqtt_broker.port)
    await late.start()
    try:
        serial = await late.wait_topic(SERIAL)
        assert serial.retain is True
        assert serial.json() == {"value": PORTAL}
        await late.quiet()
        assert late.topics_seen() == {SERIAL}
        assert not sim.alive
    finally:
        await late.stop()


async def test_serial_is_resent_non_retained_during_full_publish(
    sim: VenusSimulator, observer: Observer, mqtt_broker: MosquittoBroker
) -> None:
    """1: the full publish repeats the Serial with retain=0; the retained copy stays."""
    observer.clear()
    await observer.keepalive()
    serials = observer.on(SERIAL)
    assert len(serials) == 1
    assert serials[0].retain is False
    late = Observer(mqtt_broker.host, mqtt_broker.port)
    await late.start()
    try:
        assert (await late.wait_topic(SERIAL)).retain is True
    finally:
        await late.stop()


async def test_plugin_start_announces_keepalive_once(
    make_sim: SimFactory, observer: Observer
) -> None:
    """8: N/<id>/keepalive with the plain payload 1, non-retained, once."""
    await make_sim()
    announce = await observer.wait_topic(KEEPALIVE_ANNOUNCE)
    assert announce.payload == b"1"
    assert announce.retain is False
    await observer.keepalive()
    assert len(observer.on(KEEPALIVE_ANNOUNCE)) == 1


async def test_foreign_portal_id_is_ignored(sim: VenusSimulator, observer: Observer) -> None:
    """7: keepalive, R/ and W/ for another portal id get no answer and change nothing."""
    other = "0123456789ab"
    write_topic = f"W/{other}/settings/0/Settings/Services/Bol"
    observer.clear()
    await observer.publish(f"R/{other}/keepalive")
    await observer.publish(f"R/{other}/system/0/Serial")
    await observer.publish(f"R/{other}/settings/0/Settings/Services/Bol")
    await observer.publish(write_topic, '{"value": 1}')
    await wait_until(lambda: len(sim.rejected_writes) == 1)
    await observer.quiet()
    assert observer.messages == []
    assert not sim.alive
    assert sim.keepalive_count == 0
    assert sim.get_value("settings", 0, "/Settings/Services/Bol") == 0
    assert sim.rejected_writes == [(write_topic, "wrong portal id")]
