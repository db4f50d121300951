"""Which workers are alive: heartbeats in, live scopes out (`GET /api/workers`).

A heartbeat is recorded with the state service's own clock, so a worker's clock skew
cannot make it look dead or alive; see liveness.py for when it counts as alive.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.infrastructure import InfrastructureId, InfrastructureKind
from schemas.messages import WorkerHeartbeat
from schemas.states import StateType, utcnow
from services.state.db.tables import flow_runs, workers
from services.state.liveness import is_alive

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
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, beat: WorkerHeartbeat) -> None:
        now = utcnow()
        values = {
            "kind": beat.kind.value,
            "scope": beat.scope,
            "version": beat.version,
            "last_seen": now,
            "interval_seconds": beat.interval_seconds,
        }
        async with self._engine.begin() as conn:
            updated = await conn.execute(
                sa.update(workers).where(workers.c.worker == beat.worker).values(**values)
            )
            if not updated.rowcount:
                await conn.execute(sa.insert(workers).values(worker=beat.worker, **values))
                # a new name often means a restarted worker: forget the long-silent ones
                await conn.execute(sa.delete(workers).where(workers.c.last_seen < now - FORGET))

    async def statuses(self) -> list[WorkerStatus]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(sa.select(workers))).mappings().all()
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
        async with self._engine.connect() as conn:
            pids = (await conn.execute(stmt)).scalars().all()
        orphaned = 0
        for pid in pids:
            target = InfrastructureId.parse(pid)
            orphaned += (target.kind, target.scope) not in live
        return orphaned
