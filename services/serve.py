"""Run an ASGI app with uvicorn inside the current event loop (Ctrl-C / SIGTERM stop it)."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI


async def serve_http(app: FastAPI, host: str, port: int) -> None:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    await uvicorn.Server(config).serve()
