"""The API calls, described once: what to send and how to read the answer.

The async and the sync client both execute these; only the I/O differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

import httpx
from pydantic import BaseModel, TypeAdapter

from schemas.flow_runs import (
    BulkCancel,
    BulkCancelResult,
    FlowRun,
    FlowRunCreate,
    FlowRunFilter,
    FlowRunFilterCriteria,
    IdFilter,
    StateCreate,
    StateFilter,
    StateTypeFilter,
    TagsFilter,
)
from schemas.history import CancellationAttempt
from schemas.orchestration import Status
from schemas.states import State, StateType
from services.client.errors import (
    ApiError,
    AutomationNotFound,
    FlowRunNotFound,
    Unauthorized,
    Unavailable,
)

T = TypeVar("T")


class OrchestrationResult(BaseModel):
    """The answer to a proposed state, as Prefect shapes it."""

    state: State | None
    status: Status
    details: dict[str, Any]

    @property
    def reason(self) -> str | None:
        reason = self.details.get("reason")
        return str(reason) if reason is not None else None


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[Any], T]
    json: Any = None
    run_id: UUID | None = None  # a 404 means this run does not exist
    automation_id: UUID | None = None  # a 404 means this automation does not exist


def check(call: Call[T], response: httpx.Response) -> T:
    """The parsed answer, or the typed error the status code means."""
    if response.status_code == 401:
        raise Unauthorized(f"unauthorized: {_detail(response)} (set CANCELBUS_API_TOKEN)")
    if response.status_code == 404 and call.run_id is not None:
        raise FlowRunNotFound(call.run_id)
    if response.status_code == 404 and call.automation_id is not None:
        raise AutomationNotFound(call.automation_id)
    if response.status_code >= 500:
        raise Unavailable(f"the state service failed: HTTP {response.status_code}")
    if response.status_code >= 400:
        raise ApiError(response.status_code, _detail(response))
    return call.parse(response.json() if response.content else None)


def transport_error(api_url: str, exc: httpx.TransportError, timeout: float) -> Unavailable:
    if isinstance(exc, httpx.TimeoutException):
        return Unavailable(f"no answer from {api_url} within {timeout:g} s")
    if isinstance(exc, httpx.ConnectError):
        return Unavailable(f"cannot connect to {api_url}: {_first_line(exc)}")
    return Unavailable(f"lost the connection to {api_url}: {_first_line(exc)}")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    if isinstance(detail, list):
        return "; ".join(_field_error(item) for item in detail) or response.text
    return detail if isinstance(detail, str) else str(detail)


def _field_error(item: Any) -> str:
    """One of FastAPI's validation errors as `trigger.posture: Field required`."""
    if not isinstance(item, dict):
        return str(item)
    loc = [str(part) for part in item.get("loc", []) if part != "body"]
    message = str(item.get("msg", "invalid"))
    return f"{'.'.join(loc)}: {message}" if loc else message


def _model(model: type[BaseModel]) -> Callable[[Any], Any]:
    return model.model_validate


def flow_run_filter(
    *,
    states: Iterable[StateType | str] = (),
    tags: Iterable[str] = (),
    ids: Iterable[UUID] = (),
    limit: int = 200,
    offset: int = 0,
) -> FlowRunFilter:
    """Runs in any of `states`, carrying all of `tags`, among `ids` (each if given)."""
    return FlowRunFilter(
        flow_runs=criteria(states=states, tags=tags, ids=ids), limit=limit, offset=offset
    )


def criteria(
    *, states: Iterable[StateType | str] = (), tags: Iterable[str] = (), ids: Iterable[UUID] = ()
) -> FlowRunFilterCriteria:
    state_types = [StateType(s.upper()) if isinstance(s, str) else s for s in states]
    tag_list, id_list = list(tags), list(ids)
    return FlowRunFilterCriteria(
        state=StateFilter(type=StateTypeFilter(any_=state_types)) if state_types else None,
        tags=TagsFilter(all_=tag_list) if tag_list else None,
        id=IdFilter(any_=id_list) if id_list else None,
    )


_RUNS = TypeAdapter(list[FlowRun])
_STATES = TypeAdapter(list[State])
_ATTEMPTS = TypeAdapter(list[CancellationAttempt])


def create_flow_run(body: FlowRunCreate) -> Call[FlowRun]:
    return Call(
        "POST", "flow_runs/", _model(FlowRun), body.model_dump(mode="json", exclude_none=True)
    )


def read_flow_run(run_id: UUID) -> Call[FlowRun]:
    return Call("GET", f"flow_runs/{run_id}", _model(FlowRun), run_id=run_id)


def read_flow_runs(query: FlowRunFilter | None) -> Call[list[FlowRun]]:
    body = (query or FlowRunFilter()).model_dump(mode="json", exclude_none=True)
    return Call("POST", "flow_runs/filter", _RUNS.validate_python, body)


def set_flow_run_state(
    run_id: UUID,
    state: StateCreate,
    *,
    force: bool = False,
    grace_seconds: float | None = None,
    requested_by: str | None = None,
) -> Call[OrchestrationResult]:
    body: dict[str, Any] = {"state": state.model_dump(mode="json"), "force": force}
    if grace_seconds is not None:
        body["grace_seconds"] = grace_seconds
    if requested_by is not None:
        body["requested_by"] = requested_by
    return Call(
        "POST", f"flow_runs/{run_id}/set_state", _model(OrchestrationResult), body, run_id=run_id
    )


def bulk_cancel(body: BulkCancel) -> Call[BulkCancelResult]:
    return Call(
        "POST",
        "flow_runs/cancel",
        _model(BulkCancelResult),
        body.model_dump(mode="json", exclude_none=True),
    )


def states(run_id: UUID) -> Call[list[State]]:
    return Call("GET", f"flow_runs/{run_id}/states", _STATES.validate_python, run_id=run_id)


def cancellation_history(run_id: UUID) -> Call[list[CancellationAttempt]]:
    return Call("GET", f"flow_runs/{run_id}/cancellation", _ATTEMPTS.validate_python, run_id=run_id)


def bulk_body(
    which: FlowRunFilter | FlowRunFilterCriteria,
    *,
    reason: str | None,
    grace_seconds: float | None,
    requested_by: str | None,
    limit: int | None,
) -> BulkCancel:
    found = which.flow_runs if isinstance(which, FlowRunFilter) else which
    return BulkCancel(
        flow_runs=found or FlowRunFilterCriteria(),
        reason=reason,
        grace_seconds=grace_seconds,
        requested_by=requested_by,
        limit=limit,
    )


def targets(states: Iterable[StateType | str]) -> frozenset[StateType]:
    found = frozenset(StateType(s.upper()) if isinstance(s, str) else s for s in states)
    if not found:
        raise ValueError("name at least one state to wait for")
    return found


def headers(token: str | None, user_agent: str) -> dict[str, str]:
    values = {"user-agent": user_agent}
    if token:
        values["authorization"] = f"Bearer {token}"
    return values


def stream_path(run_id: UUID | None) -> str:
    return f"flow_runs/{run_id}/events" if run_id is not None else "events"
