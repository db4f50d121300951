"""One bucket's window of an event trigger, driven by event time only.

Reactive: the first counted event (or, with `after`, the opening event) starts a window of
`within` (0 = no time limit); the trigger fires once, as soon as the count reaches the
threshold; the rest of that window is absorbed, and the next counted event after it starts
over. Proactive with `after`: the opening event starts [t, t + within); the window fires at its
end, and only then, if fewer than `threshold` expected events came. Proactive without `after`:
tumbling windows of `within` aligned to the epoch (the same on every replica and after every
replay), started by the first expected event and rolled while they are satisfied; the first
window that ends short fires and the bucket closes until the next expected event (Prefect
fires such a bucket again every window, for ever, even for a run long gone). Without
`for_each` too, the bucket is standing: watched from the rule's loading, every silent window
fires, as Prefect's does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from schemas.automations import EventTrigger, Posture
from schemas.events import Event
from schemas.matching import expects, starts_after

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class Window:
    start: datetime  # the opening (or first counted) event's time; part of the firing id
    end: datetime | None  # None: no time limit (a reactive `within` of 0)
    count: int = 0
    fired: bool = False  # a reactive window that fired absorbs the rest of its events
    last_event: Event | None = None
    since: int | None = None  # the offset this window's state depends on since (set by its owner)
    rolled: bool = False  # a tumbling window that follows a satisfied one, no event yet
    opened_by: str = ""  # a window with no time span: its opening event's id, in the firing id


@dataclass(frozen=True, slots=True)
class Fire:
    window_start: datetime
    fired_at: datetime
    event: Event | None
    key: str = ""  # tells apart windows opened at the same instant (see `firing_id`)


Step = tuple[Window | None, list[Fire]]


def grid_start(moment: datetime, within: timedelta) -> datetime:
    return EPOCH + within * ((moment - EPOCH) // within)


def apply_event(trigger: EventTrigger, window: Window | None, event: Event) -> Step:
    """The bucket's window after `event`, and what fired."""
    if trigger.posture is Posture.REACTIVE:
        return _reactive(trigger, window, event)
    fires: list[Fire] = []
    while window is not None and window.end is not None and event.occurred_at >= window.end:
        window, more = close(trigger, window)  # the event shows the window is over
        fires += more
    window = _proactive(trigger, window, event)
    return window, fires


def close(trigger: EventTrigger, window: Window) -> Step:
    """The window reached its end: what fires, and what window follows."""
    assert window.end is not None
    if trigger.posture is Posture.REACTIVE:
        return None, []
    if window.count < trigger.threshold:
        fire = Fire(window.start, window.end, window.last_event)
        if standing(trigger):  # never closes: the next window is watched at once
            return Window(window.end, window.end + trigger.within, rolled=True), [fire]
        return None, [fire]
    if trigger.after:
        return None, []
    # a satisfied tumbling window rolls on: the next one must be satisfied too
    if trigger.threshold == 0:
        return None, []  # nothing is ever short of 0
    end = window.end + trigger.within
    return Window(
        window.end, end, last_event=window.last_event, since=window.since, rolled=True
    ), []


def _reactive(trigger: EventTrigger, window: Window | None, event: Event) -> Step:
    at = event.occurred_at
    counted = expects(trigger, event.event)
    if window is not None and window.end is not None and at >= window.end:
        window = None
    if window is None:
        opens = starts_after(trigger, event.event) if trigger.after else counted
        if not opens:
            return None, []
        end = at + trigger.within if trigger.within else None
        # with no time span, two events of one instant (one batch of state changes) open two
        # windows: the opening event's id tells their firings apart
        window = Window(at, end, last_event=event, opened_by="" if end else str(event.id))
        if trigger.after:
            return window, []  # the opening event is not counted (Prefect's `-1`)
    elif not counted or window.fired or (trigger.after and at < window.start):
        return window, []
    window.count += 1
    window.last_event = event
    if window.count < trigger.threshold:
        return window, []
    fire = Fire(window.start, at, event, window.opened_by)
    if trigger.after or window.end is None:
        return None, [fire]
    window.fired = True
    return window, [fire]


def _proactive(trigger: EventTrigger, window: Window | None, event: Event) -> Window | None:
    at = event.occurred_at
    counted = expects(trigger, event.event)
    opens = starts_after(trigger, event.event)
    if not trigger.after:
        if not counted:
            return window
        if window is None:
            start = grid_start(at, trigger.within)
            window = Window(start, start + trigger.within)
        elif at < window.start:
            return window  # late for a window already decided
        if window.rolled:
            window.rolled, window.since = False, None  # depends on this event from now on
        window.count += 1
        window.last_event = event
        return window
    if window is None:
        return Window(at, at + trigger.within, last_event=event) if opens else None
    if not counted or at < window.start:
        return window  # another opening event while open, or a late one: ignored
    window.count += 1
    window.last_event = event
    if window.count < trigger.threshold:
        return window
    # the expectation is met: no firing; an event that also opens starts the next window
    return Window(at, at + trigger.within, last_event=event) if opens else None


def standing(trigger: EventTrigger) -> bool:
    """A bucket that exists before any event (Proactive, neither `after` nor `for_each`)."""
    return trigger.posture is Posture.PROACTIVE and not trigger.after and not trigger.for_each


def first_window(trigger: EventTrigger, now: datetime, since: datetime) -> Window:
    """A standing bucket's window holding `now`, or the next one if it began before `since`."""
    start = grid_start(now, trigger.within)
    if start < since:
        start += trigger.within
    return Window(start, start + trigger.within, rolled=True)


def same(one: Window | None, other: Window | None) -> bool:
    """The same window, whatever records it was built from."""
    if one is None or other is None:
        return one is other
    return (one.start, one.end, one.count, one.fired) == (
        other.start,
        other.end,
        other.count,
        other.fired,
    )
