"""Flow-run endpoints under /api."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Request, Response, status

from schemas.flow_runs import (
    BulkCancel,
    BulkCancelResult,
    FlowRun,
    FlowRunCreate,
    FlowRunFilter,
    FlowRunUpdate,
)
from schemas.history import CancellationAttempt
from schemas.states import State, StateType
from services.state.api.models import CancellingRun, OrchestrationResultBody, SetStateBody
from services.state.changes import CancelRequest
from services.state.service import StateService
from services.state.worker_registry import WorkerRegistry, WorkerStatus

router = APIRouter(prefix="/api")

API_VERSION = "3.0.0"


def _service(request: Request) -> StateService:
    service: StateService = request.app.state.service
    return service


@router.get("/health", tags=["admin"])
async def health() -> bool:
    return True


@router.get("/admin/version", tags=["admin"])
async def version() -> str:
    """The Prefect API version this server is compatible with."""
    return API_VERSION


@router.post("/flow_runs/", status_code=status.HTTP_201_CREATED, tags=["flow runs"])
async def create_flow_run(body: FlowRunCreate, request: Request) -> FlowRun:
    return await _service(request).create_flow_run(body)


@router.post("/flow_runs/filter", tags=["flow runs"])
async def filter_flow_runs(request: Request, body: FlowRunFilter | None = None) -> list[FlowRun]:
    return await _service(request).filter_flow_runs(body or FlowRunFilter())


@router.post("/flow_runs/count", tags=["flow runs"])
async def count_flow_runs(request: Request, body: FlowRunFilter | None = None) -> int:
    return await _service(request).count_flow_runs(body.flow_runs if body else None)


@router.post("/flow_runs/cancel", tags=["cancellation"])
async def bulk_cancel(body: BulkCancel, request: Request) -> BulkCancelResult:
    """Cancel every run matching the filter; terminal runs are counted, not changed."""
    return await _service(request).bulk_cancel(body)


@router.get("/flow_runs/cancelling", tags=["cancellation"])
async def cancelling_runs(request: Request) -> list[CancellingRun]:
    """Every run now CANCELLING, with the state id and since when (for the timeout service)."""
    runs = await _service(request).cancelling_runs()
    return [CancellingRun(id=i, state_id=s, since=t) for i, s, t in runs]


@router.get("/flow_runs/{flow_run_id}", tags=["flow runs"])
async def read_flow_run(flow_run_id: UUID, request: Request) -> FlowRun:
    run = await _service(request).read_flow_run(flow_run_id)
    if run.state_type is StateType.CANCELLING and run.infrastructure is not None:
        alive = await _workers(request).alive_for(run.infrastructure)
        run = run.model_copy(update={"cancellation_worker_alive": alive})
    return run


@router.get("/workers", tags=["workers"])
async def read_workers(request: Request) -> list[WorkerStatus]:
    """Every worker seen, with its kind, scope, version and whether it is alive now."""
    return await _workers(request).statuses()


def _workers(request: Request) -> WorkerRegistry:
    workers: WorkerRegistry = request.app.state.workers
    return workers


@router.patch(
    "/flow_runs/{flow_run_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["flow runs"]
)
async def update_flow_run(flow_run_id: UUID, body: FlowRunUpdate, request: Request) -> None:
    await _service(request).update_flow_run(flow_run_id, body)


@router.post("/flow_runs/{flow_run_id}/set_state", tags=["flow runs"])
async def set_flow_run_state(
    flow_run_id: UUID,
    body: SetStateBody,
    request: Request,
    response: Response,
    user_agent: Annotated[str | None, Header()] = None,
) -> OrchestrationResultBody:
    cancel = CancelRequest(
        requested_by=body.requested_by or _caller(user_agent),
        reason=body.state.message,
        grace_seconds=body.grace_seconds,
    )
    result = await _service(request).set_state(
        flow_run_id, body.state, force=body.force, request=cancel
    )
    response.status_code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
    return OrchestrationResultBody(
        state=result.state, status=result.status, details=result.details()
    )


@router.get("/flow_runs/{flow_run_id}/states", tags=["flow runs"])
async def read_flow_run_states(flow_run_id: UUID, request: Request) -> list[State]:
    return await _service(request).states(flow_run_id)


@router.get("/flow_run_states/", tags=["flow runs"])
async def read_flow_run_states_prefect(flow_run_id: UUID, request: Request) -> list[State]:
    return await _service(request).states(flow_run_id)


@router.get("/flow_runs/{flow_run_id}/cancellation", tags=["cancellation"])
async def cancellation_history(flow_run_id: UUID, request: Request) -> list[CancellationAttempt]:
    """Every cancellation attempt: who asked, why, which worker, the outcome and timings."""
    return await _service(request).cancellation_history(flow_run_id)


def _caller(user_agent: str | None) -> str:
    return f"api ({user_agent})" if user_agent else "api"
