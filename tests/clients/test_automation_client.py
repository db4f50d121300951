"""The client's automation methods, async and sync, against the live state service."""

from __future__ import annotations

import uuid

import httpx
import pytest

from schemas.automations import (
    AutomationCreate,
    AutomationFilter,
    AutomationFilterCriteria,
    AutomationTagsFilter,
    AutomationUpdate,
)
from services.client import (
    ApiError,
    AutomationNotFound,
    CancelbusClient,
    SyncCancelbusClient,
)
from services.client.calls import Call, check
from tests.clients.stack import LiveStack
from tests.state.automation_bodies import rule


def _rule(name: str, **overrides: object) -> AutomationCreate:
    return AutomationCreate.model_validate(rule(name, **overrides))


async def test_async_client_manages_automations(stack: LiveStack) -> None:
    tag = uuid.uuid4().hex
    async with CancelbusClient(stack.api_url) as client:
        created = await client.create_automation(_rule("cancel-etl", tags=[tag]))
        assert created.enabled
        assert created.trigger.id != uuid.UUID(rule()["trigger"]["id"])  # the server's id
        read = await client.read_automation(created.id)
        assert read == created

        await client.create_automation(_rule("another", tags=[tag]))
        criteria = AutomationFilterCriteria(tags=AutomationTagsFilter(all_=[tag]))
        assert await client.count_automations(criteria) == 2
        found = await client.read_automations(AutomationFilter(automations=criteria))
        assert [a.name for a in found] == ["another", "cancel-etl"]  # by name
        assert [a.id for a in await client.read_automations_by_name("cancel-etl")] == [created.id]

        await client.pause_automation(created.id)
        assert not (await client.read_automation(created.id)).enabled
        await client.resume_automation(created.id)
        assert (await client.read_automation(created.id)).enabled

        replacement = AutomationUpdate.model_validate(rule("renamed", tags=[tag], enabled=False))
        await client.replace_automation(created.id, replacement)
        renamed = await client.read_automation(created.id)
        assert (renamed.name, renamed.enabled) == ("renamed", False)

        await client.delete_automation(created.id)
        with pytest.raises(AutomationNotFound) as missing:
            await client.read_automation(created.id)
        assert str(missing.value) == f"automation {created.id} not found"
        with pytest.raises(AutomationNotFound):
            await client.delete_automation(created.id)
        assert await client.count_automations(criteria) == 1


def test_sync_client_manages_automations(stack: LiveStack) -> None:
    with SyncCancelbusClient(stack.api_url) as client:
        created = client.create_automation(_rule("nightly-guard"))
        assert client.read_automations_by_name("nightly-guard") == [created]
        client.pause_automation(created.id)
        assert not client.read_automation(created.id).enabled
        assert client.count_automations() == 1
        client.delete_automation(created.id)
        assert client.read_automations() == []
        with pytest.raises(AutomationNotFound):
            client.pause_automation(uuid.uuid4())


def test_a_refused_automation_names_the_field(stack: LiveStack) -> None:
    """What the service answers to a bad rule, read as the client reads every answer."""
    body = rule("bad")
    del body["trigger"]["posture"]
    answer = httpx.post(f"{stack.api_url}/automations/", json=body)
    with pytest.raises(ApiError) as refused:
        check(Call("POST", "automations/", lambda _body: None), answer)
    assert refused.value.status_code == 422
    assert "trigger.event.posture: Field required" in str(refused.value)
