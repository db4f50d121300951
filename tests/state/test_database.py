"""The state service's database connections outlive what PostgreSQL does to them."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url

from schemas.flow_runs import FlowRunCreate, StateCreate
from schemas.ids import uuid7
from schemas.states import StateType, utcnow
from services.state import store
from services.state.db.engine import Database, migrate
from services.state.metrics import StateMetrics
from services.state.rows import StateRow
from services.state.service import StateService
from tests.state.conftest import fast_settings

_OTHERS = (
    "pid <> pg_backend_pid() AND datname = current_database() AND backend_type = 'client backend'"
)


async def test_connections_postgres_closed_are_replaced_before_use(postgres_url: str) -> None:
    database = Database(postgres_url)
    await migrate(database)
    service = StateService(database, fast_settings(postgres_url).orchestration, StateMetrics())
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
    service = StateService(database, fast_settings(postgres_url).orchestration, StateMetrics())
    try:
        run = await service.create_flow_run(FlowRunCreate(name="nightly-etl"))
        states = [
            StateRow(
                id=uuid7(),
                flow_run_id=run.id,
                type="RUNNING",
                name="x" * 80,  # the column holds 64
                timestamp=utcnow(),
                message=None,
                state_details={},
            )
            for _ in range(rows)
        ]

        def write(conn: Connection) -> None:
            store.insert_states(conn, states)

        with pytest.raises(sa.exc.DBAPIError, match="too long"):
            await database.write(write)
        assert await service.states(run.id) == []
    finally:
        await database.close()


class SilentCut:
    """A TCP hop to PostgreSQL that can drop its connections as an idle timeout on a proxy
    or NAT does: the client is told nothing until it sends, and then its connection resets."""

    def __init__(self, host: str, port: int) -> None:
        self._upstream = (host, port)
        self._open: set[asyncio.StreamWriter] = set()  # by their client side
        self._cut: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def cut(self) -> None:
        """Drop the connections open now; new ones pass."""
        self._cut |= self._open

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection(*self._upstream)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._open.add(client_w)
        try:
            await asyncio.gather(self._to_server(client_r, client_w, up_w), _pipe(up_r, client_w))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            up_w.close()
            self._tasks.discard(task)
            self._open.discard(client_w)

    async def _to_server(
        self,
        client_r: asyncio.StreamReader,
        client_w: asyncio.StreamWriter,
        up_w: asyncio.StreamWriter,
    ) -> None:
        while data := await client_r.read(65536):
            if client_w in self._cut:  # the first word after the cut: reset, no FIN before
                up_w.close()
                sock = client_w.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client_w.transport.abort()
                return
            up_w.write(data)
            await up_w.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()  # the server hung up: so does the hop


async def test_idle_connections_cut_on_the_way_are_replaced_before_use(postgres_url: str) -> None:
    url = make_url(postgres_url)
    hop = SilentCut(url.host or "127.0.0.1", url.port or 5432)
    port = await hop.start()
    through_hop = url.set(port=port).render_as_string(hide_password=False)
    database = Database(through_hop, idle_check_seconds=0.2)
    await migrate(database)
    service = StateService(database, fast_settings(through_hop).orchestration, StateMetrics())
    try:
        run = await service.create_flow_run(FlowRunCreate(name="nightly-etl"))
        await asyncio.gather(*(service.read_flow_run(run.id) for _ in range(5)))
        hop.cut()
        await asyncio.sleep(0.5)  # idle longer than idle_check_seconds

        await asyncio.gather(*(service.read_flow_run(run.id) for _ in range(5)))
        result = await service.set_state(run.id, StateCreate(type=StateType.RUNNING))

        assert result.state is not None
        assert (await service.read_flow_run(run.id)).state_type is StateType.RUNNING
    finally:
        await database.close()
        await hop.close()
