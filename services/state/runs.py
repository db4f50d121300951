"""Creating, changing and reading runs, their states and their cancellation history."""

from __future__ import annotations

import dataclasses
import functools
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.engine import Connection

from schemas.flow_runs import (
    FlowRun,
    FlowRunCreate,
    FlowRunFilter,
    FlowRunFilterCriteria,
    FlowRunUpdate,
)
from schemas.history import CancellationAttempt
from schemas.ids import uuid7
from schemas.infrastructure import InfrastructureId
from schemas.states import State, utcnow
from services.state import store
from services.state.attempt_rows import AttemptRow
from services.state.cascade_rules import is_open, would_cycle
from services.state.changes import CancelRequest, Changes
from services.state.errors import FlowRunNotFound, InvalidParent
from services.state.orchestration import Orchestration
from services.state.rows import LockedRun, RunEdit, RunRow, names
from services.state.transactions import Transactions

_LOCKED = frozenset(names(LockedRun))  # the edits a locked run holds too


class Runs:
    def __init__(self, transactions: Transactions, orchestration: Orchestration) -> None:
        self._tx = transactions
        self._orchestration = orchestration

    async def create_flow_run(self, body: FlowRunCreate) -> FlowRun:
        if body.infrastructure_pid is not None:
            InfrastructureId.parse(body.infrastructure_pid)
        changes = self._tx.changes()
        row = await self._tx.db.write(functools.partial(self._create_in, body, changes))
        self._tx.committed(changes)
        return row.to_flow_run()

    def _create_in(self, body: FlowRunCreate, changes: Changes, conn: Connection) -> RunRow:
        orchestration = self._orchestration
        parent = None
        if body.parent_flow_run_id is not None:
            parent = _locked_parent(conn, body.parent_flow_run_id)
        run_id = uuid7()
        store.insert_run(conn, _new_run(run_id, body, changes.now))
        if body.state is not None or parent is not None:
            inserted = store.lock_run(conn, run_id)
            assert inserted is not None
            if body.state is not None:
                request = CancelRequest()
                orchestration.orchestrate(conn, inserted, body.state, False, request, changes)
            if parent is not None:
                self._follow_parent(inserted, parent, changes)
            orchestration.settle(conn, changes)
        row = store.read_run(conn, run_id)
        assert row is not None
        return row

    def _follow_parent(self, run: LockedRun, parent: LockedRun, changes: Changes) -> None:
        """A run created or linked under a cancelled parent is cancelled at once."""
        run.parent_flow_run_id = parent.id
        if is_open(run.current_type()) and self._orchestration.cascade.stops(parent):
            self._orchestration.cancel_for_parent(run, parent.id, None, changes)

    def _parent_for(self, conn: Connection, run_id: UUID, parent_id: UUID) -> LockedRun:
        """The (locked) parent a PATCH names, if it may be the run's parent."""
        parent = _locked_parent(conn, parent_id)
        if would_cycle(run_id, parent_id, functools.partial(store.parent_of, conn)):
            raise InvalidParent(
                f"flow run {parent_id} cannot be the parent of flow run {run_id}: "
                "a run cannot be its own ancestor"
            )
        return parent

    async def read_flow_run(self, run_id: UUID) -> FlowRun:
        row = await self._tx.db.read(functools.partial(store.read_run, run_id=run_id))
        if row is None:
            raise FlowRunNotFound(run_id)
        return row.to_flow_run()

    async def update_flow_run(self, run_id: UUID, body: FlowRunUpdate) -> None:
        edit = _edit(body)
        pid = edit.get("infrastructure_pid")
        if pid:
            InfrastructureId.parse(pid)
        changes = self._tx.changes()

        def update(conn: Connection) -> None:
            run = store.lock_run(conn, run_id)
            if run is None:
                raise FlowRunNotFound(run_id)
            parent_id = edit.get("parent_flow_run_id")
            parent = self._parent_for(conn, run_id, parent_id) if parent_id else None
            if edit:
                stamped: RunEdit = {**edit, "updated": utcnow()}
                store.update_run(conn, run_id, stamped)
            if parent is not None:
                # the locked run as this PATCH left it, not read again
                edited: dict[str, Any] = {k: v for k, v in edit.items() if k in _LOCKED}
                self._follow_parent(dataclasses.replace(run, **edited), parent, changes)
                self._orchestration.settle(conn, changes)

        await self._tx.db.write(update)
        self._tx.committed(changes)

    async def filter_flow_runs(self, query: FlowRunFilter) -> list[FlowRun]:
        rows = await self._tx.db.read(functools.partial(store.filter_runs, query=query))
        return [row.to_flow_run() for row in rows]

    async def count_flow_runs(self, criteria: FlowRunFilterCriteria | None) -> int:
        return await self._tx.db.read(functools.partial(store.count_runs, criteria=criteria))

    async def states(self, run_id: UUID) -> list[State]:
        def read(conn: Connection) -> list[State]:
            if store.read_run(conn, run_id) is None:
                raise FlowRunNotFound(run_id)
            return store.states_of(conn, run_id)

        return await self._tx.db.read(read)

    async def cancellation_history(self, run_id: UUID) -> list[CancellationAttempt]:
        def read(conn: Connection) -> list[AttemptRow]:
            if store.read_run(conn, run_id) is None:
                raise FlowRunNotFound(run_id)
            return store.attempts_of(conn, run_id)

        return [row.to_attempt() for row in await self._tx.db.read(read)]

    async def cancelling_runs(self) -> list[tuple[UUID, UUID, datetime]]:
        """(run id, CANCELLING state id, since) of every run now CANCELLING."""
        return await self._tx.db.read(store.cancelling_runs)


def _locked_parent(conn: Connection, parent_id: UUID) -> LockedRun:
    """The parent a run is created or linked under, locked: a cascade cannot see the child
    until it commits, so it must wait for it."""
    parent = store.lock_run(conn, parent_id)
    if parent is None:
        raise InvalidParent(f"parent flow run {parent_id} not found")
    return parent


def _new_run(run_id: UUID, body: FlowRunCreate, now: datetime) -> RunRow:
    return RunRow(
        id=run_id,
        tags=body.tags,
        infrastructure_pid=body.infrastructure_pid,
        state_id=None,
        state_type=None,
        state_name=None,
        state_timestamp=None,
        state_message=None,
        state_details=None,
        start_time=None,
        end_time=None,
        run_count=0,
        version=0,
        name=body.name or f"run-{run_id.hex[:8]}",
        flow_id=body.flow_id,
        deployment_id=body.deployment_id,
        parameters=body.parameters,
        work_pool_name=body.work_pool_name,
        work_queue_name=body.work_queue_name,
        created=now,
        updated=now,
        expected_start_time=now,
        parent_flow_run_id=body.parent_flow_run_id,
    )


def _edit(body: FlowRunUpdate) -> RunEdit:
    """The columns a PATCH sets: those of its fields given."""
    given = body.model_fields_set
    edit = RunEdit()
    if "name" in given:
        edit["name"] = body.name
    if "infrastructure_pid" in given:
        edit["infrastructure_pid"] = body.infrastructure_pid
    if "tags" in given:
        edit["tags"] = body.tags
    if "parameters" in given:
        edit["parameters"] = body.parameters
    if "parent_flow_run_id" in given:
        edit["parent_flow_run_id"] = body.parent_flow_run_id
    return edit
