"""The outbox relay: publishes messages committed with state changes, then marks them sent.

A crash between commit and publish loses nothing: unsent rows are found again at the next
pass (after a restart too). A crash between publish and mark publishes a row twice, which
every consumer tolerates (they are idempotent by event id and state id).

On SQLite, where one state service owns the database, the rows a commit wrote are also handed
to the relay as written, and it publishes those without reading them back: one database round
trip less between a state change and its event. It does so only while it is caught up with
the outbox (its last read found every due row), so no older unsent message of a run can go out
after a newer one; otherwise the rows wait for the next read, as on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from uuid import UUID

import structlog

from schemas.states import utcnow
from services.runtime.backoff import backoff
from services.state import outbox_store
from services.state.db.engine import Database, Work
from services.state.metrics import StateMetrics
from services.state.outbox_store import OutboxMessage, OutboxRow
from services.transport import Bus

log = structlog.get_logger(__name__)

MAX_HANDED_OVER = 5000  # more rows waiting than this: the relay reads them in batches instead
RECENT_IDS = 2 * MAX_HANDED_OVER  # ids published lately, so none goes out twice by both paths


class _RecentIds:
    """The last `size` ids added, for membership tests."""

    def __init__(self, size: int) -> None:
        self._order: collections.deque[UUID] = collections.deque()
        self._ids: set[UUID] = set()
        self._size = size

    def add_all(self, ids: Iterable[UUID]) -> None:
        for message_id in ids:
            if message_id not in self._ids:
                self._ids.add(message_id)
                self._order.append(message_id)
        while len(self._order) > self._size:
            self._ids.discard(self._order.popleft())

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._ids


class OutboxRelay:
    def __init__(
        self,
        database: Database,
        bus: Bus,
        metrics: StateMetrics,
        *,
        poll_seconds: float = 1.0,
        batch: int = 2000,
    ) -> None:
        self._db = database
        self._bus = bus
        self._metrics = metrics
        self._poll_seconds = poll_seconds
        self._batch = batch
        self._wake = asyncio.Event()
        self._stopping = False
        # the handover (SQLite only): rows committed and due, not yet published, by message id
        self._handover = database.is_sqlite
        self._fresh: dict[UUID, OutboxMessage] = {}
        self._caught_up = False
        self._missed = False  # rows were committed while not caught up: read before handover
        self._recent = _RecentIds(RECENT_IDS)
        # when to read the outbox even with rows handed over: delayed messages fall due there
        self._read_by = 0.0  # time.monotonic()

    def committed(self, rows: Sequence[OutboxRow]) -> None:
        """Called after a commit that wrote `rows` to the outbox: publishing starts at once."""
        if self._handover:
            if self._caught_up:
                now = utcnow()
                for row in rows:
                    if row.available_at > now:  # a retry with backoff: read when due
                        self._read_no_later_than(row.available_at)
                    elif row.message_id not in self._recent:
                        self._fresh[row.message_id] = row
                if len(self._fresh) > MAX_HANDED_OVER:  # falling behind: read them in batches
                    self._fall_behind()
            else:
                self._missed = True
        self._wake.set()

    def _read_no_later_than(self, due: datetime) -> None:
        due_in = (due - utcnow()).total_seconds()
        self._read_by = min(self._read_by, time.monotonic() + due_in)

    def _fall_behind(self) -> None:
        self._caught_up = False
        self._missed = True
        self._fresh.clear()

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
                self._fall_behind()
                failures += 1
                delay = backoff(failures + 1, base=self._poll_seconds, ceiling=10.0)
                log.warning("outbox_publish_failed", error=str(exc), retry_in=delay)
                await self._sleep(delay)
                continue
            if published >= self._batch:
                continue
            passes += 1
            if passes % 600 == 0:
                await self.purge()
            if not self._wake.is_set():
                # until the next poll, or the next delayed message (a retry with backoff) is due
                await self._sleep(max(self._read_by - time.monotonic(), 0.001))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def publish_due(self) -> int:
        """Publish the rows handed over, or else one batch of due messages in outbox order;
        return how many."""
        if self._fresh and self._caught_up and time.monotonic() < self._read_by:
            rows = list(self._fresh.values())
            self._fresh.clear()
            await self._publish(rows)
            await self._db.write(self._mark_sent(rows))
        elif self._db.is_sqlite:
            # one writer: don't hold the database while talking to the bus
            self._missed = False
            rows = self._read(await self._db.read(self._due_and_next(lock=False)))
            for row in rows:  # handed over while this read ran: this pass publishes them
                self._fresh.pop(row.message_id, None)
            # published already (a mark that failed, or handed over before this read)
            await self._publish([r for r in rows if r.message_id not in self._recent])
            await self._db.write(self._mark_sent(rows))
            self._caught_up = len(rows) < self._batch and not self._missed
            if not self._caught_up:  # older rows wait unread: the handed-over ones wait too
                self._fresh.clear()
        else:
            # several state replicas may run: the batch stays locked, so each row goes out
            # through one relay, until it is marked sent
            async with self._db.transaction() as step:
                rows = self._read(await step(self._due_and_next(lock=True)))
                await self._publish(rows)
                await step(self._mark_sent(rows))
        self._metrics.outbox_published.inc(len(rows))
        return len(rows)

    def _due_and_next(self, *, lock: bool) -> Work[tuple[list[OutboxMessage], datetime | None]]:
        return functools.partial(outbox_store.due_and_next, limit=self._batch, lock=lock)

    @staticmethod
    def _mark_sent(rows: Sequence[OutboxMessage]) -> Work[None]:
        return functools.partial(outbox_store.mark_sent, ids=[row.message_id for row in rows])

    def _read(self, found: tuple[list[OutboxMessage], datetime | None]) -> list[OutboxMessage]:
        """The due rows a read found; the next read is due at the next poll, or sooner when
        a delayed message falls due."""
        rows, next_delayed = found
        self._read_by = time.monotonic() + self._poll_seconds
        if next_delayed is not None:
            self._read_no_later_than(next_delayed)
        return rows

    async def _publish(self, rows: Sequence[OutboxMessage]) -> None:
        if rows:
            await self._bus.publish_many(
                [(row.topic, row.key, row.payload.encode(), ()) for row in rows]
            )
            self._recent.add_all(row.message_id for row in rows)

    async def purge(self) -> None:
        """Drop messages published more than a day ago."""
        await self._db.write(outbox_store.purge)

    async def pending(self) -> int:
        return await self._db.read(outbox_store.pending)
