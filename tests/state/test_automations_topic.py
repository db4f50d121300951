"""Rule changes reach the automations replicas on a compacted topic of the real broker."""

from __future__ import annotations

import json

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas.automation_messages import AutomationChanged
from schemas.topics import Topics
from services.state.bootstrap import build_state
from tests.state.automation_bodies import rule
from tests.state.conftest import fast_settings
from tests.support.buses import KafkaKit

pytestmark = pytest.mark.kafka


async def _cleanup_policy(bootstrap: str, topic: str) -> str:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (response,) = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, configs={"cleanup.policy": None})]
        )
    finally:
        await admin.close()
    ((error, _message, _type, _name, entries),) = response.resources
    assert error == 0
    policies = {entry[0]: entry[1] for entry in entries}
    return str(policies["cleanup.policy"])


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
