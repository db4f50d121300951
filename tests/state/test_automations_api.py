"""Prefect 3.9.1's automations API as its client calls it, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import httpx
import pytest

from schemas.topics import Topics
from services.state.bootstrap import build_state
from services.transport.memory import InMemoryBus
from tests.state.automation_bodies import FIXED_TRIGGER_ID, compound_rule, rule
from tests.state.conftest import fast_settings

Json = Any


@dataclass
class Api:
    http: httpx.AsyncClient
    bus: InMemoryBus

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post("/api/automations/", json=body)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def get(self, automation_id: str) -> httpx.Response:
        return await self.http.get(f"/api/automations/{automation_id}")

    async def names(self, **body: Json) -> list[str]:
        response = await self.http.post("/api/automations/filter", json=body)
        assert response.status_code == 200, response.text
        return [a["name"] for a in response.json()]

    async def changes(self, count: int) -> list[tuple[str, Json]]:
        """The first `count` AutomationChanged on the topic: (key, automation or None)."""
        for _ in range(500):
            records = self.bus.messages(Topics.AUTOMATIONS)
            if len(records) >= count:
                break
            await asyncio.sleep(0.01)
        assert len(records) == count, f"{len(records)} changes published, not {count}"
        return [(str(r.key and r.key.decode()), json.loads(r.value)["automation"]) for r in records]


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    bus = InMemoryBus()
    runtime = build_state(fast_settings(database_url), bus)
    async with runtime.running():
        transport = httpx.ASGITransport(app=runtime.app())
        async with httpx.AsyncClient(transport=transport, base_url="http://cancelbus") as http:
            yield Api(http, bus)


async def test_create_answers_the_automation_with_new_trigger_ids(api: Api) -> None:
    created = await api.create(rule())
    assert created["name"] == "cancel-long-etl"
    assert (created["enabled"], created["tags"], created["owner_resource"]) == (True, ["etl"], None)
    assert created["created"] == created["updated"]
    trigger = created["trigger"]
    assert trigger["id"] != FIXED_TRIGGER_ID
    assert trigger["within"] == 0.0  # seconds, as a float, as Prefect answers
    assert (trigger["posture"], trigger["threshold"], trigger["for_each"]) == ("Reactive", 1, [])
    assert created["actions"] == [{"type": "cancel-flow-run"}]
    assert (created["actions_on_trigger"], created["actions_on_resolve"]) == ([], [])
    read = await api.get(created["id"])
    assert read.status_code == 200
    assert read.json() == created

    compound = (await api.create(compound_rule()))["trigger"]
    ids = {compound["id"], *(child["id"] for child in compound["triggers"])}
    assert len(ids) == 3
    assert FIXED_TRIGGER_ID not in ids
    assert compound["within"] == 60.0


async def test_put_replaces_the_fields_given_with_new_trigger_ids(api: Api) -> None:
    created = await api.create(rule(tags=["etl", "nightly"]))
    body = rule("renamed", description="now with a threshold")
    body["trigger"] = {**body["trigger"], "threshold": 3, "within": 60}
    del body["tags"]  # not given: kept, as Prefect keeps it
    put = await api.http.put(f"/api/automations/{created['id']}", json=body)
    assert put.status_code == 204, put.text
    assert put.content == b""
    read = (await api.get(created["id"])).json()
    assert (read["name"], read["description"], read["tags"]) == (
        "renamed",
        "now with a threshold",
        ["etl", "nightly"],
    )
    assert (read["trigger"]["threshold"], read["trigger"]["within"]) == (3, 60.0)
    assert read["trigger"]["id"] not in (created["trigger"]["id"], FIXED_TRIGGER_ID)
    assert read["created"] == created["created"]
    assert read["updated"] > created["updated"]

    missing = await api.http.put(f"/api/automations/{uuid4()}", json=rule())
    assert missing.status_code == 404
    assert "not found" in missing.json()["detail"]


async def test_patch_pauses_and_resumes(api: Api) -> None:
    created = await api.create(rule())
    paused = await api.http.patch(f"/api/automations/{created['id']}", json={"enabled": False})
    assert paused.status_code == 204
    assert (await api.get(created["id"])).json()["enabled"] is False
    resumed = await api.http.patch(f"/api/automations/{created['id']}", json={"enabled": True})
    assert resumed.status_code == 204
    assert (await api.get(created["id"])).json()["enabled"] is True

    missing = await api.http.patch(f"/api/automations/{uuid4()}", json={"enabled": False})
    assert missing.status_code == 404
    extra = await api.http.patch(f"/api/automations/{created['id']}", json={"name": "x"})
    assert extra.status_code == 422
    assert extra.json()["detail"][0]["loc"] == ["body", "name"]


async def test_delete_then_it_is_gone(api: Api) -> None:
    created = await api.create(rule())
    deleted = await api.http.delete(f"/api/automations/{created['id']}")
    assert deleted.status_code == 204
    assert (await api.get(created["id"])).status_code == 404
    again = await api.http.delete(f"/api/automations/{created['id']}")
    assert again.status_code == 404
    assert again.json() == {"detail": f"Automation {created['id']} not found"}
    # as Prefect's `{id:uuid}` routes: no automation has another id
    assert (await api.get("not-a-uuid")).status_code == 404


async def test_every_change_is_published_for_the_replicas(api: Api) -> None:
    first = await api.create(rule("first"))
    second = await api.create(rule("second", owner_resource="prefect.deployment.d1"))
    await api.http.patch(f"/api/automations/{first['id']}", json={"enabled": False})
    await api.http.put(f"/api/automations/{first['id']}", json=rule("first, again"))
    await api.http.delete(f"/api/automations/{first['id']}")
    owned = await api.http.delete("/api/automations/owned-by/prefect.deployment.d1")
    assert owned.status_code == 202
    changes = await api.changes(6)
    keys = [key for key, _ in changes]
    assert keys == [first["id"], second["id"], *[first["id"]] * 3, second["id"]]
    published = [a and (a["name"], a["enabled"]) for _, a in changes]
    assert published == [
        ("first", True),
        ("second", True),
        ("first", False),
        ("first, again", False),
        None,
        None,
    ]
    assert changes[0][1] == first  # the automation as the API answers it


async def test_filter_sorts_pages_and_selects(api: Api) -> None:
    made = [
        await api.create(rule("bravo", tags=["etl", "nightly"])),
        await api.create(rule("alpha", tags=["etl"])),
        await api.create(rule("charlie", tags=[])),
    ]
    # as `prefect automation ls` asks: nulls for the server's defaults
    assert await api.names(sort=None, limit=None, offset=0, automations=None) == [
        "alpha",
        "bravo",
        "charlie",
    ]
    assert await api.names(sort="NAME_DESC") == ["charlie", "bravo", "alpha"]
    assert await api.names(sort="CREATED_DESC") == ["charlie", "alpha", "bravo"]
    await api.http.patch(f"/api/automations/{made[0]['id']}", json={"enabled": False})
    assert (await api.names(sort="UPDATED_DESC"))[0] == "bravo"
    assert await api.names(limit=1, offset=1) == ["bravo"]
    assert await api.names(limit=0) == []

    def where(**criteria: Json) -> dict[str, Json]:
        return {"automations": criteria}

    assert await api.names(**where(name={"any_": ["alpha", "zulu"]})) == ["alpha"]
    assert await api.names(**where(tags={"all_": ["etl", "nightly"]})) == ["bravo"]
    assert await api.names(**where(tags={"any_": ["nightly", "etl"]})) == ["alpha", "bravo"]
    assert await api.names(**where(tags={"any_": []})) == []
    assert await api.names(**where(tags={"is_null_": True})) == ["charlie"]
    assert await api.names(**where(tags={"is_null_": False})) == ["alpha", "bravo"]
    before = made[1]["created"]
    assert await api.names(**where(created={"before_": before})) == ["alpha", "bravo"]
    assert await api.names(**where(id={"any_": [made[1]["id"], str(uuid4())]})) == ["alpha"]
    either = where(operator="or_", name={"any_": ["alpha"]}, tags={"is_null_": True})
    assert await api.names(**either) == ["alpha", "charlie"]
    either_tag = where(tags={"operator": "or_", "all_": ["nightly"], "is_null_": True})
    assert await api.names(**either_tag) == ["bravo", "charlie"]
    # Prefect's client sends the operator and unset criteria as nulls
    assert await api.names(**where(operator="and_", name=None, id=None, tags=None)) == [
        "alpha",
        "bravo",
        "charlie",
    ]

    count = await api.http.post("/api/automations/count")
    assert (count.status_code, count.json()) == (200, 3)
    tagged = await api.http.post("/api/automations/count", json=where(tags={"all_": ["etl"]}))
    assert tagged.json() == 2

    too_many = await api.http.post("/api/automations/filter", json={"limit": 201})
    assert too_many.status_code == 422
    bad_sort = await api.http.post("/api/automations/filter", json={"sort": "ID_DESC"})
    assert bad_sort.status_code == 422
    assert bad_sort.json()["detail"][0]["loc"] == ["body", "sort"]


async def test_related_to_and_owned_by_a_resource(api: Api) -> None:
    owner = "prefect.deployment.2f0c7c0e"
    owned = [
        await api.create(rule("owned-b", owner_resource=owner)),
        await api.create(rule("owned-a", owner_resource=owner)),
    ]
    other = await api.create(rule("other", owner_resource="prefect.deployment.other"))
    plain = await api.create(rule("plain"))

    related = await api.http.get(f"/api/automations/related-to/{owner}")
    assert related.status_code == 200
    assert [a["name"] for a in related.json()] == ["owned-a", "owned-b"]
    assert related.json()[0]["owner_resource"] == owner
    assert (await api.http.get("/api/automations/related-to/nothing")).json() == []

    deleted = await api.http.delete(f"/api/automations/owned-by/{owner}")
    assert deleted.status_code == 202
    for automation in owned:
        assert (await api.get(automation["id"])).status_code == 404
    for automation in (other, plain):
        assert (await api.get(automation["id"])).status_code == 200
    nothing = await api.http.delete("/api/automations/owned-by/prefect.deployment.none")
    assert nothing.status_code == 202


async def _refused(api: Api, body: Json) -> list[dict[str, Any]]:
    response = await api.http.post("/api/automations/", json=body)
    assert response.status_code == 422, response.text
    errors: list[dict[str, Any]] = response.json()["detail"]
    return errors


async def test_invalid_rules_get_422_naming_the_field(api: Api) -> None:
    no_posture = rule()
    del no_posture["trigger"]["posture"]
    (error,) = await _refused(api, no_posture)
    assert error["loc"] == ["body", "trigger", "event", "posture"]
    assert error["msg"] == "Field required"

    short = rule()
    short["trigger"] = {**short["trigger"], "posture": "Proactive", "within": 5}
    (error,) = await _refused(api, short)
    assert error["loc"] == ["body", "trigger", "event"]
    assert "at least 10 seconds" in error["msg"]

    (error,) = await _refused(api, rule(trigger={**rule()["trigger"], "threshold": -1}))
    assert error["loc"] == ["body", "trigger", "event", "threshold"]

    (error,) = await _refused(api, rule(trigger={"type": "metric", "posture": "Reactive"}))
    assert error["loc"] == ["body", "trigger"]
    assert "unsupported trigger type 'metric'" in error["msg"]

    (error,) = await _refused(api, rule(unknown_key=1))
    assert (error["loc"], error["type"]) == (["body", "unknown_key"], "extra_forbidden")

    (error,) = await _refused(api, rule(actions=[]))
    assert error["loc"] == ["body", "actions"]

    bad_state = [{"type": "change-flow-run-state", "state": "SLEEPING"}]
    (error,) = await _refused(api, rule(actions=bad_state))
    assert error["loc"] == ["body", "actions", 0, "change-flow-run-state", "state"]

    put = await api.http.put(f"/api/automations/{uuid4()}", json=rule(name=""))
    assert put.status_code == 422
    assert put.json()["detail"][0]["loc"] == ["body", "name"]
    assert await api.names() == []


async def test_unknown_action_types_get_422_saying_which_are_supported(api: Api) -> None:
    notify = {"type": "send-notification", "block_document_id": str(uuid4()), "body": "hi"}
    (error,) = await _refused(api, rule(actions=[{"type": "cancel-flow-run"}, notify]))
    assert error["loc"] == ["body", "actions", 1]
    assert error["msg"] == (
        "unsupported action type 'send-notification': "
        "supported are 'cancel-flow-run', 'change-flow-run-state'"
    )
    (error,) = await _refused(api, rule(actions_on_resolve=[{"type": "run-deployment"}]))
    assert error["loc"] == ["body", "actions_on_resolve", 0]
    assert "unsupported action type 'run-deployment'" in error["msg"]
    assert await api.names() == []
