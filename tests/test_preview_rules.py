"""A rule's dry run: which runs it would act on now, judged by each run's current-state event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from schemas.automations import CompoundTrigger, EventTrigger, Posture, SequenceTrigger
from schemas.events import Event, state_change_event
from schemas.messages import FlowRunStateChanged
from schemas.states import State, StateType
from services.state.preview_rules import acts_on, state_names

STATE_NAMES = ["Running", "Pending", "Scheduled", "Late", "Cancelling", "Paused"]
PATTERNS = [
    *(f"prefect.flow-run.{name}" for name in STATE_NAMES),
    "prefect.flow-run.*",
    "prefect.flow-run.Run*",
    "!prefect.flow-run.Running",
    "acme.quota.exceeded",
    "prefect.*",
]
START = datetime(2026, 1, 1, tzinfo=UTC)

patterns = st.sets(st.sampled_from(PATTERNS), max_size=3)
event_triggers = st.builds(
    EventTrigger,
    posture=st.sampled_from(list(Posture)),
    expect=patterns,
    after=patterns,
    threshold=st.integers(0, 3),
    within=st.integers(10, 7200).map(lambda s: timedelta(seconds=s)),
    match=st.sampled_from([{}, {"prefect.resource.id": "prefect.flow-run.*"}, {"x": "y"}]),
    match_related=st.sampled_from([{}, {"prefect.resource.id": "prefect.tag.nightly"}]),
)
composites = st.builds(
    CompoundTrigger,
    triggers=st.lists(event_triggers, min_size=1, max_size=3),
    require=st.just("any"),
) | st.builds(SequenceTrigger, triggers=st.lists(event_triggers, min_size=1, max_size=3))
triggers = event_triggers | composites


@st.composite
def current_state_events(draw: st.DrawFn) -> Event:
    name = draw(st.sampled_from(STATE_NAMES))
    at = START + timedelta(seconds=draw(st.integers(0, 86400)))
    state = State(type=StateType.RUNNING, name=name, timestamp=at)
    return state_change_event(
        FlowRunStateChanged(
            flow_run_id=uuid4(),
            event=f"prefect.flow-run.{name}",
            state=state,
            tags=draw(st.sampled_from([[], ["nightly"]])),
        )
    )


offsets = st.integers(0, 4 * 86400).map(lambda s: timedelta(seconds=s))


@given(trigger=triggers, event=current_state_events(), offset=offsets)
def test_runs_are_filtered_by_state_name_only_when_no_run_acted_on_is_left_out(
    trigger: EventTrigger | CompoundTrigger | SequenceTrigger, event: Event, offset: timedelta
) -> None:
    names = state_names(trigger)
    if acts_on(trigger, event, START + offset) and names is not None:
        assert event.resource["prefect.state-name"] in names


@given(children=st.lists(event_triggers, min_size=1, max_size=3), event=current_state_events())
def test_a_compound_or_sequence_acts_on_what_any_child_acts_on(
    children: list[EventTrigger], event: Event
) -> None:
    now = START + timedelta(days=2)
    expected = any(acts_on(child, event, now) for child in children)
    compound = CompoundTrigger(triggers=list(children), require="all")
    sequence = SequenceTrigger(triggers=list(children))
    assert acts_on(compound, event, now) is expected
    assert acts_on(sequence, event, now) is expected


@given(trigger=event_triggers, event=current_state_events(), offset=offsets, later=offsets)
def test_a_proactive_window_acts_only_once_it_has_ended_and_from_then_on(
    trigger: EventTrigger, event: Event, offset: timedelta, later: timedelta
) -> None:
    now = event.occurred_at + offset
    acts = acts_on(trigger, event, now)
    if trigger.posture is Posture.REACTIVE:
        assert acts_on(trigger, event, now + later) is acts  # time plays no part
        return
    if acts:
        assert offset >= trigger.within
        assert acts_on(trigger, event, now + later)


def test_a_max_runtime_rule_acts_on_a_run_running_past_its_window() -> None:
    trigger = EventTrigger(
        posture=Posture.PROACTIVE,
        after={"prefect.flow-run.Running"},
        expect={"prefect.flow-run.Completed"},
        within=timedelta(minutes=30),
    )
    state = State(type=StateType.RUNNING, timestamp=START)
    event = state_change_event(
        FlowRunStateChanged(flow_run_id=uuid4(), event="prefect.flow-run.Running", state=state)
    )

    assert not acts_on(trigger, event, START + timedelta(minutes=29, seconds=59))
    assert acts_on(trigger, event, START + timedelta(minutes=30))
    assert state_names(trigger) == frozenset({"Running"})
    no_after = EventTrigger(posture=Posture.PROACTIVE, expect={"prefect.flow-run.Completed"})
    assert not acts_on(no_after, event, START + timedelta(days=1))
    assert state_names(no_after) == frozenset()
