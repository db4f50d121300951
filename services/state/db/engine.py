"""The state service's database, SQLite (embedded) or PostgreSQL, and its migrations.

Each transaction is a plain function of a SQLAlchemy `Connection`, handed over whole:
- SQLite runs it on a database thread with the synchronous driver. SQLite's work per
  statement is microseconds, and an asyncio driver's thread hand-off per call cost more than
  the SQL itself (a `set_state` took 4.5 ms, now about 1 ms).
- PostgreSQL runs it on the event loop through asyncpg (`run_sync`): every statement is a
  network round trip there anyway, and asyncpg's batched writes are the fastest this service
  has measured; threads would only contend for the interpreter lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

# a pooled PostgreSQL connection idle this long is pinged before use
IDLE_CHECK_SECONDS = 5.0

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"

T = TypeVar("T")
Work = Callable[[Connection], T]
# runs one more piece of work in an open transaction
Step = Callable[[Work[T]], Awaitable[T]]

# Any driver named in the URL is accepted; these are the ones used.
_DRIVERS = {"sqlite": "sqlite+pysqlite", "postgresql": "postgresql+asyncpg"}


def database_url(url: str) -> str:
    """The URL with the driver this service uses: `sqlite:///p`, `sqlite+aiosqlite:///p`,
    `postgresql://…` and `postgresql+psycopg://…` all name the same database."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in _DRIVERS:
        raise ValueError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")
    return parsed.set(drivername=_DRIVERS[backend]).render_as_string(hide_password=False)


class Database:
    """Runs transactions, each a function of a connection, on SQLite or PostgreSQL."""

    def __init__(self, url: str, *, idle_check_seconds: float = IDLE_CHECK_SECONDS) -> None:
        self.url = database_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self._sqlite: Engine | None = None
        self._postgres: AsyncEngine | None = None
        if self.is_sqlite:
            _ensure_sqlite_dir(self.url)
            # one connection on one thread: SQLite has a single writer anyway
            self._sqlite = create_engine(self.url, pool_size=1, max_overflow=0)
            event.listen(self._sqlite, "connect", _sqlite_pragmas)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="cancelbus-sqlite")
        else:
            # last in, first out: the few connections in steady use have their statements
            # prepared; the rest stay idle instead of each preparing everything in turn
            self._postgres = create_async_engine(
                self.url, pool_size=10, max_overflow=10, pool_use_lifo=True
            )
            pool_events = self._postgres.sync_engine.pool
            event.listen(pool_events, "checkin", _note_idle)
            event.listen(pool_events, "checkout", functools.partial(_check, idle_check_seconds))

    async def write(self, work: Work[T]) -> T:
        """Run `work` in one transaction: committed if it returns, rolled back if it raises.
        On SQLite, once started it runs to the end even if the caller is cancelled."""
        if self._postgres is not None:
            async with self._postgres.begin() as conn:
                return await conn.run_sync(work)
        return await self._on_thread(functools.partial(_in_transaction, self._engine(), work))

    async def read(self, work: Work[T]) -> T:
        if self._postgres is not None:
            async with self._postgres.connect() as conn:
                return await conn.run_sync(work)
        return await self._on_thread(functools.partial(_on_connection, self._engine(), work))

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Step[Any]]:
        """One transaction over several steps, with awaits between them (PostgreSQL only:
        SQLite's single connection is not held across awaits)."""
        if self._postgres is None:
            raise NotImplementedError("SQLite transactions are one function: use write()")
        async with self._postgres.begin() as conn:
            yield conn.run_sync

    async def close(self) -> None:
        if self._postgres is not None:
            await self._postgres.dispose()
            return
        with contextlib.suppress(RuntimeError):  # already closed
            await self._on_thread(self._engine().dispose)
        self._thread.shutdown(wait=True)

    def _engine(self) -> Engine:
        assert self._sqlite is not None
        return self._sqlite

    async def _on_thread(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, call)


def _in_transaction(engine: Engine, work: Callable[[Connection], T]) -> T:
    with engine.begin() as conn:
        return work(conn)


def _on_connection(engine: Engine, work: Callable[[Connection], T]) -> T:
    with engine.connect() as conn:
        return work(conn)


def _note_idle(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info["idle_since"] = time.monotonic()


def _check(
    idle_check_seconds: float, dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any
) -> None:
    """Replace a pooled connection that is gone before it is used.

    One the server closed (a restart, an administrator) the driver has seen close. One that
    sat idle may have been cut without a word (a proxy's or NAT's idle timeout): that one is
    pinged first. A connection in steady use is not: a ping before every transaction
    (SQLAlchemy's pool_pre_ping) is three round trips.
    """
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("PostgreSQL closed the connection")
    idle_since = record.info.get("idle_since")
    if idle_since is not None and time.monotonic() - idle_since > idle_check_seconds:
        try:
            dbapi_connection.ping()
        except Exception as exc:
            raise DisconnectionError(f"idle connection unusable: {exc}") from exc


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split(":///", 1)[-1].split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _upgrade(revision: str, connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def migrate(database: Database, revision: str = "head") -> None:
    """Bring the schema up to `revision` (idempotent; safe at every start)."""
    await database.write(functools.partial(_upgrade, revision))
