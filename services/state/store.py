"""SQL reads and writes of the state service. No rules here: see rules.py and service.py."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Dialect

from schemas.flow_runs import FlowRun, FlowRunFilter, FlowRunFilterCriteria
from schemas.infrastructure import InfrastructureId
from schemas.messages import Message
from schemas.states import State, StateType
from services.state import queries
from services.state.db.tables import cancellation_attempts, flow_run_states, flow_runs, outbox

RunRow = dict[str, Any]  # one row, its columns by name; a fresh dict the caller may change
OutboxRow = dict[str, Any]  # message_id, topic, key, payload, created_at, available_at


def _first(result: sa.CursorResult[Any]) -> RunRow | None:
    row = result.first()
    return dict(zip(result.keys(), row, strict=True)) if row is not None else None


def _all(result: sa.CursorResult[Any]) -> list[RunRow]:
    keys = result.keys()  # once: a row's own keys() builds a view per call
    return [dict(zip(keys, row, strict=True)) for row in result]


# what orchestration reads of a run (the rest is for showing it)
_ORCHESTRATED = [
    flow_runs.c[name]
    for name in (
        "id",
        "tags",
        "infrastructure_pid",
        "state_id",
        "state_type",
        "state_name",
        "state_timestamp",
        "state_message",
        "state_details",
        "start_time",
        "end_time",
        "run_count",
        "version",
    )
]


def one_of(column: sa.Column[Any], name: str, dialect: str) -> sa.ColumnElement[bool]:
    """`column IN (<the values of parameter name>)`. On PostgreSQL it is `column = ANY($1)`,
    one array parameter, so the statement's text, and the server's preparation of it, is the
    same for any number of values; an IN list is a new statement for every length."""
    if dialect == "postgresql":
        return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(column.type)))
    return column.in_(sa.bindparam(name, expanding=True))


DIALECTS = ("sqlite", "postgresql")

# The statements every request runs are built once: building one costs more than running it.
_LOCK_RUN = (
    sa.select(*_ORCHESTRATED).where(flow_runs.c.id == sa.bindparam("run_id")).with_for_update()
)
_LOCK_RUNS = {
    dialect: sa.select(*_ORCHESTRATED)
    .where(one_of(flow_runs.c.id, "run_ids", dialect))
    .order_by(flow_runs.c.id)
    .with_for_update()
    for dialect in DIALECTS
}
_READ_RUN = sa.select(flow_runs).where(flow_runs.c.id == sa.bindparam("run_id"))


def lock_run(conn: Connection, run_id: UUID) -> RunRow | None:
    return _first(conn.execute(_LOCK_RUN, {"run_id": run_id}))


def lock_runs(conn: Connection, run_ids: Sequence[UUID]) -> list[RunRow]:
    return _all(conn.execute(_LOCK_RUNS[conn.dialect.name], {"run_ids": list(run_ids)}))


def read_run(conn: Connection, run_id: UUID) -> RunRow | None:
    return _first(conn.execute(_READ_RUN, {"run_id": run_id}))


def filter_runs(conn: Connection, query: FlowRunFilter) -> list[RunRow]:
    stmt = (
        sa.select(flow_runs)
        .where(*queries.where(query.flow_runs))
        .order_by(*queries.order_by(query.sort))
        .limit(query.limit)
        .offset(query.offset)
    )
    return _all(conn.execute(stmt))


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


def insert_run(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(sa.insert(flow_runs), [values])


def update_run(conn: Connection, run_id: UUID, values: dict[str, Any]) -> None:
    conn.execute(sa.update(flow_runs).where(flow_runs.c.id == run_id).values(**values))


def update_runs(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Apply per-run updates; each dict has `b_id` and the columns it changes."""
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        shapes.setdefault(tuple(row), []).append(row)
    for same in shapes.values():
        _update_by_id(conn, flow_runs, same)


def _update_by_id(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """One executemany: each row has `b_id` (the primary key) and the same other columns."""
    if rows:
        _execute_many(conn, _Many(table, "update", tuple(rows[0])), rows)


def insert_states(conn: Connection, rows: list[dict[str, Any]]) -> None:
    _insert_many(conn, flow_run_states, rows)


def insert_attempts(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        # One executemany needs one shape; a forced run's own row also carries its outcome.
        columns = dict.fromkeys(key for row in rows for key in row)
        if any(len(row) != len(columns) for row in rows):
            rows = [{key: row.get(key) for key in columns} for row in rows]
        _insert_many(conn, cancellation_attempts, rows)


def _insert_many(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """One executemany; every row has the same columns."""
    if rows:
        _execute_many(conn, _Many(table, "insert", tuple(rows[0])), rows)


@dataclass(frozen=True, slots=True)
class _Many:
    """An INSERT of, or an UPDATE by primary key (`b_id`) setting, these columns."""

    table: sa.Table
    kind: Literal["insert", "update"]
    columns: tuple[str, ...]


def _execute_many(conn: Connection, many: _Many, rows: Sequence[dict[str, Any]]) -> None:
    """Hand the rows to the driver at once, each column converted in one pass.

    SQLAlchemy's own executemany builds and converts a parameter dict per row; for the
    state service's bulk writes that cost more than the database's work. The statement is
    compiled once per shape and dialect; the column types' own converters are used.
    On PostgreSQL a statement per row costs the server more than the rest, and a multi-row
    INSERT is a new statement to prepare for every number of rows (and a large one to keep
    in the driver's cache); so rows go as one array per column, `INSERT ... SELECT * FROM
    unnest(<arrays>)` and `UPDATE ... FROM unnest(...)`, one prepared statement per shape.
    A single row goes as the plain statement, which the server runs sooner.
    """
    arrays = conn.dialect.name == "postgresql" and len(rows) > 1
    sql, names, converters = _compiled(many, conn.dialect, arrays)
    columns = [
        [row[name] for row in rows] if convert is None else [convert(row[name]) for row in rows]
        for name, convert in zip(names, converters, strict=True)
    ]
    if arrays:
        conn.exec_driver_sql(sql, tuple(columns))  # one array per column
    else:
        conn.exec_driver_sql(sql, list(zip(*columns, strict=True)))  # one tuple per row


Converters = tuple[Callable[[Any], Any] | None, ...]


@functools.lru_cache(maxsize=256)
def _statement(many: _Many) -> sa.Insert | sa.Update:
    values: dict[str, Any] = {c: sa.bindparam(c) for c in many.columns if c != "b_id"}
    if many.kind == "insert":
        return sa.insert(many.table).values(values)
    (primary,) = many.table.primary_key.columns
    return sa.update(many.table).where(primary == sa.bindparam("b_id")).values(values)


@functools.lru_cache(maxsize=256)
def _compiled(
    many: _Many, dialect: Dialect, arrays: bool
) -> tuple[str, tuple[str, ...], Converters]:
    """The SQL, the order of its parameters and their converters."""
    if arrays:
        return _from_arrays(many, dialect)
    compiled = _statement(many).compile(dialect=dialect)
    assert compiled.positiontup is not None, "a positional driver (sqlite3, asyncpg)"
    names = tuple(compiled.positiontup)
    binds = compiled.binds
    converters = tuple(binds[name].type._cached_bind_processor(dialect) for name in names)
    return compiled.string, names, converters


def _from_arrays(many: _Many, dialect: Dialect) -> tuple[str, tuple[str, ...], Converters]:
    table = many.table
    quote = dialect.identifier_preparer.quote
    (primary,) = table.primary_key.columns
    if many.kind == "insert":
        names = many.columns
        columns = [table.c[name] for name in names]
    else:
        names = ("b_id", *(c for c in many.columns if c != "b_id"))
        columns = [primary if name == "b_id" else table.c[name] for name in names]
    arrays = ", ".join(
        f"${i}::{_unbounded(column.type).compile(dialect=dialect)}[]"
        for i, column in enumerate(columns, 1)
    )
    listed = ", ".join(map(quote, names))
    given = f"unnest({arrays}) AS given({listed})"
    if many.kind == "insert":
        sql = f"INSERT INTO {quote(table.name)} ({listed}) SELECT * FROM {given}"
    else:
        sets = ", ".join(f"{quote(name)} = given.{quote(name)}" for name in names[1:])
        sql = (
            f"UPDATE {quote(table.name)} SET {sets} FROM {given} "
            f"WHERE {quote(table.name)}.{quote(primary.name)} = given.b_id"
        )
    converters = tuple(column.type._cached_bind_processor(dialect) for column in columns)
    return sql, names, converters


def _unbounded(type_: sa.types.TypeEngine[Any]) -> sa.types.TypeEngine[Any]:
    """The array's element type without a length: a cast to `VARCHAR(64)` cuts a longer value
    short without a word, where the column itself refuses it."""
    return sa.String() if isinstance(type_, sa.String) else type_


def enqueue(conn: Connection, messages: Sequence[tuple[Message, datetime]]) -> list[OutboxRow]:
    """Add messages to the outbox in the caller's transaction (message, available_at);
    returns the rows written."""
    rows = [
        {
            "message_id": message.id,
            "topic": message.TOPIC,
            "key": message.key,
            "payload": message.model_dump_json(),
            "created_at": message.occurred_at,
            "available_at": available_at,
        }
        for message, available_at in messages
    ]
    _insert_many(conn, outbox, rows)
    return rows


_LOCK_ATTEMPTS = {
    dialect: sa.select(
        cancellation_attempts.c.id,
        cancellation_attempts.c.flow_run_id,
        cancellation_attempts.c.result_id,
        cancellation_attempts.c.requested_by,
        cancellation_attempts.c.reason,
        cancellation_attempts.c.grace_seconds,
    )
    .where(one_of(cancellation_attempts.c.id, "ids", dialect))
    .with_for_update()
    for dialect in DIALECTS
}


def lock_attempts(conn: Connection, attempt_ids: Sequence[UUID]) -> dict[UUID, dict[str, Any]]:
    """What applying a result needs of the attempts it answers."""
    rows = _all(conn.execute(_LOCK_ATTEMPTS[conn.dialect.name], {"ids": list(attempt_ids)}))
    return {row["id"]: row for row in rows}


def record_results(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Store workers' results on their attempts; each dict has `b_id`, the attempt id."""
    _update_by_id(conn, cancellation_attempts, rows)


def attempts_of(conn: Connection, run_id: UUID) -> list[RunRow]:
    stmt = (
        sa.select(cancellation_attempts)
        .where(cancellation_attempts.c.flow_run_id == run_id)
        .order_by(cancellation_attempts.c.requested_at, cancellation_attempts.c.attempt)
    )
    return _all(conn.execute(stmt))


def last_attempt_number(conn: Connection, run_id: UUID, state_id: UUID) -> int:
    stmt = sa.select(sa.func.max(cancellation_attempts.c.attempt)).where(
        cancellation_attempts.c.flow_run_id == run_id,
        cancellation_attempts.c.state_id == state_id,
    )
    return int(conn.execute(stmt).scalar_one_or_none() or 0)


def states_of(conn: Connection, run_id: UUID) -> list[State]:
    stmt = (
        sa.select(flow_run_states)
        .where(flow_run_states.c.flow_run_id == run_id)
        .order_by(flow_run_states.c.timestamp)
    )
    return [
        State(
            id=row["id"],
            type=StateType(row["type"]),
            name=row["name"],
            timestamp=row["timestamp"],
            message=row["message"],
            state_details=row["state_details"] or {},
        )
        for row in conn.execute(stmt).mappings()
    ]


def cancelling_runs(conn: Connection) -> list[RunRow]:
    stmt = sa.select(flow_runs.c.id, flow_runs.c.state_id, flow_runs.c.state_timestamp).where(
        flow_runs.c.state_type == StateType.CANCELLING.value
    )
    return _all(conn.execute(stmt))


def current_type(row: RunRow) -> StateType | None:
    return StateType(row["state_type"]) if row["state_type"] is not None else None


def current_state(row: RunRow) -> State | None:
    if row["state_type"] is None:
        return None
    return State(
        id=row["state_id"],
        type=StateType(row["state_type"]),
        name=row["state_name"],
        timestamp=row["state_timestamp"],
        message=row["state_message"],
        state_details=row["state_details"] or {},
    )


def infrastructure_of(row: RunRow) -> InfrastructureId | None:
    pid = row["infrastructure_pid"]
    return _parse_infrastructure(pid) if pid else None


@functools.lru_cache(maxsize=32768)
def _parse_infrastructure(text: str) -> InfrastructureId:
    # ids are frozen, and every state change of a run reads its id again
    return InfrastructureId.parse(text)


def to_flow_run(row: RunRow) -> FlowRun:
    state = current_state(row)
    return FlowRun(
        id=row["id"],
        name=row["name"],
        flow_id=row["flow_id"],
        deployment_id=row["deployment_id"],
        state=state,
        state_id=row["state_id"],
        state_type=state.type if state else None,
        state_name=state.name if state else None,
        infrastructure_pid=row["infrastructure_pid"],
        infrastructure=infrastructure_of(row),
        tags=row["tags"],
        parameters=row["parameters"],
        created=row["created"],
        updated=row["updated"],
        start_time=row["start_time"],
        end_time=row["end_time"],
        expected_start_time=row["expected_start_time"],
        run_count=row["run_count"],
        work_pool_name=row["work_pool_name"],
        work_queue_name=row["work_queue_name"],
    )
