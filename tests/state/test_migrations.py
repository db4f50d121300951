"""A database made by an earlier release upgrades in place and keeps what it held."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schemas.states import utcnow
from services.state.db.engine import Database, migrate
from services.state.db.tables import outbox
from services.state.metrics import StateMetrics
from services.state.outbox import OutboxRelay
from services.transport.memory import InMemoryBus


async def test_unsent_events_of_a_0001_database_go_out_after_the_upgrade(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")  # an earlier URL form
    bus = InMemoryBus()
    await bus.start()
    try:
        await migrate(database, "0001")
        now = utcnow()

        def enqueue(conn: Connection) -> None:
            rows = [
                {"key": "due-1", "available_at": now - timedelta(seconds=1)},
                {"key": "later", "available_at": now + timedelta(hours=1)},
                {"key": "due-2", "available_at": now},
            ]
            conn.execute(
                sa.insert(outbox),
                [
                    {
                        "message_id": uuid4(),
                        "topic": "cancelbus.test",
                        "payload": f'{{"n": "{row["key"]}"}}',
                        "created_at": now,
                        **row,
                    }
                    for row in rows
                ],
            )

        await database.write(enqueue)
        await migrate(database)

        relay = OutboxRelay(database, bus, StateMetrics())
        assert await relay.publish_due() == 2
        assert [r.key for r in bus.messages("cancelbus.test")] == [b"due-1", b"due-2"]
        assert await relay.publish_due() == 0
        assert await relay.pending() == 1  # the delayed one waits for its time
    finally:
        await bus.stop()
        await database.close()
