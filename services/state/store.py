"""SQL reads and writes of runs, their states and cancellation attempts. No rules here: see
rules.py and the use cases (runs.py, orchestration.py, results.py)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schemas.flow_runs import FlowRunFilter, FlowRunFilterCriteria
from schemas.states import State, StateType
from services.state import queries
from services.state.attempt_rows import (
    REQUEST_COLUMNS,
    AttemptResultRow,
    AttemptRow,
    LockedAttempt,
)
from services.state.db import bulk
from services.state.db.statements import DIALECTS, one_of
from services.state.db.tables import cancellation_attempts, flow_run_states, flow_runs
from services.state.rows import (
    LockedRun,
    RunEdit,
    RunRow,
    RunTransition,
    StateRow,
    names,
)

R = TypeVar("R")

_STATE_COLUMNS = names(StateRow)
_ATTEMPT_COLUMNS = names(AttemptRow)
_RESULT_COLUMNS = names(AttemptResultRow)


def _select(table: sa.Table, row_type: type[Any]) -> sa.Select[Any]:
    """The columns of `row_type`, in the order it is built from."""
    return sa.select(*(table.c[name] for name in names(row_type)))


def _rows(row_type: Callable[..., R], result: sa.Result[Any]) -> list[R]:
    return [row_type(*row) for row in result]


# The statements every request runs are built once: building one costs more than running it.
_LOCK_RUN = (
    _select(flow_runs, LockedRun).where(flow_runs.c.id == sa.bindparam("run_id")).with_for_update()
)
_LOCK_RUNS = {
    dialect: _select(flow_runs, LockedRun)
    .where(one_of(flow_runs.c.id, "run_ids", dialect))
    .order_by(flow_runs.c.id)
    .with_for_update()
    for dialect in DIALECTS
}
_READ_RUN = _select(flow_runs, RunRow).where(flow_runs.c.id == sa.bindparam("run_id"))
_PEEK_RUN = _select(flow_runs, LockedRun).where(flow_runs.c.id == sa.bindparam("run_id"))
_PARENT_OF = sa.select(flow_runs.c.parent_flow_run_id).where(
    flow_runs.c.id == sa.bindparam("run_id")
)


def lock_run(conn: Connection, run_id: UUID) -> LockedRun | None:
    row = conn.execute(_LOCK_RUN, {"run_id": run_id}).first()
    return LockedRun(*row) if row is not None else None


def lock_runs(conn: Connection, run_ids: Sequence[UUID]) -> list[LockedRun]:
    return _rows(LockedRun, conn.execute(_LOCK_RUNS[conn.dialect.name], {"run_ids": list(run_ids)}))


def peek_run(conn: Connection, run_id: UUID) -> LockedRun | None:
    """What orchestration reads of a run, without locking it."""
    row = conn.execute(_PEEK_RUN, {"run_id": run_id}).first()
    return LockedRun(*row) if row is not None else None


def parent_of(conn: Connection, run_id: UUID) -> UUID | None:
    parent: UUID | None = conn.execute(_PARENT_OF, {"run_id": run_id}).scalar_one_or_none()
    return parent


def lock_children(
    conn: Connection, parent_ids: Sequence[UUID], state_types: Sequence[str]
) -> list[LockedRun]:
    """The runs whose parent is one of `parent_ids`, with no state yet or one of these."""
    stmt = _lock_children(conn.dialect.name, tuple(sorted(state_types)))
    return _rows(LockedRun, conn.execute(stmt, {"parent_ids": list(parent_ids)}))


@functools.lru_cache(maxsize=8)
def _lock_children(dialect: str, state_types: tuple[str, ...]) -> sa.Select[Any]:
    return (
        _select(flow_runs, LockedRun)
        .where(
            one_of(flow_runs.c.parent_flow_run_id, "parent_ids", dialect),
            sa.or_(flow_runs.c.state_type.is_(None), flow_runs.c.state_type.in_(state_types)),
        )
        .order_by(flow_runs.c.id)
        .with_for_update()
    )


def read_run(conn: Connection, run_id: UUID) -> RunRow | None:
    row = conn.execute(_READ_RUN, {"run_id": run_id}).first()
    return RunRow(*row) if row is not None else None


def filter_runs(conn: Connection, query: FlowRunFilter) -> list[RunRow]:
    stmt = (
        _select(flow_runs, RunRow)
        .where(*queries.where(query.flow_runs))
        .order_by(*queries.order_by(query.sort))
        .limit(query.limit)
        .offset(query.offset)
    )
    return _rows(RunRow, conn.execute(stmt))


def count_runs(conn: Connection, criteria: FlowRunFilterCriteria | None) -> int:
    stmt = sa.select(sa.func.count()).select_from(flow_runs).where(*queries.where(criteria))
    return int(conn.execute(stmt).scalar_one())


def matching_run_ids(
    conn: Connection, criteria: FlowRunFilterCriteria, limit: int | None
) -> list[UUID]:
    stmt = sa.select(flow_runs.c.id).where(*queries.where(criteria)).order_by(flow_runs.c.created)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(conn.execute(stmt).scalars().all())


def cancelling_runs(conn: Connection) -> list[tuple[UUID, UUID, datetime]]:
    """(run id, CANCELLING state id, since) of every run now CANCELLING."""
    stmt = sa.select(flow_runs.c.id, flow_runs.c.state_id, flow_runs.c.state_timestamp).where(
        flow_runs.c.state_type == StateType.CANCELLING.value
    )
    return [(run_id, state_id, since) for run_id, state_id, since in conn.execute(stmt)]


def insert_run(conn: Connection, row: RunRow) -> None:
    bulk.insert(conn, flow_runs, names(RunRow), [row])


def update_run(conn: Connection, run_id: UUID, edit: RunEdit) -> None:
    conn.execute(sa.update(flow_runs).where(flow_runs.c.id == run_id).values(**edit))


def update_runs(conn: Connection, rows: Sequence[RunTransition]) -> None:
    """Write state changes, one statement for each set of columns they change."""
    shapes: dict[tuple[str, ...], list[RunTransition]] = {}
    for row in rows:
        shapes.setdefault(row.changed(), []).append(row)
    for columns, same in shapes.items():
        bulk.update(conn, flow_runs, columns, same)


def insert_states(conn: Connection, rows: Sequence[StateRow]) -> None:
    bulk.insert(conn, flow_run_states, _STATE_COLUMNS, rows)


def states_of(conn: Connection, run_id: UUID) -> list[State]:
    stmt = (
        _select(flow_run_states, StateRow)
        .where(flow_run_states.c.flow_run_id == run_id)
        .order_by(flow_run_states.c.timestamp)
    )
    return [row.to_state() for row in _rows(StateRow, conn.execute(stmt))]


def insert_attempts(conn: Connection, rows: Sequence[AttemptRow]) -> None:
    # one statement for all: with every column if any of them has its result already
    answered = any(row.outcome is not None for row in rows)
    bulk.insert(
        conn, cancellation_attempts, _ATTEMPT_COLUMNS if answered else REQUEST_COLUMNS, rows
    )


_LOCK_ATTEMPTS = {
    dialect: _select(cancellation_attempts, LockedAttempt)
    .where(one_of(cancellation_attempts.c.id, "ids", dialect))
    .with_for_update()
    for dialect in DIALECTS
}


def lock_attempts(conn: Connection, attempt_ids: Sequence[UUID]) -> dict[UUID, LockedAttempt]:
    """What applying a result needs of the attempts it answers."""
    result = conn.execute(_LOCK_ATTEMPTS[conn.dialect.name], {"ids": list(attempt_ids)})
    return {row.id: row for row in _rows(LockedAttempt, result)}


def record_results(conn: Connection, rows: Sequence[AttemptResultRow]) -> None:
    """Store workers' results on their attempts."""
    bulk.update(conn, cancellation_attempts, _RESULT_COLUMNS, rows)


def attempts_of(conn: Connection, run_id: UUID) -> list[AttemptRow]:
    stmt = (
        _select(cancellation_attempts, AttemptRow)
        .where(cancellation_attempts.c.flow_run_id == run_id)
        .order_by(cancellation_attempts.c.requested_at, cancellation_attempts.c.attempt)
    )
    return _rows(AttemptRow, conn.execute(stmt))


def last_attempt_number(conn: Connection, run_id: UUID, state_id: UUID) -> int:
    stmt = sa.select(sa.func.max(cancellation_attempts.c.attempt)).where(
        cancellation_attempts.c.flow_run_id == run_id,
        cancellation_attempts.c.state_id == state_id,
    )
    return int(conn.execute(stmt).scalar_one_or_none() or 0)
