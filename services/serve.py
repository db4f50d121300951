"""Run an ASGI app with uvicorn inside the current event loop.

SIGINT and SIGTERM start a graceful shutdown (the lifespan stops consumers and the relay)
and the process then exits 0: a requested stop is not a failure.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from services.signals import on_stop_signals


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with on_stop_signals(lambda sig: self.handle_exit(sig, None)):
            yield


async def serve_http(app: FastAPI, host: str, port: int) -> None:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    await _Server(config).serve()
