"""The client's automation methods, async and sync, against the live state service."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from schemas.automations import (
    AutomationCreate,
    AutomationFilter,
    AutomationFilterCriteria,
    AutomationTagsFilter,
    AutomationUpdate,
    FiringOutcome,
)
from schemas.events import Event
from schemas.topics import Topics
from services.client import (
    ApiError,
    AutomationNotFound,
    CancelbusClient,
    Completed,
    Running,
    SyncCancelbusClient,
)
from services.client.calls import Call, check
from services.transport.memory import InMemoryBus
from tests.clients.firings import fire, kept
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


def test_firings_preview_and_events(stack: LiveStack) -> None:
    tag = uuid.uuid4().hex
    with SyncCancelbusClient(stack.api_url) as client:
        # no worker serves "elsewhere": a cancelled run stays CANCELLING
        running = client.create_flow_run(
            "etl", tags=["etl", tag], state=Running(), infrastructure_pid="elsewhere:1"
        )
        client.create_flow_run("done", tags=["etl", tag], state=Completed())
        client.create_flow_run("untagged", state=Running(), infrastructure_pid="elsewhere:2")
        rule_body = _rule("cancel-etl")
        would = client.preview(rule_body)
        assert (would.flow_run_ids, would.matched) == ([running.id], 1)
        assert client.read_automations() == []  # a dry run creates nothing

        guard = client.create_automation(rule_body)
        ref = fire(stack, guard.id, running.id)
        [acted] = kept(client, guard.id, 1)
        assert (acted.firing_id, acted.flow_run_id, acted.outcome) == (
            ref.firing_id,
            running.id,
            FiringOutcome.ACTED,
        )
        [attempt] = client.cancellation_history(running.id)
        assert attempt.requested_by == f"automation:{guard.id}"
        fire(stack, guard.id, running.id)  # already cancelling: nothing to do
        newest, _ = kept(client, guard.id, 2)
        assert newest.outcome is FiringOutcome.NOTHING_TO_DO
        assert client.firings(guard.id, limit=1) == [newest]
        assert client.preview(rule_body).flow_run_ids == []  # CANCELLING is not Running

        event = Event(
            event="acme.data.stale",
            resource={"prefect.resource.id": f"prefect.flow-run.{running.id}"},
            payload={"table": "orders"},
        )
        client.send_event(event)
    assert stack.runtime is not None
    bus = stack.runtime.bus
    assert isinstance(bus, InMemoryBus)
    # heartbeats share the topic
    [record] = [
        r for r in bus.messages(Topics.EVENTS) if json.loads(r.value)["id"] == str(event.id)
    ]
    assert record.key == str(running.id).encode()
    with SyncCancelbusClient(stack.api_url) as client, pytest.raises(ApiError) as refused:
        client.send_event(Event.model_construct(event="x", resource={}, related=[], payload={}))
    assert refused.value.status_code == 422
