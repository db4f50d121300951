"""Window rules over random histories: proactive windows fire at their end and only then, and
exactly when no expected event came; reactive windows fire once, when the count is reached."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from schemas.automations import EventTrigger
from services.automations.engine import Evaluator, Firing, firing_id
from tests.support.automation_events import T0, at, automation, run_event

RUN = UUID(int=7)
LIMIT = 30.0
TERMINAL = {"Completed", "Failed", "Crashed", "Cancelled", "Cancelling"}
STATES = ["Running", "Completed", "Failed", "Cancelling", "Paused", "AwaitingRetry", "Running"]

# (state, seconds since the previous event, call `due` this far into the gap (0..1) or not)
histories = st.lists(
    st.tuples(
        st.sampled_from(STATES),
        st.sampled_from([0, 1, 5, 10, 29, 30, 31, 45, 100]),
        st.none() | st.floats(0, 1),
    ),
    max_size=25,
)


def _live(evaluator: Evaluator, history: list[tuple[str, float, float | None]]) -> list[Firing]:
    """The history as a live replica sees it: `due` called at the drawn moments, and at the end;
    nothing `due` answers may have fired after the moment it was asked at."""
    fired: list[Firing] = []
    seconds = 0.0
    for offset, (state, delta, tick) in enumerate(history):
        if tick is not None:
            now = at(seconds + delta * tick)
            answered = evaluator.due(now)
            assert all(f.fired_at <= now for f in answered)  # never before the window's end
            fired += answered
        seconds += delta
        event = run_event(state, RUN, seconds, tags=[f"cancelbus.max-runtime={LIMIT:g}"])
        for route in evaluator.routes(event):
            fired += evaluator.apply(route, event, position=(0, offset))
    return fired + evaluator.due(T0 + timedelta(days=1))


def _expected(history: list[tuple[str, float, float | None]], ends: set[str]) -> list[datetime]:
    """The reference: Running opens [t, t + LIMIT) unless open; a state in `ends` closes it; a
    window still open at its end fires then."""
    fired: list[datetime] = []
    window: datetime | None = None
    seconds = 0.0
    for state, delta, _ in history:
        seconds += delta
        if window is not None and at(seconds) >= window + timedelta(seconds=LIMIT):
            fired.append(window + timedelta(seconds=LIMIT))
            window = None
        if state == "Running" and window is None:
            window = at(seconds)
        elif state in ends:
            window = None
    if window is not None:
        fired.append(window + timedelta(seconds=LIMIT))
    return fired


@given(histories)
def test_the_built_in_max_runtime_fires_exactly_when_a_run_stays_running_past_its_limit(
    history: list[tuple[str, float, float | None]],
) -> None:
    fired = _live(Evaluator(), history)

    assert [f.fired_at for f in fired] == _expected(history, {s for s in STATES if s != "Running"})
    assert all(f.flow_run_id() == RUN for f in fired)
    assert len({f.id for f in fired}) == len(fired)


@given(histories)
def test_a_proactive_max_runtime_rule_fires_at_start_plus_within_unless_the_run_ended(
    history: list[tuple[str, float, float | None]],
) -> None:
    rule = EventTrigger.model_validate(
        {
            "posture": "Proactive",
            "after": ["prefect.flow-run.Running"],
            "expect": [f"prefect.flow-run.{s}" for s in TERMINAL],
            "for_each": ["prefect.resource.id"],
            "within": LIMIT,
        }
    )
    evaluator = Evaluator()
    evaluator.set_automation(automation(rule))

    fired = [f for f in _live(evaluator, history) if f.trigger_id == rule.id]

    assert [f.fired_at for f in fired] == _expected(history, TERMINAL)
    assert all(f.labels == {"prefect.resource.id": f"prefect.flow-run.{RUN}"} for f in fired)


@given(
    times=st.lists(st.sampled_from([0, 0.5, 1, 4, 9, 10, 15]), max_size=30),
    threshold=st.integers(1, 4),
)
def test_a_reactive_window_fires_once_when_its_count_is_reached(
    times: list[float], threshold: int
) -> None:
    within = timedelta(seconds=10)
    rule = EventTrigger.model_validate(
        {
            "posture": "Reactive",
            "expect": ["prefect.flow-run.Failed"],
            "threshold": threshold,
            "within": within,
        }
    )
    evaluator = Evaluator()
    made = automation(rule)
    evaluator.set_automation(made)
    rule_id = made.id
    moments = [sum(times[: i + 1]) for i in range(len(times))]

    fired: list[Firing] = []
    for offset, seconds in enumerate(moments):
        event = run_event("Failed", UUID(int=offset + 1), seconds)
        for route in evaluator.routes(event):
            fired += evaluator.apply(route, event, position=(0, offset))

    expected: list[tuple[object, datetime]] = []  # the reference: (firing id, fired at)
    start: float | None = None
    counted, done = 0, False
    for seconds in moments:
        if start is not None and seconds >= start + within.total_seconds():
            start = None  # the window is over: the next event starts over
        if start is None:
            start, counted, done = seconds, 0, False
        if not done:
            counted += 1
            if counted == threshold:  # at once, and once per window
                expected.append((firing_id(rule_id, rule.id, (), at(start)), at(seconds)))
                done = True
    assert [(f.id, f.fired_at) for f in fired] == expected
