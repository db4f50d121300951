"""Worker liveness as the state service keeps it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schemas.infrastructure import InfrastructureKind
from schemas.messages import WorkerHeartbeat
from services.state.db.engine import Database, migrate
from services.state.db.tables import workers
from services.state.worker_registry import FORGET, WorkerRegistry


def beat(name: str) -> WorkerHeartbeat:
    return WorkerHeartbeat(
        worker=name,
        kind=InfrastructureKind.PROCESS,
        scope="host-a",
        version="1",
        interval_seconds=5,
    )


async def test_workers_silent_for_a_day_are_forgotten_when_a_new_one_appears(
    tmp_path: Path,
) -> None:
    database = Database(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        await migrate(database)
        registry = WorkerRegistry(database)
        await registry.record(beat("worker-old"))
        await registry.record(beat("worker-quiet"))

        def silence_old(conn: Connection) -> None:
            old = sa.select(workers.c.last_seen).where(workers.c.worker == "worker-old")
            seen = conn.execute(old).scalar_one()
            conn.execute(
                sa.update(workers)
                .where(workers.c.worker == "worker-old")
                .values(last_seen=seen - FORGET - timedelta(minutes=1))
            )

        await database.write(silence_old)

        await registry.record(beat("worker-quiet"))  # a known worker: nothing pruned
        assert {w.worker for w in await registry.statuses()} == {"worker-old", "worker-quiet"}
        await registry.record(beat("worker-new"))

        statuses = await registry.statuses()
        assert {w.worker for w in statuses} == {"worker-quiet", "worker-new"}
        assert all(w.alive for w in statuses)
    finally:
        await database.close()
