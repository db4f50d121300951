"""What the service relies on to commit offsets and move partitions: which records the open
windows still need, forgetting a revoked partition, and waiting while one is replayed."""

from __future__ import annotations

from datetime import timedelta, timezone
from uuid import uuid4

from schemas.automations import EventTrigger
from schemas.events import Event
from services.automations.engine import Evaluator, Route
from tests.support.automation_events import at, automation, run_event

LIMIT = ["cancelbus.max-runtime=60"]


def test_the_held_offset_is_the_oldest_record_an_open_window_was_built_from() -> None:
    evaluator = Evaluator()
    first, second = uuid4(), uuid4()

    assert evaluator.held_offset(3) is None
    evaluator.apply(
        *_routed(evaluator, run_event("Running", first, 0, tags=LIMIT)), position=(3, 10)
    )
    evaluator.apply(
        *_routed(evaluator, run_event("Running", second, 1, tags=LIMIT)), position=(3, 11)
    )
    assert evaluator.held_offset(3) == 10
    assert evaluator.held_offset(4) is None

    evaluator.apply(*_routed(evaluator, run_event("Completed", first, 2)), position=(3, 12))
    assert evaluator.held_offset(3) == 11
    evaluator.due(at(61))
    assert evaluator.held_offset(3) is None  # the second window fired: nothing is open


def test_a_revoked_partition_s_windows_are_forgotten() -> None:
    evaluator = Evaluator()
    kept, revoked = uuid4(), uuid4()
    evaluator.apply(*_routed(evaluator, run_event("Running", kept, 0, tags=LIMIT)), position=(1, 5))
    evaluator.apply(
        *_routed(evaluator, run_event("Running", revoked, 0, tags=LIMIT)), position=(2, 5)
    )

    evaluator.drop_partition(2)

    assert len(evaluator) == 1
    assert evaluator.held_offset(2) is None
    assert [f.flow_run_id() for f in evaluator.due(at(100))] == [kept]


def test_a_paused_partition_s_windows_wait_for_its_replayed_events() -> None:
    """A new owner replays a partition long after the events: the wall clock says the window
    is over, but the run's Completed is yet to be replayed."""
    evaluator = Evaluator()
    run = uuid4()
    evaluator.apply(*_routed(evaluator, run_event("Running", run, 0, tags=LIMIT)), position=(1, 0))

    assert evaluator.due(at(10_000), paused=[1]) == []
    assert evaluator.next_deadline() == at(60)
    completed = run_event("Completed", run, 59)
    assert evaluator.apply(*_routed(evaluator, completed), position=(1, 1)) == []
    assert evaluator.due(at(10_000)) == []


def test_replayed_events_close_the_windows_their_time_passed() -> None:
    evaluator = Evaluator()
    late, other = uuid4(), uuid4()
    evaluator.apply(*_routed(evaluator, run_event("Running", late, 0, tags=LIMIT)), position=(1, 0))

    fired = evaluator.apply(*_routed(evaluator, run_event("Completed", other, 61)), position=(1, 1))

    assert [(f.flow_run_id(), f.fired_at) for f in fired] == [(late, at(60))]


def test_replacing_an_automation_starts_its_windows_afresh() -> None:
    trigger = EventTrigger.model_validate(
        {
            "posture": "Proactive",
            "after": ["prefect.flow-run.Running"],
            "expect": ["prefect.flow-run.Completed"],
            "within": 60,
        }
    )
    rule = automation(trigger)
    evaluator = Evaluator()
    evaluator.set_automation(rule)
    evaluator.apply(*_routed(evaluator, run_event("Running", uuid4(), 0)), position=(0, 0))
    assert len(evaluator) == 1

    evaluator.set_automation(rule.model_copy(update={"name": "renamed"}))

    assert len(evaluator) == 0
    assert evaluator.due(at(100)) == []
    assert evaluator.automation(rule.id) is not None
    evaluator.remove_automation(rule.id)
    assert evaluator.automation(rule.id) is None


def _routed(evaluator: Evaluator, event: Event) -> tuple[Route, Event]:
    [route] = evaluator.routes(event)
    return route, event


def test_on_a_busy_partition_the_held_offset_follows_the_oldest_run_still_running() -> None:
    """Runs start and finish overlapping all the time; the committed offset must still move."""
    evaluator = Evaluator()
    runs = [uuid4() for _ in range(50)]
    offset = 0
    for n, run in enumerate(runs):
        events = [run_event("Running", run, n, tags=LIMIT)]
        if n >= 3:
            events.append(run_event("Completed", runs[n - 3], n + 0.5))
        for event in events:
            evaluator.apply(*_routed(evaluator, event), position=(0, offset))
            offset += 1

    assert evaluator.held_offset(0) == offset - 6  # the oldest of the three still running


def test_an_event_from_a_clock_ahead_does_not_fire_windows_early() -> None:
    evaluator = Evaluator()
    run, other = uuid4(), uuid4()
    evaluator.apply(*_routed(evaluator, run_event("Running", run, 0, tags=LIMIT)), position=(1, 0))

    ahead = run_event("Completed", other, 3600)
    assert evaluator.apply(*_routed(evaluator, ahead), position=(1, 1), now=at(10)) == []
    assert [f.fired_at for f in evaluator.due(at(60))] == [at(60)]


def test_times_in_another_zone_or_none_name_the_same_instant() -> None:
    evaluator = Evaluator()
    run = uuid4()
    running = run_event("Running", run, 0, tags=LIMIT)
    naive = running.model_copy(update={"occurred_at": running.occurred_at.replace(tzinfo=None)})
    zone = timezone(timedelta(hours=2))
    shifted = running.model_copy(update={"occurred_at": running.occurred_at.astimezone(zone)})

    ids = set()
    for event in (running, naive, shifted):
        evaluator.apply(*_routed(evaluator, event), position=(0, 0))
        [fired] = evaluator.due(at(60))
        ids.add(fired.id)
    assert len(ids) == 1


def test_the_same_automation_again_keeps_its_windows() -> None:
    """The rule-change topic is read anew on every start: that must not lose open windows."""
    rule = automation(
        EventTrigger.model_validate(
            {
                "posture": "Proactive",
                "after": ["prefect.flow-run.Running"],
                "expect": ["prefect.flow-run.Completed"],
                "within": 60,
            }
        )
    )
    evaluator = Evaluator()
    evaluator.set_automation(rule)
    evaluator.apply(*_routed(evaluator, run_event("Running", uuid4(), 0)), position=(0, 0))

    evaluator.set_automation(rule.model_copy(deep=True))

    assert len(evaluator.due(at(60))) == 1


def test_partitions_of_two_topics_are_held_apart() -> None:
    """The engine is fed from the events topic and from the re-keying topic at once."""
    evaluator = Evaluator()
    first, second = uuid4(), uuid4()
    running = run_event("Running", first, 0, tags=LIMIT)
    evaluator.apply(*_routed(evaluator, running), position=(("events", 0), 7))
    running = run_event("Running", second, 0, tags=LIMIT)
    evaluator.apply(*_routed(evaluator, running), position=(("rekeyed", 0), 3))

    evaluator.drop_partition(("rekeyed", 0))

    assert evaluator.held_offset(("events", 0)) == 7
    assert evaluator.held_offset(("rekeyed", 0)) is None
    assert [f.flow_run_id() for f in evaluator.due(at(60))] == [first]
