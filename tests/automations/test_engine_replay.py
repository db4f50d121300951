"""A replica that crashes and replays its partition from `held_offset` fires the same firings
(same ids) as one that never stopped: windows are rebuilt from event time, not wall time."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.automations import Automation
from schemas.events import Event
from services.automations.engine import Evaluator, Firing
from tests.support.automation_events import T0, automation, run_event

RUNS = [UUID(int=n + 1) for n in range(3)]
STATES = ["Running", "Completed", "Failed", "Heartbeat", "Cancelling"]
LIMIT = "cancelbus.max-runtime=40"


RULES: list[dict[str, object]] = [
    {"type": "event", "posture": "Reactive", "expect": ["prefect.flow-run.Failed"]},
    {
        "type": "event",
        "posture": "Reactive",
        "expect": ["prefect.flow-run.Failed"],
        "threshold": 2,
        "within": 30,
    },
    {
        "type": "event",
        "posture": "Reactive",
        "after": ["prefect.flow-run.Running"],
        "expect": ["prefect.flow-run.Heartbeat"],
        "for_each": ["prefect.resource.id"],
        "threshold": 2,
        "within": 25,
    },
    {
        "type": "event",
        "posture": "Proactive",
        "after": ["prefect.flow-run.Running"],
        "expect": ["prefect.flow-run.Completed", "prefect.flow-run.Failed"],
        "for_each": ["prefect.resource.id"],
        "within": 30,
    },
    {
        "type": "event",
        "posture": "Proactive",
        "after": ["prefect.flow-run.Heartbeat"],
        "expect": ["prefect.flow-run.Heartbeat"],
        "for_each": ["prefect.resource.id"],
        "within": 15,
    },
    {
        "type": "event",
        "posture": "Proactive",
        "expect": ["prefect.flow-run.Heartbeat"],
        "threshold": 2,
        "within": 20,
    },
    {
        "type": "compound",
        "require": "all",
        "within": 40,
        "triggers": [
            {"type": "event", "posture": "Reactive", "expect": ["prefect.flow-run.Cancelling"]},
            {
                "type": "event",
                "posture": "Proactive",
                "after": ["prefect.flow-run.Running"],
                "expect": ["prefect.flow-run.Completed"],
                "within": 20,
            },
        ],
    },
    {
        "type": "sequence",
        "within": 60,
        "triggers": [
            {"type": "event", "posture": "Reactive", "expect": ["prefect.flow-run.Running"]},
            {"type": "event", "posture": "Reactive", "expect": ["prefect.flow-run.Failed"]},
        ],
    },
]
AUTOMATIONS: list[Automation] = [automation(rule) for rule in RULES]

steps = st.lists(
    st.tuples(
        st.sampled_from(STATES),
        st.sampled_from(range(len(RUNS))),
        st.sampled_from([0, 0.5, 1, 3, 7, 12, 20, 45]),
    ),
    max_size=40,
)


def _events(drawn: list[tuple[str, int, float]]) -> list[Event]:
    events, seconds = [], 0.0
    for state, run, delta in drawn:
        seconds += delta
        tags = [LIMIT] if run == 0 else []
        events.append(run_event(state, RUNS[run], seconds, tags=tags))
    return events


def _evaluator(now: datetime = T0) -> Evaluator:
    """A replica starting at `now`: it loads the rules and arms the standing buckets."""
    evaluator = Evaluator()
    for rule in AUTOMATIONS:
        evaluator.set_automation(rule)
    for route in evaluator.standing_routes():
        evaluator.arm(route, now, partition=0)
    return evaluator


def _process(evaluator: Evaluator, events: list[Event], first: int, until: int) -> list[Firing]:
    """Records first..until-1 of partition 0, with the clock at each event's time before it
    (events are never late) - the way a live replica sees them."""
    fired: list[Firing] = []
    for offset in range(first, until):
        event = events[offset]
        fired += evaluator.due(event.occurred_at)
        for route in evaluator.routes(event):
            fired += evaluator.apply(route, event, position=(0, offset))
    return fired


def _finish(evaluator: Evaluator, events: list[Event]) -> list[Firing]:
    """Time passes past every window (a standing bucket keeps one open, empty)."""
    last = max((e.occurred_at for e in events), default=T0)
    return evaluator.due(last + timedelta(seconds=100))


@settings(max_examples=300, deadline=None)
@given(drawn=steps, crash=st.floats(0, 1))
def test_replaying_from_the_held_offset_after_a_crash_fires_the_same_firings(
    drawn: list[tuple[str, int, float]], crash: float
) -> None:
    events = _events(drawn)
    at = int(crash * len(events))
    steady = _evaluator()
    expected = _process(steady, events, 0, len(events)) + _finish(steady, events)

    before = _evaluator()
    fired = _process(before, events, 0, at)
    held = before.held_offset(0)
    # a new owner, started at the crash, replays from the committed offset
    after = _evaluator(events[at - 1].occurred_at if at else T0)
    replayed: list[Firing] = []
    for offset in range(at if held is None else held, at):
        assert after.due(T0 + timedelta(days=1), paused=[0]) == []  # still replaying
        for route in after.routes(events[offset]):
            replayed += after.apply(route, events[offset], position=(0, offset))
    fired += replayed + _process(after, events, at, len(events)) + _finish(after, events)

    assert {f.id for f in fired} == {f.id for f in expected}


@settings(max_examples=200, deadline=None)
@given(drawn=steps)
def test_the_held_offset_never_moves_back_and_is_none_once_nothing_is_open(
    drawn: list[tuple[str, int, float]],
) -> None:
    events = _events(drawn)
    evaluator = _evaluator()
    last = 0
    for offset in range(len(events)):
        _process(evaluator, events, offset, offset + 1)
        held = evaluator.held_offset(0)
        assert held is None or last <= held <= offset
        last = offset + 1 if held is None else held
    _finish(evaluator, events)
    assert len(evaluator) <= 1  # every window ended but the standing bucket's, empty
    assert evaluator.held_offset(0) is None  # so nothing is held for ever


def test_a_window_that_closed_after_a_newer_one_opened_is_replayed_whole() -> None:
    """A threshold window [0, 30) fires at 1 and absorbs 2; a max-runtime window opens at 0.5
    and is still open after the first closed: replaying from 0.5 would count 1 and 2 again in
    a fresh window and fire a second time, so the held offset stays at the first window's."""
    drawn = [
        ("Failed", 1, 0),
        ("Running", 0, 0.5),
        ("Failed", 1, 0.5),
        ("Failed", 2, 1),
        ("Heartbeat", 1, 20),
        ("Heartbeat", 2, 12),
    ]
    events = _events(drawn)
    before = _evaluator()
    fired = _process(before, events, 0, len(events))
    held = before.held_offset(0)

    after = _evaluator()
    assert held is not None
    for offset in range(held, len(events)):
        for route in after.routes(events[offset]):
            fired += after.apply(route, events[offset], position=(0, offset))
    fired += _finish(after, events)

    steady = _evaluator()
    expected = _process(steady, events, 0, len(events)) + _finish(steady, events)
    assert {f.id for f in fired} == {f.id for f in expected}
    assert held == 0
