"""The built-in per-run limit: a run tagged `cancelbus.max-runtime=<seconds>` is cancelled once
it has stayed RUNNING that long (Dagster's `dagster/max_runtime`), without any rule.

The window opens at the Running event's time (the state's timestamp, so a run's limit counts
from when it started running) and closes, unfired, at the run's next state event of any other
name. It fires at start + limit exactly, never before.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from uuid import NAMESPACE_URL, uuid5

from schemas.automations import Automation, CancelFlowRunAction, EventTrigger, Posture
from schemas.events import FLOW_RUN_PREFIX, RESOURCE_ID, RESOURCE_ROLE, Event, flow_run_id_of
from services.automations.engine.firing import Route
from services.automations.engine.windows import Fire, Step, Window

MAX_RUNTIME_TAG = "cancelbus.max-runtime"
MAX_RUNTIME_AUTOMATION_ID = uuid5(NAMESPACE_URL, f"https://cancelbus/automations/{MAX_RUNTIME_TAG}")
MAX_RUNTIME_TRIGGER_ID = uuid5(MAX_RUNTIME_AUTOMATION_ID, "trigger")
RUNNING = f"{FLOW_RUN_PREFIX}Running"
_TAG_PREFIX = f"prefect.tag.{MAX_RUNTIME_TAG}="
_CREATED = datetime(1970, 1, 1, tzinfo=UTC)

MAX_RUNTIME_AUTOMATION = Automation(
    id=MAX_RUNTIME_AUTOMATION_ID,
    created=_CREATED,
    updated=_CREATED,
    name=MAX_RUNTIME_TAG,
    description=f"A run tagged `{MAX_RUNTIME_TAG}=<seconds>` is cancelled once it has been "
    "RUNNING that long.",
    trigger=EventTrigger(
        id=MAX_RUNTIME_TRIGGER_ID,
        posture=Posture.PROACTIVE,
        after={RUNNING},
        expect={f"{FLOW_RUN_PREFIX}*"},
        for_each={RESOURCE_ID},
    ),
    actions=[CancelFlowRunAction()],
)


def limit_of(event: Event) -> timedelta | None:
    """The run's limit from its `cancelbus.max-runtime=<seconds>` tag, if it has a valid one."""
    for labels in event.related:
        resource = labels.get(RESOURCE_ID, "")
        if labels.get(RESOURCE_ROLE) == "tag" and resource.startswith(_TAG_PREFIX):
            try:
                seconds = float(resource.removeprefix(_TAG_PREFIX))
            except ValueError:
                continue
            if math.isfinite(seconds) and 0 < seconds <= 10 * 365 * 86400:
                return timedelta(seconds=seconds)
    return None


def route(event: Event) -> Route | None:
    """A run's own state events; a Running event only when the run has a limit."""
    resource = event.resource[RESOURCE_ID]
    if not event.event.startswith(FLOW_RUN_PREFIX) or flow_run_id_of(resource) is None:
        return None
    if event.event == RUNNING and limit_of(event) is None:
        return None
    return Route(MAX_RUNTIME_AUTOMATION_ID, MAX_RUNTIME_TRIGGER_ID, (resource,), event.key)


def apply_event(window: Window | None, event: Event) -> Step:
    at = event.occurred_at
    fires: list[Fire] = []
    if window is not None and window.end is not None and at >= window.end:
        fires = [Fire(window.start, window.end, window.last_event)]
        window = None
    if event.event != RUNNING:
        return None, fires  # the run left RUNNING: in time, or already fired
    limit = limit_of(event)
    if window is None and limit is not None:
        window = Window(at, at + limit, last_event=event)
    return window, fires


def close(window: Window) -> Step:
    assert window.end is not None
    return None, [Fire(window.start, window.end, window.last_event)]
