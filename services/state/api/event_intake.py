"""`POST /api/events`: producers' events by HTTP, in Prefect's shape, onto `cancelbus.events`.

The body is one event or a list. Each is validated as the bus's `Event` (a resource without
`prefect.resource.id` is a 422 naming the field), and all are published, keyed by the run they
are about, before the answer: a 202 means the bus holds them durably (acks=all on Kafka).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import structlog
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import AliasChoices, ConfigDict, Field, ValidationError

from schemas.events import Event
from schemas.states import utcnow
from services.transport import Bus

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/api", tags=["events"])

MAX_EVENTS = 1000  # per request
BODY_MESSAGES = 16  # a body may be this many times the largest message the bus takes


class PostedEvent(Event):
    """An event as Prefect's clients send one: `occurred` for the bus's `occurred_at`, the
    event's `id` the sender's own; other keys are ignored, as Prefect's server does."""

    model_config = ConfigDict(extra="ignore")

    occurred_at: datetime = Field(
        default_factory=utcnow, validation_alias=AliasChoices("occurred", "occurred_at")
    )


def _event_schema() -> dict[str, Any]:
    return PostedEvent.model_json_schema(mode="validation")


class EventIntake:
    """Publishes posted events on the bus, each no larger than its consumers take."""

    def __init__(self, bus: Bus, *, max_message_bytes: int) -> None:
        self._bus = bus
        self.max_message_bytes = max_message_bytes

    async def publish(self, events: Sequence[tuple[Event, bytes]]) -> None:
        """Publish all, or raise 503 with the reason: the sender may send them again (an
        event's id is its own, so a consumer can tell a repeat)."""
        try:
            await self._bus.publish_many([(e.TOPIC, e.key, data, ()) for e, data in events])
        except Exception as exc:  # the broker unreachable, or refusing: the sender retries
            log.warning("events_not_published", events=len(events), error=repr(exc))
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, f"the bus did not take the events: {exc!r}"
            ) from exc


def _intake(request: Request) -> EventIntake:
    intake: EventIntake | None = getattr(request.app.state, "event_intake", None)
    if intake is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "this server has no bus")
    return intake


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body over {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body over {limit} bytes")
    return bytes(body)


def _validated(document: Any) -> list[PostedEvent]:
    """One event or a list of them; every invalid one is named in one 422."""
    many = isinstance(document, list)
    items = document if many else [document]
    if len(items) > MAX_EVENTS:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"at most {MAX_EVENTS} events at once"
        )
    events: list[PostedEvent] = []
    errors: list[Any] = []
    for index, item in enumerate(items):
        try:
            events.append(PostedEvent.model_validate(item))
        except ValidationError as exc:
            where = ("body", index) if many else ("body",)
            errors.extend(
                {**error, "loc": (*where, *error["loc"])}
                for error in exc.errors(include_url=False, include_context=False)
            )
    if errors:
        raise RequestValidationError(errors)
    return events


@router.post(
    "/events",
    status_code=status.HTTP_202_ACCEPTED,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "anyOf": [_event_schema(), {"type": "array", "items": _event_schema()}]
                    }
                }
            },
        }
    },
)
async def post_events(request: Request) -> list[UUID]:
    """Publish one event or a list (Prefect's shape: occurred, event, resource, related,
    payload, id, follows) to `cancelbus.events`; answers their ids once the bus holds them."""
    intake = _intake(request)
    body = await _body(request, BODY_MESSAGES * intake.max_message_bytes)
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": f"not JSON: {exc}"}]
        ) from exc
    encoded: list[tuple[Event, bytes]] = []
    for index, event in enumerate(_validated(document)):
        payload = event.model_dump_json().encode()
        if len(payload) > intake.max_message_bytes:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE,
                f"event {index} is {len(payload)} bytes, over {intake.max_message_bytes}",
            )
        encoded.append((event, payload))
    await intake.publish(encoded)
    return [event.id for event, _ in encoded]
