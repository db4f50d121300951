"""Which runs a rule would act on now (a dry run of an automation). Pure.

Each non-terminal run is judged by the event of its current state (`state_change_event`), the
one event about it the state service can show:
- a Reactive event trigger acts on the run when it covers that event (`covers`: the event's
  name is expected or opens a window, and its resources match); the threshold is not counted;
- a Proactive event trigger with `after` acts on the run when that event opens a window
  (`starts_after`, resources matching) and the window has ended already (state time +
  `within` <= now) with a threshold above zero: the run has not changed state since, so none of
  its state events were counted in it and the trigger would fire now. Events producers
  published in the window are not looked at. Without `after` a Proactive trigger watches for
  events that did not come, which names no run: it acts on none;
- a compound or sequence trigger acts on the union of the runs its children act on.
"""

from __future__ import annotations

from datetime import datetime

from schemas.automations import CompoundTrigger, EventTrigger, Posture, SequenceTrigger
from schemas.events import FLOW_RUN_PREFIX, Event
from schemas.matching import covers, covers_resources, starts_after

AnyTrigger = EventTrigger | CompoundTrigger | SequenceTrigger


def acts_on(trigger: AnyTrigger, event: Event, now: datetime) -> bool:
    """Whether the trigger would act now on the run whose current-state event is `event`."""
    if isinstance(trigger, EventTrigger):
        return _event_trigger_acts(trigger, event, now)
    return any(acts_on(child, event, now) for child in trigger.triggers)


def _event_trigger_acts(trigger: EventTrigger, event: Event, now: datetime) -> bool:
    if trigger.posture is Posture.REACTIVE:
        return covers(trigger, event)
    if not trigger.after or trigger.threshold <= 0:
        return False
    if not starts_after(trigger, event.event) or not covers_resources(trigger, event):
        return False
    return event.occurred_at + trigger.within <= now


def state_names(trigger: AnyTrigger) -> frozenset[str] | None:
    """The state names whose events the trigger can act on, to filter runs before building
    their events; None when any could be (a pattern with `*` or `!`, or no `expect`)."""
    if not isinstance(trigger, EventTrigger):
        names: set[str] = set()
        for child in trigger.triggers:
            found = state_names(child)
            if found is None:
                return None
            names |= found
        return frozenset(names)
    if trigger.posture is Posture.PROACTIVE:
        if not trigger.after or trigger.threshold <= 0:
            return frozenset()
        patterns = trigger.after
    elif not trigger.expect:
        return None  # every event is expected
    else:
        patterns = trigger.expect | trigger.after
    names = set()
    for pattern in patterns:
        if pattern.startswith("!") or pattern.endswith("*"):
            return None
        if pattern.startswith(FLOW_RUN_PREFIX):
            names.add(pattern.removeprefix(FLOW_RUN_PREFIX))
    return frozenset(names)
