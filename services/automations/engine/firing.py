"""What the engine answers: where an event is evaluated (Route) and what fired (Firing).

A firing's id is a function of the rule, the bucket and the window's start only, so replaying
the same events after a crash or a partition move yields the same ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol
from uuid import NAMESPACE_URL, UUID, uuid5

from schemas.events import RESOURCE_ID, Event, flow_run_id_of

FIRING_NAMESPACE = uuid5(NAMESPACE_URL, "https://cancelbus/automations/firing")


@dataclass(frozen=True, slots=True)
class Route:
    """One (automation, trigger, bucket) an event is evaluated in, and the partition key it must
    be evaluated under so that exactly one replica owns the bucket."""

    automation_id: UUID
    trigger_id: UUID
    bucket: tuple[str, ...]
    key: str


def firing_id(
    automation_id: UUID,
    trigger_id: UUID,
    bucket: tuple[str, ...],
    window_start: datetime,
    key: str = "",
) -> UUID:
    """`uuid5(FIRING_NAMESPACE, "<automation>/<trigger>/<bucket>/<window start>")`; a window
    with no time span (a Reactive `within` of 0) adds "/<its opening event's id>", because
    a batch of state changes shares one timestamp and each event is a window of its own."""
    name = f"{automation_id}/{trigger_id}/{'/'.join(bucket)}/{window_start.isoformat()}"
    return uuid5(FIRING_NAMESPACE, f"{name}/{key}" if key else name)


@dataclass(frozen=True, slots=True)
class Firing:
    """A trigger of an automation fired: its actions are due.

    `fired_at` is event time (the triggering event's time, or a proactive window's end), so a
    replayed firing is the same in every field."""

    id: UUID
    automation_id: UUID
    trigger_id: UUID
    fired_at: datetime
    labels: dict[str, str] = field(hash=False)
    triggering_event: Event | None = field(hash=False)

    def flow_run_id(self) -> UUID | None:
        """Prefect's inference: the bucket's `prefect.resource.id` when it is a flow run, else
        the first flow run among the triggering event's resource and related resources."""
        run_id = flow_run_id_of(self.labels.get(RESOURCE_ID, ""))
        if run_id is not None:
            return run_id
        return self.triggering_event.flow_run_id() if self.triggering_event else None


class Fired(Protocol):
    @property
    def window_start(self) -> datetime: ...
    @property
    def fired_at(self) -> datetime: ...
    @property
    def event(self) -> Event | None: ...
    @property
    def key(self) -> str: ...


def make_firing(
    automation_id: UUID,
    trigger_id: UUID,
    bucket: tuple[str, ...],
    fired: Fired,
    labels: dict[str, str],
) -> Firing:
    ident = firing_id(automation_id, trigger_id, bucket, fired.window_start, fired.key)
    return Firing(ident, automation_id, trigger_id, fired.fired_at, labels, fired.event)


def in_utc(event: Event) -> Event:
    """The event with its time in UTC (a time without a zone is read as UTC), so times compare
    and a window's start names the same instant in every firing id."""
    moment = event.occurred_at
    if moment.tzinfo is not None and moment.utcoffset() == timedelta(0):
        return event
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return event.model_copy(update={"occurred_at": utc})
