"""The registry of worker heartbeats: heartbeats in, live scopes out (`GET /api/workers`).

A heartbeat is recorded with the state service's own clock, so a worker's clock skew
cannot make it look dead or alive; see worker_liveness.py for when it counts as alive.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import Connection, RowMapping

from schemas.infrastructure import InfrastructureId, InfrastructureKind
from schemas.messages import WorkerHeartbeat
from schemas.states import StateType, utcnow
from services.state.db.engine import Database
from services.state.db.tables import flow_runs, workers
from services.state.worker_liveness import is_alive

FORGET = timedelta(days=1)


class WorkerStatus(BaseModel):
    worker: str
    kind: InfrastructureKind
    scope: str
    version: str
    last_seen: datetime
    interval_seconds: float
    alive: bool


class WorkerRegistry:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def record(self, beat: WorkerHeartbeat) -> None:
        now = utcnow()
        values = {
            "kind": beat.kind.value,
            "scope": beat.scope,
            "version": beat.version,
            "last_seen": now,
            "interval_seconds": beat.interval_seconds,
        }

        def record(conn: Connection) -> None:
            updated = conn.execute(
                sa.update(workers).where(workers.c.worker == beat.worker).values(**values)
            )
            if not updated.rowcount:
                conn.execute(sa.insert(workers).values(worker=beat.worker, **values))
                # a new name often means a restarted worker: forget the long-silent ones
                conn.execute(sa.delete(workers).where(workers.c.last_seen < now - FORGET))

        await self._db.write(record)

    async def statuses(self) -> list[WorkerStatus]:
        rows = await self._db.read(_all_workers)
        now = utcnow()
        found = [
            WorkerStatus(**row, alive=is_alive(row["last_seen"], row["interval_seconds"], now))
            for row in rows
        ]
        return sorted(found, key=lambda w: (w.kind, w.scope, w.worker))

    async def live_scopes(self) -> set[tuple[InfrastructureKind, str]]:
        return {(w.kind, w.scope) for w in await self.statuses() if w.alive}

    async def alive_for(self, infrastructure: InfrastructureId) -> bool:
        return (infrastructure.kind, infrastructure.scope) in await self.live_scopes()

    async def cancelling_without_worker(self) -> int:
        """CANCELLING runs whose kind and scope no live worker serves."""
        live = await self.live_scopes()
        stmt = sa.select(flow_runs.c.infrastructure_pid).where(
            flow_runs.c.state_type == StateType.CANCELLING.value,
            flow_runs.c.infrastructure_pid.is_not(None),
        )
        pids = await self._db.read(lambda conn: conn.execute(stmt).scalars().all())
        orphaned = 0
        for pid in pids:
            target = InfrastructureId.parse(pid)
            orphaned += (target.kind, target.scope) not in live
        return orphaned


def _all_workers(conn: Connection) -> Sequence[RowMapping]:
    return conn.execute(sa.select(workers)).mappings().all()
