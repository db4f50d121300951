"""The relay publishes every committed event once, in order per run, whichever way the rows
reach it: handed over after the commit, or read back from the outbox after the bus failed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schemas.flow_runs import FlowRunCreate, StateCreate
from schemas.states import StateType, utcnow
from schemas.topics import Topics
from services.state.db.engine import Database, Work, migrate
from services.state.db.tables import outbox
from services.state.metrics import StateMetrics
from services.state.outbox import OutboxRelay
from services.state.outbox_store import OutboxRow
from services.state.service import StateService
from services.state.settings import OrchestrationSettings

T = TypeVar("T")

Published = tuple[str, str, dict[str, Any]]


class RecordingBus:
    """Keeps what is published; raises while `down` is set, as a bus whose broker is gone."""

    def __init__(self) -> None:
        self.published: list[Published] = []
        self.down = False
        self.refused = asyncio.Event()  # a publish was attempted while down
        self.grew = asyncio.Event()

    async def publish_many(
        self, messages: Sequence[tuple[str, str, bytes, Sequence[tuple[str, bytes]]]]
    ) -> None:
        if self.down:
            self.refused.set()
            raise ConnectionError("broker unreachable")
        self.published.extend((t, key, json.loads(value)) for t, key, value, _ in messages)
        self.grew.set()

    def state_changes(self, run_id: UUID) -> list[str]:
        return [
            payload["state"]["type"]
            for topic, key, payload in self.published
            if topic == Topics.STATE_CHANGES and key == str(run_id)
        ]


class Relayed:
    def __init__(
        self, database: Database, service: StateService, relay: OutboxRelay, bus: RecordingBus
    ) -> None:
        self.database = database
        self.service = service
        self.relay = relay
        self.bus = bus

    async def until_published(self, count: int) -> None:
        async with asyncio.timeout(10):
            while len(self.bus.published) < count:
                self.bus.grew.clear()
                await self.bus.grew.wait()
        assert await self.relay.pending() == 0

    async def running_run(self, tag: str) -> UUID:
        run = await self.service.create_flow_run(
            FlowRunCreate(name=tag, tags=[tag], infrastructure_pid="relayhost:4242")
        )
        await self.service.set_state(run.id, StateCreate(type=StateType.RUNNING))
        return run.id


@pytest.fixture
async def relayed(tmp_path: Path) -> AsyncIterator[Relayed]:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    database = Database(url)
    await migrate(database)
    bus = RecordingBus()
    relay = OutboxRelay(database, bus, StateMetrics(), poll_seconds=0.05)  # type: ignore[arg-type]
    service = StateService(
        database, OrchestrationSettings(), StateMetrics(), on_outbox_write=relay.committed
    )
    task = asyncio.create_task(relay.run())
    try:
        yield Relayed(database, service, relay, bus)
    finally:
        relay.stop()
        await task
        await database.close()


async def test_every_event_goes_out_once_in_the_order_of_its_run(relayed: Relayed) -> None:
    runs = [await relayed.running_run(f"run-{i}") for i in range(30)]
    await asyncio.gather(
        *(relayed.service.set_state(r, StateCreate(type=StateType.CANCELLING)) for r in runs)
    )
    # per run: RUNNING, CANCELLING and the CancellationRequested
    await relayed.until_published(3 * len(runs))
    ids = [payload["id"] for _, _, payload in relayed.bus.published]
    assert len(ids) == len(set(ids)) == 3 * len(runs)
    for run_id in runs:
        assert relayed.bus.state_changes(run_id) == ["RUNNING", "CANCELLING"]


async def test_events_held_back_while_the_bus_was_down_go_out_before_later_ones(
    relayed: Relayed,
) -> None:
    run_id = await relayed.running_run("held-back")
    await relayed.until_published(1)

    relayed.bus.down = True
    await relayed.service.set_state(run_id, StateCreate(type=StateType.CANCELLING))
    await asyncio.wait_for(relayed.bus.refused.wait(), 10)  # the relay tried, now backs off
    assert await relayed.relay.pending() == 2
    relayed.bus.down = False
    # committed as soon as the bus is back: must not overtake the two held back
    await relayed.service.set_state(run_id, StateCreate(type=StateType.CANCELLED), force=True)

    await relayed.until_published(4)
    assert relayed.bus.state_changes(run_id) == ["RUNNING", "CANCELLING", "CANCELLED"]
    ids = [payload["id"] for _, _, payload in relayed.bus.published]
    assert len(ids) == len(set(ids))


async def test_a_bulk_cancellation_is_published_once_however_fast_it_commits(
    relayed: Relayed,
) -> None:
    runs = [await relayed.running_run("bulk") for _ in range(40)]
    await relayed.until_published(len(runs))
    # batches of the bulk commit while the relay publishes the previous ones
    for batch in range(0, len(runs), 10):
        await asyncio.gather(
            *(
                relayed.service.set_state(r, StateCreate(type=StateType.CANCELLING))
                for r in runs[batch : batch + 10]
            )
        )
    await relayed.until_published(3 * len(runs))
    await asyncio.sleep(0.2)  # a second copy would show up by now
    assert len(relayed.bus.published) == 3 * len(runs)
    for run_id in runs:
        assert relayed.bus.state_changes(run_id) == ["RUNNING", "CANCELLING"]


class HandOverLate(Database):
    """Delivers a held handover right after the relay's next read of the outbox."""

    held: Sequence[OutboxRow] = ()
    relay: OutboxRelay | None = None

    async def read(self, work: Work[T]) -> T:
        result = await super().read(work)
        if self.held and self.relay is not None:
            held, self.held = self.held, ()
            self.relay.committed(held)
        return result


@pytest.mark.parametrize("handover", ["during the read", "after the publish"])
async def test_rows_read_back_and_handed_over_as_well_go_out_once(
    tmp_path: Path, handover: str
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    database = HandOverLate(url)
    await migrate(database)
    bus = RecordingBus()
    relay = OutboxRelay(database, bus, StateMetrics())  # type: ignore[arg-type]
    held: list[Sequence[OutboxRow]] = []
    service = StateService(
        database, OrchestrationSettings(), StateMetrics(), on_outbox_write=held.append
    )
    try:
        assert await relay.publish_due() == 0  # caught up: commits are handed over from now
        run = await service.create_flow_run(FlowRunCreate(infrastructure_pid="relayhost:1"))
        await service.set_state(run.id, StateCreate(type=StateType.RUNNING))
        (rows,) = held
        if handover == "during the read":
            database.held, database.relay = rows, relay
        assert await relay.publish_due() == 1  # read back, as after a poll
        if handover == "after the publish":
            relay.committed(rows)
        await relay.publish_due()
        assert [payload["state"]["type"] for _, _, payload in bus.published] == ["RUNNING"]
        assert await relay.pending() == 0
    finally:
        await database.close()


async def test_a_delayed_message_goes_out_when_due_while_commits_keep_coming(
    relayed: Relayed,
) -> None:
    delayed = {"id": "a-retry-with-backoff"}

    def enqueue_delayed(conn: Connection) -> None:
        conn.execute(
            sa.insert(outbox),
            [
                {
                    "message_id": uuid4(),
                    "topic": Topics.CANCEL_REQUESTED,
                    "key": "retried-run",
                    "payload": json.dumps(delayed),
                    "created_at": utcnow(),
                    "available_at": utcnow() + timedelta(seconds=0.2),
                }
            ],
        )

    await relayed.database.write(enqueue_delayed)
    # commits back to back, each handed over to the relay, for up to 3 s
    deadline = asyncio.get_running_loop().time() + 3
    while delayed not in [payload for _, _, payload in relayed.bus.published]:
        assert asyncio.get_running_loop().time() < deadline, "held back by the handovers"
        await relayed.running_run("busy")
