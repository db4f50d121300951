"""Cancelling a run end to end through the state service, on a real bus and database."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from aiokafka import AIOKafkaProducer

from schemas.flow_runs import FlowRunCreate
from schemas.history import CancellationAttempt
from schemas.infrastructure import InfrastructureKind
from schemas.messages import (
    CancelFlowRun,
    CancellationOutcome,
    CancellationRequested,
    CancellationResult,
)
from schemas.states import StateType
from schemas.topics import Topics
from services.state import rules
from services.transport import Record
from tests.state.conftest import StateHarness
from tests.support.buses import KafkaKit


def requests_for(records: list[Record], run_id: UUID) -> list[CancellationRequested]:
    found = [CancellationRequested.model_validate_json(r.value) for r in records]
    return [m for m in found if m.flow_run_id == run_id]


def requests_at_least(run_id: UUID, count: int) -> Callable[[list[Record]], bool]:
    return lambda records: len(requests_for(records, run_id)) >= count


def result_for(
    request: CancellationRequested | CancellationAttempt,
    outcome: CancellationOutcome,
    worker: str = "test-worker",
) -> CancellationResult:
    """A worker's answer to a request (as published, or as the run's history keeps it)."""
    now = datetime.now(UTC)
    return CancellationResult(
        flow_run_id=request.flow_run_id,
        request_id=request.id,
        state_id=request.state_id,
        attempt=request.attempt,
        outcome=outcome,
        worker=worker,
        kind=InfrastructureKind.PROCESS,
        started_at=now,
        finished_at=now,
    )


async def cancel_via_rest(state: StateHarness, run_id: UUID) -> tuple[int, dict[str, Any]]:
    response = await state.api.post(
        f"/api/flow_runs/{run_id}/set_state",
        json={"state": {"type": "CANCELLING", "message": "user asked"}, "force": False},
    )
    return response.status_code, response.json()


async def test_cancel_running_run_requests_once_and_result_cancels(state: StateHarness) -> None:
    run = await state.running_run("myhost:4242")
    status, body = await cancel_via_rest(state, run.id)
    assert status == 201
    assert body["status"] == "ACCEPT"
    assert body["state"]["type"] == "CANCELLING"

    # a repeated request: same answer, no second event
    status, again = await cancel_via_rest(state, run.id)
    assert (status, again["status"], again["state"]["id"]) == (200, "ACCEPT", body["state"]["id"])

    records = await state.records(
        Topics.CANCEL_REQUESTED, until=lambda rs: bool(requests_for(rs, run.id))
    )
    [request] = requests_for(records, run.id)
    [record] = [r for r in records if r.key == str(run.id).encode()]
    assert request.infrastructure.kind is InfrastructureKind.PROCESS
    assert request.infrastructure.id == "4242"
    assert str(request.state_id) == body["state"]["id"]
    assert request.grace_seconds == 30.0
    assert record.key == str(run.id).encode()

    result = result_for(request, CancellationOutcome.CANCELLED)
    await state.publish(result)
    cancelled = await state.wait_state(run.id, StateType.CANCELLED)

    # a duplicate of the same result, and a stale one for the old state, change nothing
    await state.publish(result)
    await state.publish(result_for(request, CancellationOutcome.FAILED))
    await state.barrier(Topics.CANCEL_RESULTS, run.id)
    after = await state.runtime.service.read_flow_run(run.id)
    assert after.state == cancelled.state
    history = await state.runtime.service.cancellation_history(run.id)
    assert [(h.attempt, h.outcome, h.worker) for h in history] == [(1, "cancelled", "test-worker")]


async def test_cancelling_a_terminal_run_aborts_with_the_reason(state: StateHarness) -> None:
    run = await state.running_run()
    response = await state.api.post(
        f"/api/flow_runs/{run.id}/set_state", json={"state": {"type": "COMPLETED"}}
    )
    assert response.status_code == 201

    status, body = await cancel_via_rest(state, run.id)

    assert status == 200
    assert body["status"] == "ABORT"
    assert body["details"] == {
        "type": "abort_details",
        "reason": "Run is already in terminal state COMPLETED.",
    }
    assert (await state.runtime.service.read_flow_run(run.id)).state_type is StateType.COMPLETED


async def test_run_without_infrastructure_is_cancelled_at_once(state: StateHarness) -> None:
    run = await state.running_run(infrastructure_pid=None)

    status, body = await cancel_via_rest(state, run.id)

    assert (status, body["status"]) == (201, "ACCEPT")
    assert body["state"]["type"] == "CANCELLED"
    assert body["state"]["message"] == rules.CANNOT_BE_ENFORCED
    assert "cannot be enforced" in body["state"]["message"]
    stored = await state.runtime.service.read_flow_run(run.id)
    assert stored.state_type is StateType.CANCELLED


async def test_launcher_proposing_running_for_a_cancelling_run_is_refused(
    state: StateHarness,
) -> None:
    run = await state.running_run()
    await cancel_via_rest(state, run.id)

    response = await state.api.post(
        f"/api/flow_runs/{run.id}/set_state", json={"state": {"type": "RUNNING"}}
    )

    assert response.json()["status"] == "REJECT"
    assert response.json()["state"]["type"] == "CANCELLING"


async def test_cancel_command_does_what_the_rest_call_does(state: StateHarness) -> None:
    run = await state.running_run("otherhost:77")

    await state.publish(CancelFlowRun(flow_run_id=run.id, reason="nightly stop", grace_seconds=5))

    await state.wait_state(run.id, StateType.CANCELLING)
    records = await state.records(
        Topics.CANCEL_REQUESTED, until=lambda rs: bool(requests_for(rs, run.id))
    )
    [request] = requests_for(records, run.id)
    assert (request.reason, request.grace_seconds) == ("nightly stop", 5.0)
    history = await state.runtime.service.cancellation_history(run.id)
    assert [(h.reason, h.outcome) for h in history] == [("nightly stop", None)]


async def test_command_from_a_plain_kafka_producer(state: StateHarness) -> None:
    if not isinstance(state.kit, KafkaKit):
        return  # the wire format from outside matters on Kafka only
    run = await state.running_run("otherhost:78")
    producer = AIOKafkaProducer(bootstrap_servers=state.kit.bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        command = {
            "schema_name": "cancelbus.CancelFlowRun",
            "schema_version": 1,
            "id": str(uuid4()),
            "occurred_at": datetime.now(UTC).isoformat(),
            "flow_run_id": str(run.id),
            "reason": "from a producer",
        }
        await producer.send_and_wait(
            state.kit.prefix + Topics.COMMANDS,
            json.dumps(command).encode(),
            key=str(run.id).encode(),
        )
    finally:
        await producer.stop()

    cancelling = await state.wait_state(run.id, StateType.CANCELLING)
    assert cancelling.state is not None
    assert cancelling.state.message == "from a producer"


async def test_failed_attempts_are_retried_then_left_to_the_timeout(state: StateHarness) -> None:
    run = await state.running_run()
    await cancel_via_rest(state, run.id)
    max_attempts = state.runtime.settings.orchestration.max_cancel_attempts

    for attempt in range(1, max_attempts + 1):
        records = await state.records(
            Topics.CANCEL_REQUESTED, until=requests_at_least(run.id, attempt)
        )
        request = requests_for(records, run.id)[attempt - 1]
        assert request.attempt == attempt
        await state.publish(result_for(request, CancellationOutcome.FAILED))

    await state.barrier(Topics.CANCEL_RESULTS, run.id)
    history = await state.runtime.service.cancellation_history(run.id)
    assert [h.outcome for h in history] == ["failed"] * max_attempts
    assert (await state.runtime.service.read_flow_run(run.id)).state_type is StateType.CANCELLING


async def test_not_found_cancels_and_unsupported_stays_cancelling(state: StateHarness) -> None:
    gone = await state.running_run("myhost:1")
    unsupported = await state.running_run("myhost:2")
    for run in (gone, unsupported):
        await cancel_via_rest(state, run.id)
    records = await state.records(
        Topics.CANCEL_REQUESTED,
        until=lambda rs: bool(requests_for(rs, gone.id) and requests_for(rs, unsupported.id)),
    )

    await state.publish(
        result_for(requests_for(records, gone.id)[0], CancellationOutcome.NOT_FOUND)
    )
    await state.publish(
        result_for(requests_for(records, unsupported.id)[0], CancellationOutcome.UNSUPPORTED)
    )

    cancelled = await state.wait_state(gone.id, StateType.CANCELLED)
    assert cancelled.state is not None
    assert "not found" in (cancelled.state.message or "")
    await state.barrier(Topics.CANCEL_RESULTS, unsupported.id)
    stays = await state.runtime.service.read_flow_run(unsupported.id)
    assert stays.state_type is StateType.CANCELLING
    history = await state.runtime.service.cancellation_history(unsupported.id)
    assert [h.outcome for h in history] == ["unsupported"]


async def test_bulk_cancel_by_filter(state: StateHarness) -> None:
    runs = [await state.running_run(f"myhost:{100 + i}") for i in range(5)]
    done = runs[0]
    await state.api.post(f"/api/flow_runs/{done.id}/set_state", json={"state": {"type": "FAILED"}})
    other = await state.runtime.service.create_flow_run(
        FlowRunCreate(tags=["weekly"], infrastructure_pid="myhost:999")
    )

    response = await state.api.post(
        "/api/flow_runs/cancel",
        json={"flow_runs": {"tags": {"all_": ["nightly"]}}, "reason": "maintenance"},
    )

    assert response.status_code == 200
    assert response.json() == {
        "matched": 5,
        "cancelling": 4,
        "cancelled": 0,
        "already_terminal": 1,
        "already_cancelling": 0,
    }
    for run in runs[1:]:
        assert (await state.runtime.service.read_flow_run(run.id)).state_type is (
            StateType.CANCELLING
        )
    assert (await state.runtime.service.read_flow_run(other.id)).state_type is None
    records = await state.records(
        Topics.CANCEL_REQUESTED,
        until=lambda rs: all(requests_for(rs, r.id) for r in runs[1:]),
    )
    assert {m.reason for r in runs[1:] for m in requests_for(records, r.id)} == {"maintenance"}
