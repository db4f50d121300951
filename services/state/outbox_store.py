"""SQL of the outbox: messages added in a state change's transaction, read and marked sent
by the relay (outbox.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schemas.messages import Message
from schemas.states import utcnow
from services.state.db import bulk
from services.state.db.statements import DIALECTS, one_of
from services.state.db.tables import outbox
from services.state.rows import names

RETENTION = timedelta(hours=24)


@dataclasses.dataclass(slots=True)
class OutboxMessage:
    """A message in the `outbox`, as the relay publishes it."""

    message_id: UUID
    topic: str
    key: str
    payload: str


@dataclasses.dataclass(slots=True)
class OutboxRow(OutboxMessage):
    """A message as a transaction adds it to the `outbox`."""

    created_at: datetime
    available_at: datetime


_COLUMNS = names(OutboxRow)


def enqueue(conn: Connection, messages: Sequence[tuple[Message, datetime]]) -> list[OutboxRow]:
    """Add messages to the outbox in the caller's transaction (message, available_at);
    returns the rows written."""
    rows = [
        OutboxRow(
            message.id,
            message.TOPIC,
            message.key,
            message.model_dump_json(),
            message.occurred_at,
            available_at,
        )
        for message, available_at in messages
    ]
    bulk.insert(conn, outbox, _COLUMNS, rows)
    return rows


_NEXT_DELAYED = sa.select(sa.func.min(outbox.c.available_at)).where(
    outbox.c.published_at.is_(None), outbox.c.available_at > sa.bindparam("now")
)
# Due rows, each also carrying when the earliest delayed row falls due: one round trip.
_DUE = (
    sa.select(
        *(outbox.c[name] for name in names(OutboxMessage)),
        _NEXT_DELAYED.scalar_subquery().label("next_delayed"),
    )
    .where(outbox.c.published_at.is_(None), outbox.c.available_at <= sa.bindparam("now"))
    .order_by(outbox.c.seq)
    .limit(sa.bindparam("limit"))
)
# several relays (PostgreSQL replicas): each row goes out through the one that locked it
_DUE_LOCKED = _DUE.with_for_update(of=outbox, skip_locked=True)


def due_and_next(
    conn: Connection, *, limit: int, lock: bool
) -> tuple[list[OutboxMessage], datetime | None]:
    """One batch of due rows in outbox order, and when the earliest delayed row falls due."""
    now = utcnow()
    due = conn.execute(_DUE_LOCKED if lock else _DUE, {"now": now, "limit": limit}).all()
    if not due:
        return [], conn.execute(_NEXT_DELAYED, {"now": now}).scalar_one_or_none()
    rows = [OutboxMessage(row[0], row[1], row[2], row[3]) for row in due]
    return rows, due[0][-1]


_MARK_SENT = {
    dialect: sa.update(outbox)
    .where(one_of(outbox.c.message_id, "ids", dialect))
    .values({outbox.c.published_at: sa.bindparam("now")})
    for dialect in DIALECTS
}


def mark_sent(conn: Connection, ids: Sequence[UUID]) -> None:
    if ids:
        conn.execute(_MARK_SENT[conn.dialect.name], {"ids": list(ids), "now": utcnow()})


def purge(conn: Connection) -> None:
    """Drop messages published more than a day ago."""
    conn.execute(sa.delete(outbox).where(outbox.c.published_at < utcnow() - RETENTION))


def pending(conn: Connection) -> int:
    stmt = sa.select(sa.func.count()).where(outbox.c.published_at.is_(None))
    return int(conn.execute(stmt).scalar_one())
