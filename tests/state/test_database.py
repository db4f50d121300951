"""The state service's database connections outlive what PostgreSQL does to them."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schemas.flow_runs import FlowRunCreate, StateCreate
from schemas.ids import uuid7
from schemas.states import StateType, utcnow
from services.state import store
from services.state.db.engine import Database, migrate
from services.state.metrics import StateMetrics
from services.state.service import StateService
from tests.state.conftest import fast_settings

_OTHERS = (
    "pid <> pg_backend_pid() AND datname = current_database() AND backend_type = 'client backend'"
)


async def test_connections_postgres_closed_are_replaced_before_use(postgres_url: str) -> None:
    database = Database(postgres_url)
    await migrate(database)
    service = StateService(database, fast_settings(postgres_url), StateMetrics())
    admin = Database(postgres_url)
    try:
        run = await service.create_flow_run(FlowRunCreate(name="nightly-etl"))
        # several connections in the pool, then the server ends them all, as a restart does
        await asyncio.gather(*(service.read_flow_run(run.id) for _ in range(5)))
        end_all = sa.text(
            f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE {_OTHERS}"
        )
        ended = await admin.read(lambda conn: conn.execute(end_all).scalar_one())
        assert ended >= 1
        await _until_gone(admin)

        results = await asyncio.gather(
            *(service.set_state(run.id, StateCreate(type=StateType.RUNNING)) for _ in range(3)),
            *(service.read_flow_run(run.id) for _ in range(5)),
        )

        assert all(result is not None for result in results)
        assert (await service.read_flow_run(run.id)).state_type is StateType.RUNNING
    finally:
        await admin.close()
        await database.close()


async def _until_gone(admin: Database) -> None:
    """Until the ended server processes are gone, and the client has seen its sockets close."""
    count = sa.text(f"SELECT count(*) FROM pg_stat_activity WHERE {_OTHERS}")
    for _ in range(500):
        if await admin.read(lambda conn: conn.execute(count).scalar_one()) == 0:
            await asyncio.sleep(0.2)
            return
        await asyncio.sleep(0.01)
    raise AssertionError("PostgreSQL did not end the connections")


@pytest.mark.parametrize("rows", [1, 3])
async def test_a_value_too_long_for_its_column_is_refused_however_many_rows(
    postgres_url: str, rows: int
) -> None:
    """Several rows go to PostgreSQL as arrays; their casts must not cut a value short."""
    database = Database(postgres_url)
    await migrate(database)
    service = StateService(database, fast_settings(postgres_url), StateMetrics())
    try:
        run = await service.create_flow_run(FlowRunCreate(name="nightly-etl"))
        states = [
            {
                "id": uuid7(),
                "flow_run_id": run.id,
                "type": "RUNNING",
                "name": "x" * 80,  # the column holds 64
                "timestamp": utcnow(),
                "message": None,
                "state_details": {},
            }
            for _ in range(rows)
        ]

        def write(conn: Connection) -> None:
            store.insert_states(conn, states)

        with pytest.raises(sa.exc.DBAPIError, match="too long"):
            await database.write(write)
        assert await service.states(run.id) == []
    finally:
        await database.close()
