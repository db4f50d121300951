"""Run an ASGI app with uvicorn inside the current event loop.

SIGINT and SIGTERM start a graceful shutdown (the lifespan stops consumers and the relay)
and the process then exits 0: a requested stop is not a failure.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator

import uvicorn
from fastapi import FastAPI

from services.runtime.signals import on_stop_signals


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_listening: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_listening = on_listening

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with on_stop_signals(lambda sig: self.handle_exit(sig, None)):
            yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # the lifespan has started the services; the port is bound only now
        await super().startup(sockets)
        if self.started:
            self._on_listening()


async def serve_http(
    app: FastAPI, host: str, port: int, on_listening: Callable[[], None] = lambda: None
) -> None:
    """Serve until a stop signal; `on_listening` runs once the port accepts connections (a
    "ready" message printed from the lifespan would come before that)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    await _Server(config, on_listening).serve()
