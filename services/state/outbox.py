"""The outbox relay: publishes messages committed with state changes, then marks them sent.

A crash between commit and publish loses nothing: unsent rows are found again at the next
pass (after a restart too). A crash between publish and mark publishes a row twice, which
every consumer tolerates (they are idempotent by event id and state id).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from schemas.states import utcnow
from services.state.db.tables import outbox
from services.state.metrics import StateMetrics
from services.transport import Bus

log = structlog.get_logger(__name__)

RETENTION = timedelta(hours=24)


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        bus: Bus,
        metrics: StateMetrics,
        *,
        poll_seconds: float = 1.0,
        batch: int = 500,
    ) -> None:
        self._engine = engine
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
        async with self._engine.connect() as conn:
            stmt = sa.select(sa.func.min(outbox.c.available_at)).where(
                outbox.c.published_at.is_(None)
            )
            earliest: datetime | None = (await conn.execute(stmt)).scalar_one_or_none()
        if earliest is None:
            return self._poll_seconds
        wait = (earliest - utcnow()).total_seconds()
        return min(self._poll_seconds, max(wait, 0.001))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def publish_due(self) -> int:
        """Publish one batch of due messages in outbox order; return how many."""
        if self._engine.dialect.name == "postgresql":
            # several state replicas may run: lock the batch so each row goes to one relay
            async with self._engine.begin() as conn:
                rows = await self._due(conn, lock=True)
                await self._publish(rows)
                await self._mark_sent(conn, rows)
        else:
            # SQLite has one connection: don't hold it while talking to the bus
            async with self._engine.begin() as conn:
                rows = await self._due(conn, lock=False)
            await self._publish(rows)
            async with self._engine.begin() as conn:
                await self._mark_sent(conn, rows)
        self._metrics.outbox_published.inc(len(rows))
        return len(rows)

    async def _due(self, conn: AsyncConnection, *, lock: bool) -> Sequence[Any]:
        stmt = (
            sa.select(outbox.c.seq, outbox.c.topic, outbox.c.key, outbox.c.payload)
            .where(outbox.c.published_at.is_(None), outbox.c.available_at <= utcnow())
            .order_by(outbox.c.seq)
            .limit(self._batch)
        )
        if lock:
            stmt = stmt.with_for_update(skip_locked=True)
        return (await conn.execute(stmt)).all()

    async def _publish(self, rows: Sequence[Any]) -> None:
        if rows:
            await self._bus.publish_many(
                [(row.topic, row.key, row.payload.encode(), ()) for row in rows]
            )

    async def _mark_sent(self, conn: AsyncConnection, rows: Sequence[Any]) -> None:
        if rows:
            await conn.execute(
                sa.update(outbox)
                .where(outbox.c.seq.in_([row.seq for row in rows]))
                .values(published_at=utcnow())
            )

    async def purge(self) -> None:
        """Drop messages published more than a day ago."""
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.delete(outbox).where(outbox.c.published_at < utcnow() - RETENTION)
            )

    async def pending(self) -> int:
        async with self._engine.connect() as conn:
            stmt = sa.select(sa.func.count()).where(outbox.c.published_at.is_(None))
            return int((await conn.execute(stmt)).scalar_one())
