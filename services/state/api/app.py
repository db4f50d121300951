"""The FastAPI application of the state service."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.runtime.version import VERSION
from services.state.api.auth import BearerTokenMiddleware, TokenSessions
from services.state.api.automations import router as automations_router
from services.state.api.docs import install_docs
from services.state.api.events import router as events_router
from services.state.api.prefect_flows import router as prefect_flows_router
from services.state.api.routes import router
from services.state.errors import AutomationNotFound
from services.state.live_fanout import LiveEvents
from services.state.metrics import StateMetrics
from services.state.outbox import OutboxRelay
from services.state.service import FlowRunNotFound, StateService
from services.state.worker_registry import WorkerRegistry
from services.ui import install_ui

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(
    service: StateService,
    metrics: StateMetrics,
    relay: OutboxRelay,
    *,
    workers: WorkerRegistry,
    live: LiveEvents | None = None,
    api_token: str | None = None,
    lifespan: Lifespan | None = None,
) -> FastAPI:
    app = FastAPI(
        title="cancelbus",
        version=VERSION,
        description="Cancel running flow runs wherever they run. "
        "A compatible subset of Prefect 3's flow-run API, plus bulk cancel and history.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_docs(app)
    app.state.service = service
    app.state.workers = workers
    app.state.live = live or LiveEvents()
    app.include_router(router)
    app.include_router(events_router)
    app.include_router(prefect_flows_router)
    app.include_router(automations_router)
    install_ui(app, TokenSessions(api_token) if api_token else None)

    @app.exception_handler(FlowRunNotFound)
    async def not_found(_request: Request, exc: FlowRunNotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(AutomationNotFound)
    async def automation_not_found(_request: Request, exc: AutomationNotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(ValueError)
    async def bad_value(_request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        metrics.outbox_pending.set(await relay.pending())
        metrics.cancelling_without_worker.set(await workers.cancelling_without_worker())
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    if api_token:
        app.add_middleware(BearerTokenMiddleware, token=api_token)
    return app
