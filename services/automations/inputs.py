"""What the automations service reads: each input record as the event it evaluates.

- `cancelbus.state-changes`: a `FlowRunStateChanged`, as Prefect's `prefect.flow-run.<State>`
  event (schemas.events.state_change_event).
- `cancelbus.events`: a producer's `Event`; worker heartbeats share the topic and are skipped.
- `cancelbus.automation-buckets`: a `BucketEvent`, an event another replica re-keyed to the
  bucket this replica counts, with its route.

Anything else is refused with a reason (InvalidMessage: dead-lettered).
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.automation_messages import BucketEvent
from schemas.events import Event, state_change_event
from schemas.messages import FlowRunStateChanged, MessageRejected, parse_message
from schemas.topics import Topics
from services.automations.engine import Route
from services.transport import InvalidMessage, Record

INPUT_TOPICS = (Topics.STATE_CHANGES, Topics.EVENTS, Topics.AUTOMATION_BUCKETS)
_HEARTBEAT = b'"cancelbus.WorkerHeartbeat"'


@dataclass(frozen=True, slots=True)
class Input:
    """An event to evaluate: every route of it (`route` None), or the one route it was
    re-keyed for."""

    event: Event
    route: Route | None = None


def read_input(record: Record) -> Input | None:
    """The record's event; None for a record that is not for automations (a heartbeat)."""
    try:
        if record.topic == Topics.STATE_CHANGES:
            return Input(state_change_event(parse_message(FlowRunStateChanged, record.value)))
        if record.topic == Topics.AUTOMATION_BUCKETS:
            rekeyed = parse_message(BucketEvent, record.value)
            route = Route(
                automation_id=rekeyed.automation_id,
                trigger_id=rekeyed.trigger_id,
                bucket=tuple(rekeyed.bucket),
                key=rekeyed.bucket_key,
            )
            return Input(rekeyed.event, route)
        if _HEARTBEAT in record.value:
            return None  # the workers' own, for the state service
        return Input(parse_message(Event, record.value))
    except MessageRejected as exc:
        raise InvalidMessage(exc.reason) from exc


def rekeyed(route: Route, event: Event) -> BucketEvent:
    """The message that sends `event` to the replica owning `route.key`."""
    return BucketEvent(
        automation_id=route.automation_id,
        trigger_id=route.trigger_id,
        bucket=list(route.bucket),
        bucket_key=route.key,
        event=event,
    )
