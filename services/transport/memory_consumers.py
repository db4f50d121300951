"""The in-process bus's consumers: one task per (group, topic, partition), as Kafka's are.

`Positions` is where each consumer is: `handled` (one past the last record it finished, what
lag counts) and `committed` (what a Kafka group would commit before any commit cap: held
back by an unfinished record of a concurrent subscription). Ordered consumers run records in
order; concurrent ones run up to `max_in_flight` at once; broadcast ones read a partition of
their own, from the end at start (or the beginning), and commit nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from services.transport.base import Record, Subscription
from services.transport.dispatch import Dispatcher
from services.transport.memory_topics import PartitionLog
from services.transport.offsets import PartitionOffsets

Position = tuple[str, str, int]  # (group, topic, partition)


class Positions:
    def __init__(self, running: Callable[[], bool]) -> None:
        self.running = running
        self.handled: dict[Position, int] = {}
        self.committed: dict[Position, int] = {}
        self.progressed = asyncio.Event()

    def advance(self, position: Position, handled: int, committed: int) -> None:
        self.handled[position] = handled
        self.committed[position] = max(committed, self.committed.get(position, 0))
        self.progressed.set()
        self.progressed = asyncio.Event()


async def consume(
    positions: Positions,
    log: PartitionLog,
    sub: Subscription,
    dispatcher: Dispatcher,
    position: Position | None = None,
) -> None:
    """Run a partition's records in order from `position` (default: the group's), advancing
    it after each batch; a broadcast subscription commits nothing."""
    position = position or (sub.group, log.topic, log.partition)
    while positions.running():
        offset = positions.handled.get(position, 0)
        if offset >= len(log.records):
            await log.wait_beyond(offset)
            continue
        records = log.records[offset : offset + sub.max_batch]
        await dispatcher.run_subscription(records, sub)
        done = offset + len(records)
        positions.advance(position, done, 0 if sub.broadcast else done)


async def consume_concurrent(
    positions: Positions,
    log: PartitionLog,
    sub: Subscription,
    dispatcher: Dispatcher,
    slots: asyncio.Semaphore,
) -> None:
    position = (sub.group, log.topic, log.partition)
    handler = sub.handler
    assert handler is not None
    offsets = PartitionOffsets()
    running: set[asyncio.Task[None]] = set()

    async def run(record: Record) -> None:
        try:
            await dispatcher.run(record, handler)
        finally:
            slots.release()
        offsets.finish(record.offset)
        point = offsets.commit_point() or 0
        positions.advance(position, point, point)

    fetched = positions.handled.get(position, 0)
    try:
        while positions.running():
            if fetched >= len(log.records):
                await log.wait_beyond(fetched)
                continue
            await slots.acquire()
            record = log.records[fetched]
            offsets.start(fetched)
            fetched += 1
            task = asyncio.create_task(run(record))
            running.add(task)
            task.add_done_callback(running.discard)
        if running:
            await asyncio.wait(running)
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
