"""The database a benchmark runs on: a SQLite file, or a throw-away PostgreSQL server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from services.localinfra import PostgresServer


@contextlib.asynccontextmanager
async def bench_database(db: str, work: Path) -> AsyncIterator[str]:
    """The URL of a fresh database (`sqlite` or `postgres`), gone again after the block."""
    if db != "postgres":
        yield f"sqlite:///{work / f'bench-{db}.db'}"
        return
    postgres = PostgresServer()
    await asyncio.to_thread(postgres.start)
    try:
        yield postgres.create_database("bench")
    finally:
        await asyncio.to_thread(postgres.stop)
