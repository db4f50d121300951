"""`POST /api/events`: producers' events by HTTP land on `cancelbus.events` (the real topic on
Kafka), keyed by the run they are about; a bad one is a 422 naming the field."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from schemas.events import Event
from schemas.infrastructure import InfrastructureKind
from schemas.messages import WorkerHeartbeat
from schemas.topics import Topics
from services.state.api.event_intake import EventIntake
from services.transport import Record
from tests.state.conftest import StateHarness


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Events go to the bus, not the database: one database will do."""
    return sqlite_url


def prefect_event(name: str, resource_id: str, **fields: Any) -> dict[str, Any]:
    """An event as Prefect's clients write one."""
    return {
        "occurred": (datetime.now(UTC) - timedelta(seconds=3)).isoformat(),
        "event": name,
        "resource": {"prefect.resource.id": resource_id},
        "id": str(uuid4()),
        **fields,
    }


def on_topic(records: list[Record], ids: list[UUID]) -> dict[UUID, tuple[Record, Event]]:
    found = {}
    for record in records:
        if b'"cancelbus.Event"' in record.value:
            event = Event.model_validate_json(record.value)
            if event.id in ids:
                found[event.id] = (record, event)
    return found


async def test_posted_events_land_on_the_topic_keyed_by_their_run(state: StateHarness) -> None:
    run_id = uuid4()
    about_a_run = prefect_event(
        "acme.quota.exceeded",
        "acme.tenant.42",
        related=[
            {
                "prefect.resource.id": f"prefect.flow-run.{run_id}",
                "prefect.resource.role": "flow-run",
            }
        ],
        payload={"used": 120, "limit": 100},
        received="2026-01-01T00:00:00Z",  # Prefect's server-side field: ignored
    )
    about_a_tenant = prefect_event("acme.tenant.paused", "acme.tenant.43")

    one = await state.api.post("/api/events", json=about_a_run)
    many = await state.api.post("/api/events", json=[about_a_tenant, prefect_event("x.y", "z")])

    assert (one.status_code, many.status_code) == (202, 202)
    assert one.json() == [about_a_run["id"]]
    assert many.json()[0] == about_a_tenant["id"]
    ids = [UUID(about_a_run["id"]), UUID(about_a_tenant["id"])]
    records = await state.records(Topics.EVENTS, until=lambda rs: len(on_topic(rs, ids)) == 2)
    found = on_topic(records, ids)
    record, event = found[ids[0]]
    assert record.key == str(run_id).encode()
    assert event.occurred_at == datetime.fromisoformat(about_a_run["occurred"])
    assert (event.event, event.payload) == ("acme.quota.exceeded", {"used": 120, "limit": 100})
    assert event.flow_run_id() == run_id
    assert found[ids[1]][0].key == b"acme.tenant.43"


async def test_a_bad_event_is_422_naming_the_field_and_nothing_is_published(
    state: StateHarness,
) -> None:
    no_id = prefect_event("acme.bad", "acme.tenant.44")
    no_id["resource"] = {"prefect.resource.name": "nameless"}
    no_role = prefect_event(
        "acme.bad", "acme.tenant.44", related=[{"prefect.resource.id": "prefect.tag.x"}]
    )
    good = prefect_event("acme.good", "acme.tenant.44")

    missing_id = await state.api.post("/api/events", json=no_id)
    one_bad_of_two = await state.api.post("/api/events", json=[good, no_role])
    nameless = await state.api.post("/api/events", json={"resource": good["resource"]})
    not_json = await state.api.post(
        "/api/events", content=b"{nope", headers={"content-type": "application/json"}
    )
    too_deep = await state.api.post(
        "/api/events", content=b"[" * 100_000, headers={"content-type": "application/json"}
    )
    too_many = await state.api.post("/api/events", json=[no_id] * 1001)
    too_large = await state.api.post(
        "/api/events", json=prefect_event("acme.big", "acme.tenant.44", payload={"x": "y" * 2**20})
    )

    assert missing_id.status_code == 422
    [error] = missing_id.json()["detail"]
    assert error["loc"] == ["body", "resource"]
    assert "prefect.resource.id" in error["msg"]
    assert one_bad_of_two.status_code == 422
    assert [e["loc"] for e in one_bad_of_two.json()["detail"]] == [["body", 1, "related"]]
    assert nameless.status_code == 422
    assert ["body", "event"] in [e["loc"] for e in nameless.json()["detail"]]
    assert not_json.status_code == 422
    assert too_deep.status_code == 422
    assert too_many.status_code == 422
    assert "at most 1000 events" in too_many.json()["detail"]
    assert too_large.status_code == 413
    assert "bytes" in too_large.json()["detail"]

    # a good one after them, on the same partition: the bad ones are not before it
    accepted = await state.api.post("/api/events", json=good)
    assert accepted.status_code == 202
    ids = [UUID(good["id"])]
    records = await state.records(Topics.EVENTS, until=lambda rs: bool(on_topic(rs, ids)))
    names = [json.loads(r.value).get("event") for r in records if r.key == b"acme.tenant.44"]
    assert names == ["acme.good"]


async def test_bad_events_published_straight_to_the_topic_break_nothing(
    state: StateHarness,
) -> None:
    beat = WorkerHeartbeat(
        worker=f"w-{uuid4().hex[:6]}",
        kind=InfrastructureKind.PROCESS,
        scope="myhost",
        version="1",
        interval_seconds=5,
    )
    # on the heartbeat's partition, ahead of it: not JSON, not an Event, an event of no run
    for value in (b"{nope", b'{"schema_name": "cancelbus.Event", "event": 5}', b"[]"):
        await state.bus.publish(Topics.EVENTS, beat.key, value)
    event = Event(event="acme.anything", resource={"prefect.resource.id": "acme.x"})
    await state.bus.publish(Topics.EVENTS, beat.key, event.model_dump_json().encode())
    await state.publish(beat)

    async def seen() -> bool:
        workers = (await state.api.get("/api/workers")).json()
        return any(w["worker"] == beat.worker for w in workers)

    deadline = asyncio.get_running_loop().time() + 15
    while not await seen():  # polled: a heartbeat is recorded, nothing is published for it
        assert asyncio.get_running_loop().time() < deadline, "the heartbeat was not recorded"
        await asyncio.sleep(0.05)
    letters = await state.kit.published(Topics.DEAD_LETTERS)
    assert [r for r in letters if r.key == beat.key.encode()] == []  # not the state service's
    assert (await state.api.get("/api/health")).json() is True


class UnreachableBus:
    """A bus whose broker cannot be reached: every publish fails."""

    async def publish_many(self, messages: Sequence[object]) -> None:
        raise ConnectionError("broker unreachable")


async def test_events_the_bus_does_not_take_are_a_503_with_the_reason(
    state: StateHarness,
) -> None:
    app = state.runtime.app()
    app.state.event_intake = EventIntake(UnreachableBus(), max_message_bytes=1024)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cancelbus") as api:
        response = await api.post("/api/events", json=prefect_event("acme.x", "acme.y"))

    assert response.status_code == 503
    assert "broker unreachable" in response.json()["detail"]
