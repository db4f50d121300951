"""The live event stream (server-sent events): state changes and cancellation attempts.

`GET /api/flow_runs/{id}/events` starts with a `flow-run` event holding the run as it is
now, so a watcher never misses a change between reading and subscribing; then one event
per change: `state` (a FlowRunStateChanged), `cancellation-requested` and
`cancellation-result`. `GET /api/events` streams the changes of every run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import UUID

import anyio
from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from schemas.messages import CancellationRequested, CancellationResult, FlowRunStateChanged
from services.state.live_fanout import LiveEvents, LiveMessage, SubscriberTooSlow, Subscription
from services.state.service import StateService

router = APIRouter(prefix="/api", tags=["live events"])

PING_SECONDS = 10
SHUTDOWN_GRACE_SECONDS = 2.0  # streams end cleanly when the service stops
EVENT_NAMES: dict[type[LiveMessage], str] = {
    FlowRunStateChanged: "state",
    CancellationRequested: "cancellation-requested",
    CancellationResult: "cancellation-result",
}


def _sse(message: LiveMessage) -> ServerSentEvent:
    return ServerSentEvent(
        data=message.model_dump_json(), event=EVENT_NAMES[type(message)], id=str(message.id)
    )


async def _next(subscription: Subscription, shutdown: anyio.Event) -> LiveMessage | None:
    """The next change, or None once the service is shutting down."""
    getter = asyncio.ensure_future(subscription.next())
    stopper = asyncio.ensure_future(shutdown.wait())
    try:
        await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (getter, stopper):
            task.cancel()
    return getter.result() if getter.done() and not getter.cancelled() else None


async def _drain(
    subscription: Subscription, shutdown: anyio.Event
) -> AsyncIterator[ServerSentEvent]:
    while True:
        try:
            message = await _next(subscription, shutdown)
        except SubscriberTooSlow:
            return  # the client reconnects and reads the run afresh
        if message is None:
            return
        yield _sse(message)


def _response(stream: AsyncIterator[ServerSentEvent], shutdown: anyio.Event) -> EventSourceResponse:
    return EventSourceResponse(
        stream,
        ping=PING_SECONDS,
        shutdown_event=shutdown,
        shutdown_grace_period=SHUTDOWN_GRACE_SECONDS,
    )


@router.get(
    "/flow_runs/{flow_run_id}/events",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def flow_run_events(flow_run_id: UUID, request: Request) -> EventSourceResponse:
    """The run now (`flow-run`), then each change of it as it is committed."""
    service: StateService = request.app.state.service
    live: LiveEvents = request.app.state.live
    await service.read_flow_run(flow_run_id)  # 404 before the stream starts

    shutdown = anyio.Event()

    async def stream() -> AsyncIterator[ServerSentEvent]:
        with live.subscribe(flow_run_id) as subscription:  # before reading: no gap
            run = await service.read_flow_run(flow_run_id)
            yield ServerSentEvent(data=run.model_dump_json(), event="flow-run", id=str(run.id))
            async for event in _drain(subscription, shutdown):
                yield event

    return _response(stream(), shutdown)


@router.get(
    "/events",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def all_events(request: Request) -> EventSourceResponse:
    """Every run's changes as they are committed."""
    live: LiveEvents = request.app.state.live

    shutdown = anyio.Event()

    async def stream() -> AsyncIterator[ServerSentEvent]:
        with live.subscribe() as subscription:
            async for event in _drain(subscription, shutdown):
                yield event

    return _response(stream(), shutdown)
