"""Rule changes reach the automations replicas on a compacted topic of the real broker."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import UnknownTopicOrPartitionError

from schemas.automation_messages import AutomationChanged
from schemas.topics import Topics
from services.state.bootstrap import build_state
from tests.state.automation_bodies import rule
from tests.state.conftest import fast_settings
from tests.support.buses import KafkaKit

pytestmark = pytest.mark.kafka


async def _settings(bootstrap: str, topic: str) -> dict[str, str]:
    """The topic's settings, once the broker knows the topic (it may have just been made)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        async with asyncio.timeout(30):
            while True:
                (response,) = await admin.describe_configs(
                    [ConfigResource(ConfigResourceType.TOPIC, topic)]
                )
                ((error, _message, _type, _name, entries),) = response.resources
                if error != UnknownTopicOrPartitionError.errno:
                    break
                await asyncio.sleep(0.1)
    finally:
        await admin.close()
    assert error == 0
    return {entry[0]: entry[1] for entry in entries}


async def _cleanup_policy(bootstrap: str, topic: str) -> str:
    return (await _settings(bootstrap, topic))["cleanup.policy"]


async def test_a_created_rule_is_published_on_a_compacted_topic(
    kafka_kit: KafkaKit, sqlite_url: str
) -> None:
    runtime = build_state(fast_settings(sqlite_url), kafka_kit.make_bus("state"))
    async with runtime.running():
        transport = httpx.ASGITransport(app=runtime.app())
        async with httpx.AsyncClient(transport=transport, base_url="http://cancelbus") as api:
            created = (await api.post("/api/automations/", json=rule())).json()
            records = await kafka_kit.read(Topics.AUTOMATIONS, until=bool, within=30)

    (record,) = records
    assert record.key == created["id"].encode()
    message = AutomationChanged.model_validate(json.loads(record.value))
    assert message.automation is not None
    assert message.automation.model_dump(mode="json") == created

    prefix = kafka_kit.prefix
    assert await _cleanup_policy(kafka_kit.bootstrap, prefix + Topics.AUTOMATIONS) == "compact"
    # the other topics keep their history: a run's messages are not replaced by its latest
    assert await _cleanup_policy(kafka_kit.bootstrap, prefix + Topics.DEAD_LETTERS) == "delete"


async def test_a_topic_left_uncompacted_is_compacted_keeping_its_settings(
    kafka_kit: KafkaKit, sqlite_url: str
) -> None:
    """As an older version, or an operator by hand, may have created it."""
    topic = kafka_kit.prefix + Topics.AUTOMATIONS
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_kit.bootstrap)
    await admin.start()
    try:
        settings = {"cleanup.policy": "delete", "retention.ms": "3600000"}
        await admin.create_topics([NewTopic(topic, 1, 1, topic_configs=settings)])
    finally:
        await admin.close()
    assert await _cleanup_policy(kafka_kit.bootstrap, topic) == "delete"

    runtime = build_state(fast_settings(sqlite_url), kafka_kit.make_bus("state"))
    async with runtime.running():
        pass

    # the broker applies a change of settings a moment after it answers
    async with asyncio.timeout(30):
        while True:
            settings = await _settings(kafka_kit.bootstrap, topic)
            if settings["cleanup.policy"] == "compact":
                break
            await asyncio.sleep(0.1)
    assert settings["retention.ms"] == "3600000"
