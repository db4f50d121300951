"""Bad input loses nothing: dead letters with reasons on the bus, 4xx with reasons from the API."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from schemas.infrastructure import InfrastructureKind
from schemas.messages import (
    CancelFlowRun,
    CancellationOutcome,
    CancellationResult,
    CancellationTimedOut,
    Message,
)
from schemas.states import StateType
from schemas.topics import Topics
from services.transport import Record
from tests.state.conftest import StateHarness
from tests.state.test_cancellation import cancel_via_rest

CONSUMED = [Topics.COMMANDS, Topics.CANCEL_RESULTS, Topics.TIMED_OUT]
SCHEMA_NAMES = {
    Topics.COMMANDS: "cancelbus.CancelFlowRun",
    Topics.CANCEL_RESULTS: "cancelbus.CancellationResult",
    Topics.TIMED_OUT: "cancelbus.CancellationTimedOut",
}


def reason(record: Record) -> str:
    return dict(record.headers)["cancelbus-dlq-reason"].decode()


def _unknown_result() -> Message:
    now = datetime.now(UTC)
    return CancellationResult(
        flow_run_id=uuid4(),
        request_id=uuid4(),
        state_id=uuid4(),
        outcome=CancellationOutcome.CANCELLED,
        worker="w",
        kind=InfrastructureKind.PROCESS,
        started_at=now,
        finished_at=now,
    )


UNKNOWN_RUN: dict[str, Callable[[], Message]] = {
    Topics.COMMANDS: lambda: CancelFlowRun(flow_run_id=uuid4()),
    Topics.CANCEL_RESULTS: _unknown_result,
    Topics.TIMED_OUT: lambda: CancellationTimedOut(
        flow_run_id=uuid4(), state_id=uuid4(), cancelling_since=datetime.now(UTC), timeout_seconds=1
    ),
}


def bad_payloads(topic: Topics) -> dict[str, bytes]:
    valid_command = {
        "schema_name": SCHEMA_NAMES[topic],
        "schema_version": 1,
        "flow_run_id": str(uuid4()),
    }
    return {
        "malformed": b'{"schema_name": "cancelbus.CancelFlowRun", ',
        "wrong_version": json.dumps({**valid_command, "schema_version": 2}).encode(),
        "missing_field": json.dumps(
            {k: v for k, v in valid_command.items() if k != "flow_run_id"}
        ).encode(),
        "huge": b'{"pad": "' + b"x" * (10 * 1024 * 1024) + b'"}',
    }


@pytest.mark.parametrize("topic", CONSUMED)
async def test_bad_messages_are_dead_lettered_and_the_service_carries_on(
    state: StateHarness, topic: Topics
) -> None:
    run = await state.running_run()
    payloads = bad_payloads(topic)
    for name, payload in payloads.items():
        await state.bus.publish(topic, f"{name}-{run.id}", payload)
    payloads["unknown_run"] = UNKNOWN_RUN[topic]().model_dump_json().encode()
    await state.bus.publish(topic, f"unknown_run-{run.id}", payloads["unknown_run"])

    def mine(records: list[Record]) -> dict[str, Record]:
        return {
            r.key.decode().split("-", 1)[0]: r
            for r in records
            if r.key is not None
            and r.key.decode().endswith(str(run.id))
            and dict(r.headers).get("cancelbus-dlq-topic", b"").decode().endswith(topic)
        }

    records = await state.records(
        Topics.DEAD_LETTERS, until=lambda rs: len(mine(rs)) == len(payloads), within=30
    )
    letters = mine(records)
    assert set(letters) == set(payloads)
    assert "JSON" in reason(letters["malformed"]) or "json" in reason(letters["malformed"])
    assert "schema_version" in reason(letters["wrong_version"])
    assert "flow_run_id" in reason(letters["missing_field"])
    assert "too large" in reason(letters["huge"])
    assert len(letters["huge"].value) <= 64 * 1024
    assert str(json.loads(payloads["unknown_run"])["flow_run_id"]) in reason(letters["unknown_run"])
    for letter in letters.values():
        headers = dict(letter.headers)
        assert headers["cancelbus-dlq-group"] == b"cancelbus.state"
        assert int(headers["cancelbus-dlq-offset"]) >= 0

    # and the service still serves
    status, body = await cancel_via_rest(state, run.id)
    assert (status, body["status"]) == (201, "ACCEPT")


async def test_invalid_api_bodies_get_422_with_the_reason(state: StateHarness) -> None:
    run = await state.running_run()

    bad_state = await state.api.post(
        f"/api/flow_runs/{run.id}/set_state", json={"state": {"type": "EXPLODED"}}
    )
    not_json = await state.api.post(
        f"/api/flow_runs/{run.id}/set_state",
        content=b"{nope",
        headers={"content-type": "application/json"},
    )
    bad_pid = await state.api.patch(
        f"/api/flow_runs/{run.id}", json={"infrastructure_pid": "not an id"}
    )
    bad_filter = await state.api.post("/api/flow_runs/filter", json={"limit": 100000})

    assert bad_state.status_code == 422
    assert "state" in json.dumps(bad_state.json()["detail"])
    assert not_json.status_code == 422
    assert bad_pid.status_code == 422
    assert "not an infrastructure id" in bad_pid.json()["detail"]
    assert bad_filter.status_code == 422
    assert "limit" in json.dumps(bad_filter.json()["detail"])


async def test_values_longer_than_stored_get_422_not_a_server_error(
    state: StateHarness,
) -> None:
    run = await state.running_run()

    long_state_name = await state.api.post(
        f"/api/flow_runs/{run.id}/set_state",
        json={"state": {"type": "CANCELLING", "name": "x" * 65}},
    )
    long_pool = await state.api.post(
        "/api/flow_runs/", json={"name": "etl", "work_pool_name": "p" * 257}
    )

    assert long_state_name.status_code == 422
    assert "name" in json.dumps(long_state_name.json()["detail"])
    assert long_pool.status_code == 422
    assert "work_pool_name" in json.dumps(long_pool.json()["detail"])
    assert (await state.runtime.service.read_flow_run(run.id)).state_type is StateType.RUNNING


async def test_unknown_run_is_404(state: StateHarness) -> None:
    missing = uuid4()
    read = await state.api.get(f"/api/flow_runs/{missing}")
    cancel = await state.api.post(
        f"/api/flow_runs/{missing}/set_state", json={"state": {"type": "CANCELLING"}}
    )
    history = await state.api.get(f"/api/flow_runs/{missing}/cancellation")
    assert [read.status_code, cancel.status_code, history.status_code] == [404, 404, 404]
    assert read.json() == {"detail": f"Flow run {missing} not found"}
