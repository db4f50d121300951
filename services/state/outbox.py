"""The outbox relay: publishes messages committed with state changes, then marks them sent.

A crash between commit and publish loses nothing: unsent rows are found again at the next
pass (after a restart too). A crash between publish and mark publishes a row twice, which
every consumer tolerates (they are idempotent by event id and state id).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from schemas.states import utcnow
from services.state.db.engine import Database
from services.state.db.tables import outbox
from services.state.metrics import StateMetrics
from services.transport import Bus

log = structlog.get_logger(__name__)

RETENTION = timedelta(hours=24)


class OutboxRelay:
    def __init__(
        self,
        database: Database,
        bus: Bus,
        metrics: StateMetrics,
        *,
        poll_seconds: float = 1.0,
        batch: int = 500,
    ) -> None:
        self._db = database
        self._bus = bus
        self._metrics = metrics
        self._poll_seconds = poll_seconds
        self._batch = batch
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """Called after a commit that wrote to the outbox, so publishing starts at once."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        failures = 0
        passes = 0
        while not self._stopping:
            self._wake.clear()
            try:
                published = await self.publish_due()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = min(self._poll_seconds * 2**failures, 10.0)
                log.warning("outbox_publish_failed", error=str(exc), retry_in=delay)
                await self._sleep(delay)
                continue
            if published >= self._batch:
                continue
            passes += 1
            if passes % 600 == 0:
                await self.purge()
            await self._sleep(await self._until_next_due())

    async def _until_next_due(self) -> float:
        """Seconds until the earliest delayed message (a retry with backoff) is due, capped
        by the poll interval, so a retry goes out on time rather than at the next poll."""
        earliest = await self._db.read(_earliest_pending)
        if earliest is None:
            return self._poll_seconds
        wait = (earliest - utcnow()).total_seconds()
        return min(self._poll_seconds, max(wait, 0.001))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def publish_due(self) -> int:
        """Publish one batch of due messages in outbox order; return how many."""
        if self._db.is_sqlite:
            # one writer: don't hold the database while talking to the bus
            rows = await self._db.read(functools.partial(_due, limit=self._batch, lock=False))
            await self._publish(rows)
            await self._db.write(functools.partial(_mark_sent, rows=rows))
        else:
            # several state replicas may run: the batch stays locked, so each row goes out
            # through one relay, until it is marked sent
            async with self._db.transaction() as step:
                rows = await step(functools.partial(_due, limit=self._batch, lock=True))
                await self._publish(rows)
                await step(functools.partial(_mark_sent, rows=rows))
        self._metrics.outbox_published.inc(len(rows))
        return len(rows)

    async def _publish(self, rows: Sequence[Any]) -> None:
        if rows:
            await self._bus.publish_many(
                [(row.topic, row.key, row.payload.encode(), ()) for row in rows]
            )

    async def purge(self) -> None:
        """Drop messages published more than a day ago."""
        await self._db.write(_purge)

    async def pending(self) -> int:
        return await self._db.read(_pending)


def _earliest_pending(conn: Connection) -> datetime | None:
    stmt = sa.select(sa.func.min(outbox.c.available_at)).where(outbox.c.published_at.is_(None))
    earliest: datetime | None = conn.execute(stmt).scalar_one_or_none()
    return earliest


def _due(conn: Connection, *, limit: int, lock: bool) -> Sequence[Any]:
    stmt = (
        sa.select(outbox.c.seq, outbox.c.topic, outbox.c.key, outbox.c.payload)
        .where(outbox.c.published_at.is_(None), outbox.c.available_at <= utcnow())
        .order_by(outbox.c.seq)
        .limit(limit)
    )
    if lock:
        stmt = stmt.with_for_update(skip_locked=True)
    return conn.execute(stmt).all()


def _mark_sent(conn: Connection, rows: Sequence[Any]) -> None:
    if rows:
        conn.execute(
            sa.update(outbox)
            .where(outbox.c.seq.in_([row.seq for row in rows]))
            .values(published_at=utcnow())
        )


def _purge(conn: Connection) -> None:
    conn.execute(sa.delete(outbox).where(outbox.c.published_at < utcnow() - RETENTION))


def _pending(conn: Connection) -> int:
    stmt = sa.select(sa.func.count()).where(outbox.c.published_at.is_(None))
    return int(conn.execute(stmt).scalar_one())
