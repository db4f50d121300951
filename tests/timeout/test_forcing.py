"""Runs stuck in CANCELLING are forced to CANCELLED at their deadline, once, and only them."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from schemas.flow_runs import FlowRun
from schemas.messages import CancellationOutcome, CancellationRequested, CancellationTimedOut
from schemas.states import StateType
from schemas.topics import Topics
from tests.support.buses import BusKit, KafkaKit
from tests.timeout.conftest import Deployment, deploy, eventually

TIMEOUT = 2.0


async def cancel(deployment: Deployment, run_id: UUID) -> datetime:
    """Propose CANCELLING as a user would; returns when the run entered CANCELLING."""
    response = await deployment.state.api.post(
        f"/api/flow_runs/{run_id}/set_state",
        json={"state": {"type": "CANCELLING", "message": "user asked"}},
    )
    body = response.json()
    assert (body["status"], body["state"]["type"]) == ("ACCEPT", "CANCELLING")
    return datetime.fromisoformat(body["state"]["timestamp"])


async def assert_forced_once(
    deployment: Deployment, run: FlowRun, since: datetime, after: float = TIMEOUT
) -> None:
    service = deployment.state.runtime.service
    forced = await deployment.state.wait_state(run.id, StateType.CANCELLED, within=30)
    assert forced.state is not None
    assert forced.state.message is not None
    assert "Forced to CANCELLED" in forced.state.message
    assert "cancelling timeout" in forced.state.message
    assert (forced.state.timestamp - since).total_seconds() >= after - 0.01, "forced early"

    states = [s.type for s in await service.states(run.id)]
    assert states.count(StateType.CANCELLED) == 1
    history = await service.cancellation_history(run.id)
    timed_out = [a for a in history if a.outcome == "timed_out"]
    assert len(timed_out) == 1
    assert timed_out[0].requested_by == "timeout"
    teardowns = [r for r in await deployment.requests(run.id) if r.final_teardown]
    assert len(teardowns) == 1, "one last teardown request after forcing"


async def test_runs_without_a_worker_are_forced_once_even_when_a_replica_fails_over(
    kafka_kit: KafkaKit, sqlite_url: str
) -> None:
    timeout = 8.0  # room for the group to rebalance after the second replica leaves
    async with deploy(kafka_kit, sqlite_url, timeout, replicas=2) as deployment:
        first, second = (r.service for r in deployment.replicas)
        await eventually(
            lambda: (
                first.owned is not None
                and second.owned is not None
                and bool(first.owned.partitions)
                and bool(second.owned.partitions)
            )
        )
        assert second.owned is not None
        owned_by_second = second.owned
        # runs whose deadlines live in each replica (ids are random: make sure of both)
        runs: list[FlowRun] = []
        while sum(owned_by_second.owns(str(r.id)) for r in runs) < 2 or len(runs) < 5:
            runs.append(await deployment.state.running_run("nohost:4242"))
        since = {run.id: await cancel(deployment, run.id) for run in runs}
        await eventually(lambda: len(first.schedule) + len(second.schedule) == len(runs))
        assert len(second.schedule) >= 2

        # the second replica leaves: the first takes its partitions and rebuilds them
        await deployment.replicas[1].stop()
        for run in runs:
            await assert_forced_once(deployment, run, since[run.id], timeout)

        # a duplicate timeout (another replica, a redelivery) changes nothing
        [event, *_] = await deployment.timed_out(runs[0].id)
        await deployment.state.publish(event)
        await deployment.state.barrier(Topics.TIMED_OUT, runs[0].id)
        await assert_forced_once(deployment, runs[0], since[runs[0].id], timeout)


async def test_a_failing_worker_is_overruled_and_a_normal_cancel_is_left_alone(
    bus_kit: BusKit, sqlite_url: str
) -> None:
    stubborn: set[UUID] = set()

    def worker(request: CancellationRequested) -> CancellationOutcome | None:
        if request.final_teardown:
            return None
        if request.flow_run_id in stubborn:
            return CancellationOutcome.FAILED
        return CancellationOutcome.CANCELLED

    async with deploy(bus_kit, sqlite_url, TIMEOUT, worker=worker) as deployment:
        service = deployment.state.runtime.service
        failing = await deployment.state.running_run("busyhost:4242")
        stubborn.add(failing.id)
        normal = await deployment.state.running_run("busyhost:4343")
        failing_since = await cancel(deployment, failing.id)
        await cancel(deployment, normal.id)

        cancelled = await deployment.state.wait_state(normal.id, StateType.CANCELLED)
        assert cancelled.state is not None
        assert cancelled.state.message == "Infrastructure stopped"

        await assert_forced_once(deployment, failing, failing_since)
        attempts = await service.cancellation_history(failing.id)
        outcomes = [a.outcome for a in attempts if not a.final_teardown]
        # how many retries fit before the deadline depends on timing; the forcing does not
        assert outcomes[-1] == "timed_out"
        assert set(outcomes[:-1]) == {"failed"}, outcomes

        # the normal run's deadline was dropped; a late timeout event changes nothing
        states = await service.states(normal.id)
        cancelling = next(s for s in states if s.type is StateType.CANCELLING)
        late = CancellationTimedOut(
            flow_run_id=normal.id,
            state_id=cancelling.id,
            cancelling_since=cancelling.timestamp,
            timeout_seconds=TIMEOUT,
        )
        await deployment.state.publish(late)
        await deployment.state.barrier(Topics.TIMED_OUT, normal.id)  # the late event handled
        after = await service.read_flow_run(normal.id)
        assert after.state is not None
        assert after.state.message == "Infrastructure stopped"
        assert [s.type for s in await service.states(normal.id)].count(StateType.CANCELLED) == 1
        history = await service.cancellation_history(normal.id)
        assert [a.outcome for a in history] == ["cancelled"]
        published = await deployment.timed_out(normal.id)
        assert [e.id for e in published] == [late.id], "the service itself sent none"
