"""Cascading cancellation in the state service, on SQLite and PostgreSQL: a cancelled run's
open descendants are cancelled in the same transaction, each through orchestration; a child
created, linked or started under a cancelled parent is cancelled at once; the switches."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from schemas.flow_runs import NO_CASCADE_TAG, FlowRun, FlowRunCreate, StateCreate
from schemas.history import CancellationAttempt
from schemas.messages import CancellationRequested, FlowRunStateChanged
from schemas.states import State, StateType
from schemas.topics import Topics
from services.state import rules
from services.state.bootstrap import build_state
from tests.state.conftest import fast_settings
from tests.support.buses import MemoryKit

_pids = itertools.count(1000)


@dataclass
class Runs:
    api: httpx.AsyncClient
    kit: MemoryKit

    async def create(
        self,
        parent: FlowRun | UUID | None = None,
        state: StateType | None = StateType.RUNNING,
        *,
        infrastructure: bool = True,
        tags: tuple[str, ...] = (),
        deployment_id: UUID | None = None,
    ) -> FlowRun:
        body = FlowRunCreate(
            name=f"run-{next(_pids)}",
            tags=list(tags),
            deployment_id=deployment_id,
            parent_flow_run_id=parent.id if isinstance(parent, FlowRun) else parent,
            infrastructure_pid=f"somehost:{next(_pids)}" if infrastructure else None,
            state=StateCreate(type=state) if state is not None else None,
        )
        response = await self.api.post("/api/flow_runs/", json=body.model_dump(mode="json"))
        assert response.status_code == 201, response.text
        return FlowRun.model_validate(response.json())

    async def propose(
        self, run: FlowRun, state: StateType, *, force: bool = False, **extra: Any
    ) -> dict[str, Any]:
        body = {"state": {"type": state.value, "message": "user asked"}, "force": force, **extra}
        response = await self.api.post(f"/api/flow_runs/{run.id}/set_state", json=body)
        assert response.status_code in (200, 201), response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def cancel(self, run: FlowRun, **extra: Any) -> None:
        answer = await self.propose(run, StateType.CANCELLING, **extra)
        assert answer["status"] == "ACCEPT", answer

    async def read(self, run: FlowRun) -> FlowRun:
        response = await self.api.get(f"/api/flow_runs/{run.id}")
        return FlowRun.model_validate(response.json())

    async def state_of(self, run: FlowRun) -> StateType | None:
        return (await self.read(run)).state_type

    async def state(self, run: FlowRun) -> State:
        state = (await self.read(run)).state
        assert state is not None
        return state

    async def history(self, run: FlowRun) -> list[CancellationAttempt]:
        response = await self.api.get(f"/api/flow_runs/{run.id}/cancellation")
        return [CancellationAttempt.model_validate(a) for a in response.json()]

    async def patch(self, run_id: UUID, **fields: Any) -> httpx.Response:
        body = {k: str(v) if isinstance(v, UUID) else v for k, v in fields.items()}
        return await self.api.patch(f"/api/flow_runs/{run_id}", json=body)


Stack = Callable[..., AbstractAsyncContextManager[Runs]]


@pytest.fixture
def stack(database_url: str) -> Stack:
    """`async with stack(**settings) as runs`: the state service on the test's database."""

    @asynccontextmanager
    async def start(**settings: object) -> AsyncIterator[Runs]:
        kit = MemoryKit()
        runtime = build_state(fast_settings(database_url, **settings), kit.make_bus("state"))
        async with runtime.running():
            transport = httpx.ASGITransport(app=runtime.app())
            async with httpx.AsyncClient(transport=transport, base_url="http://cancelbus") as api:
                yield Runs(api, kit)

    return start


async def test_cancelling_a_run_cancels_its_open_descendants_at_once(stack: Stack) -> None:
    async with stack() as runs:
        root = await runs.create()
        child = await runs.create(root)
        grandchild = await runs.create(child)
        not_started = await runs.create(grandchild, StateType.PENDING, infrastructure=False)
        scheduled = await runs.create(root, StateType.SCHEDULED, infrastructure=False)
        finished = await runs.create(root, StateType.COMPLETED)
        detached = await runs.create(finished)  # a finished run's child runs on its own

        await runs.cancel(root, grace_seconds=7)

        cancelling = [root, child, grandchild]
        assert [await runs.state_of(r) for r in cancelling] == [StateType.CANCELLING] * 3
        assert await runs.state_of(not_started) is StateType.CANCELLED
        assert await runs.state_of(scheduled) is StateType.CANCELLED
        assert await runs.state_of(finished) is StateType.COMPLETED
        assert await runs.state_of(detached) is StateType.RUNNING
        # one transaction: every state it wrote carries its one instant
        stamps = {(await runs.state(r)).timestamp for r in [*cancelling, not_started]}
        assert len(stamps) == 1

        for run, parent in [(child, root), (grandchild, child)]:
            [attempt] = await runs.history(run)
            assert attempt.requested_by == f"cascade:{parent.id}"
            assert attempt.reason == f"Parent flow run {parent.id} was cancelled"
            assert attempt.grace_seconds == 7
        assert (await runs.state(not_started)).message == (
            f"Parent flow run {grandchild.id} was cancelled; {rules.NOT_STARTED}"
        )
        assert await runs.history(detached) == []

        # a run with nothing to stop is CANCELLED at once: its children are cancelled as well
        bare = await runs.create(infrastructure=False)
        bare_child = await runs.create(bare)
        await runs.cancel(bare)
        assert await runs.state_of(bare) is StateType.CANCELLED
        assert await runs.state_of(bare_child) is StateType.CANCELLING

        # each through orchestration: its own request to its own infrastructure
        records = await runs.kit.read(
            Topics.CANCEL_REQUESTED, until=lambda rs: len(rs) >= 4, within=15
        )
        requested = [CancellationRequested.model_validate_json(r.value) for r in records]
        requested = [m for m in requested if m.flow_run_id != bare_child.id]
        assert sorted(str(m.flow_run_id) for m in requested) == sorted(
            str(r.id) for r in cancelling
        )
        assert {str(m.infrastructure) for m in requested} == {
            str((await runs.read(r)).infrastructure) for r in cancelling
        }


async def test_a_child_created_under_a_cancelled_parent_is_cancelled_at_once(
    stack: Stack,
) -> None:
    async with stack() as runs:
        cancelling = await runs.create()
        await runs.cancel(cancelling)
        cancelled = await runs.create(state=StateType.PENDING, infrastructure=False)
        await runs.cancel(cancelled)
        assert await runs.state_of(cancelled) is StateType.CANCELLED

        for parent in (cancelling, cancelled):
            pending = await runs.create(parent, StateType.PENDING, infrastructure=False)
            stateless = await runs.create(parent, None, infrastructure=False)
            started = await runs.create(parent, StateType.RUNNING)
            assert pending.state_type is StateType.CANCELLED
            assert pending.state is not None
            assert pending.state.message is not None
            assert pending.state.message.startswith(f"Parent flow run {parent.id} was cancelled")
            assert stateless.state_type is StateType.CANCELLED
            assert started.state_type is StateType.CANCELLING
            [attempt] = await runs.history(started)
            assert attempt.requested_by == f"cascade:{parent.id}"

        # a parent that finished may leave children: they are not cancelled
        completed = await runs.create(state=StateType.COMPLETED)
        assert (await runs.create(completed)).state_type is StateType.RUNNING


async def test_a_child_starting_or_linked_under_a_cancelled_parent_is_cancelled(
    stack: Stack,
) -> None:
    async with stack() as runs:
        parent = await runs.create()
        child = await runs.create(parent)
        await runs.cancel(parent)
        assert await runs.state_of(child) is StateType.CANCELLING

        # forced back (as an operator may), the child is not stopped; starting again, it is
        forced = await runs.propose(child, StateType.PENDING, force=True)
        assert (forced["status"], forced["state"]["type"]) == ("ACCEPT", "PENDING")
        answer = await runs.propose(child, StateType.RUNNING)
        assert answer["status"] == "REJECT"
        assert answer["state"]["type"] == "CANCELLING"
        assert answer["details"]["reason"] == f"Parent flow run {parent.id} was cancelled"
        assert [a.requested_by for a in await runs.history(child)] == [f"cascade:{parent.id}"] * 2

        # linked to a cancelled parent afterwards: cancelled in the same request
        loner = await runs.create(infrastructure=False)
        edit = {"parent_flow_run_id": parent.id, "infrastructure_pid": "somehost:77"}
        assert (await runs.patch(loner.id, **edit)).status_code == 204
        linked = await runs.read(loner)
        assert (linked.state_type, linked.parent_flow_run_id) == (StateType.CANCELLING, parent.id)
        [attempt] = await runs.history(loner)
        assert attempt.requested_by == f"cascade:{parent.id}"


async def test_no_child_escapes_a_cancellation_it_races_with(stack: Stack) -> None:
    """Children created and started while their parent is being cancelled (concurrent
    transactions on PostgreSQL): whichever commits first, none is left running."""
    async with stack() as runs:
        parent = await runs.create()

        async def child() -> FlowRun:
            created = await runs.create(parent, StateType.PENDING)
            await runs.propose(created, StateType.RUNNING)
            return created

        first = [asyncio.create_task(child()) for _ in range(10)]
        cancel = asyncio.create_task(runs.cancel(parent))
        children = [*await asyncio.gather(*first), *[await child() for _ in range(2)]]
        await cancel

        states = {await runs.state_of(c) for c in children}
        assert states <= {StateType.CANCELLING, StateType.CANCELLED}, states


SWITCHES: dict[str, tuple[dict[str, object], dict[str, Any]]] = {
    # settings, and what the run that does not cascade has
    "globally": ({"cascade_cancel": False}, {}),
    "by deployment": (
        {"no_cascade_deployments": [UUID(int=7)]},
        {"deployment_id": UUID(int=7)},
    ),
    "by tag setting": (
        {"no_cascade_tags": ["detached-children"]},
        {"tags": ("detached-children",)},
    ),
    "by run tag": ({}, {"tags": (NO_CASCADE_TAG,)}),
}


@pytest.mark.parametrize("switch", SWITCHES, ids=str)
async def test_cascade_can_be_switched_off(stack: Stack, switch: str) -> None:
    settings, marked = SWITCHES[switch]
    async with stack(**settings) as runs:
        parent = await runs.create(**marked)
        child = await runs.create(parent)
        other = await runs.create()  # without the mark (the same, when off globally)
        others_child = await runs.create(other)

        await runs.cancel(parent)
        await runs.cancel(other)

        assert await runs.state_of(parent) is StateType.CANCELLING
        assert await runs.state_of(child) is StateType.RUNNING
        assert (await runs.create(parent)).state_type is StateType.RUNNING
        expected = StateType.RUNNING if switch == "globally" else StateType.CANCELLING
        assert await runs.state_of(others_child) is expected


async def test_a_run_that_does_not_cascade_stops_the_cascade_below_it(stack: Stack) -> None:
    async with stack() as runs:
        root = await runs.create()
        middle = await runs.create(root, tags=(NO_CASCADE_TAG,))
        leaf = await runs.create(middle)

        await runs.cancel(root)

        assert await runs.state_of(middle) is StateType.CANCELLING
        assert await runs.state_of(leaf) is StateType.RUNNING


async def test_bulk_cancel_cascades(stack: Stack) -> None:
    async with stack() as runs:
        roots = [await runs.create(tags=("batch",)) for _ in range(2)]
        children = [await runs.create(root) for root in roots]
        matching_child = await runs.create(roots[0], tags=("batch",))

        response = await runs.api.post(
            "/api/flow_runs/cancel", json={"flow_runs": {"tags": {"all_": ["batch"]}}}
        )

        assert response.json()["matched"] == 3
        for run in [*roots, *children, matching_child]:
            assert await runs.state_of(run) is StateType.CANCELLING
        for child, root in zip(children, roots, strict=True):
            [attempt] = await runs.history(child)
            assert attempt.requested_by == f"cascade:{root.id}"
        # cancelled once, whichever came first
        assert len(await runs.history(matching_child)) == 1


async def test_a_parent_must_exist_and_not_be_a_descendant(stack: Stack) -> None:
    async with stack() as runs:
        unknown = uuid4()
        response = await runs.api.post(
            "/api/flow_runs/", json={"name": "orphan", "parent_flow_run_id": str(unknown)}
        )
        assert response.status_code == 422
        assert response.json()["detail"] == f"parent flow run {unknown} not found"

        a = await runs.create()
        b = await runs.create(a)
        c = await runs.create(b)
        refused = {
            "unknown": (c.id, unknown),
            "itself": (a.id, a.id),
            "its grandchild": (a.id, c.id),
        }
        for what, (run_id, parent_id) in refused.items():
            answer = await runs.patch(run_id, parent_flow_run_id=parent_id)
            assert answer.status_code == 422, what
            assert str(parent_id) in answer.json()["detail"], what
        assert "own ancestor" in (await runs.patch(a.id, parent_flow_run_id=c.id)).text
        assert (await runs.patch(uuid4(), parent_flow_run_id=a.id)).status_code == 404

        # detached, a run no longer follows its old parent
        assert (await runs.patch(c.id, parent_flow_run_id=None)).status_code == 204
        assert (await runs.read(c)).parent_flow_run_id is None
        await runs.cancel(b)
        assert await runs.state_of(c) is StateType.RUNNING


async def test_a_state_change_describes_the_run(stack: Stack) -> None:
    async with stack() as runs:
        parent = await runs.create()
        deployment = uuid4()
        body = {
            "name": "nightly-etl",
            "deployment_id": str(deployment),
            "work_pool_name": "pool-a",
            "work_queue_name": "queue-b",
            "parent_flow_run_id": str(parent.id),
            "state": {"type": "RUNNING"},
        }
        run = FlowRun.model_validate((await runs.api.post("/api/flow_runs/", json=body)).json())
        assert run.parent_flow_run_id == parent.id

        def changes_of_run(records: list[Any]) -> list[FlowRunStateChanged]:
            found = [FlowRunStateChanged.model_validate_json(r.value) for r in records]
            return [m for m in found if m.flow_run_id == run.id]

        records = await runs.kit.read(
            Topics.STATE_CHANGES, until=lambda rs: bool(changes_of_run(rs)), within=15
        )
        [change] = changes_of_run(records)
        assert (change.flow_run_name, change.flow_id, change.deployment_id) == (
            "nightly-etl",
            run.flow_id,
            deployment,
        )
        assert (change.work_pool_name, change.work_queue_name) == ("pool-a", "queue-b")
        assert (change.parent_flow_run_id, change.run_count) == (parent.id, 1)
