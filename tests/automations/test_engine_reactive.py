"""Reactive event triggers: fire as soon as the count is reached, once per window."""

from __future__ import annotations

from uuid import uuid4

from schemas.automations import EventTrigger, Posture
from services.automations.engine import MAX_RUNTIME_AUTOMATION_ID, Evaluator, Route, firing_id
from tests.support.automation_events import at, automation, feed, run_event


def _per_event(**fields: object) -> EventTrigger:
    return EventTrigger.model_validate(
        {"posture": "Reactive", "expect": ["prefect.flow-run.Failed"], **fields}
    )


def test_a_reactive_trigger_with_no_window_fires_for_every_matching_event() -> None:
    rule = automation(_per_event(for_each=["prefect.resource.id"]))
    evaluator = Evaluator()
    evaluator.set_automation(rule)
    runs = [uuid4(), uuid4()]

    events = [
        run_event("Failed", runs[0], 1),
        run_event("Completed", runs[1], 2),
        run_event("Failed", runs[1], 3),
    ]
    fired = feed(evaluator, events)

    assert [f.flow_run_id() for f in fired] == runs
    assert [f.fired_at for f in fired] == [at(1), at(3)]
    assert fired[0].labels == {"prefect.resource.id": f"prefect.flow-run.{runs[0]}"}
    bucket = (f"prefect.flow-run.{runs[0]}",)
    assert fired[0].id == firing_id(rule.id, rule.trigger.id, bucket, at(1), str(events[0].id))
    assert len(evaluator) == 0


def test_a_bucket_of_the_event_s_own_run_is_evaluated_under_the_run_s_key() -> None:
    rule = automation(_per_event(for_each=["prefect.resource.id"]))
    other = automation(_per_event(for_each=["related:deployment:prefect.resource.id"]))
    evaluator = Evaluator()
    evaluator.set_automation(rule)
    evaluator.set_automation(other)
    run = uuid4()
    event = run_event("Failed", run, 1, deployment="d1")

    routes = {r.automation_id: r for r in evaluator.routes(event)}

    assert routes[rule.id] == Route(
        rule.id, rule.trigger.id, (f"prefect.flow-run.{run}",), str(run)
    )
    assert routes[other.id].bucket == ("prefect.deployment.d1",)
    assert routes[other.id].key == f"{other.id}:{other.trigger.id}:prefect.deployment.d1"


def test_a_disabled_or_removed_automation_covers_nothing() -> None:
    """(A run's state events always route to the built-in max runtime, a no-op without it.)"""
    rule = automation(_per_event())
    evaluator = Evaluator()
    evaluator.set_automation(rule)
    event = run_event("Failed", uuid4(), 1)
    route = evaluator.routes(event)[0]

    evaluator.set_automation(rule.model_copy(update={"enabled": False}))

    assert [r.automation_id for r in evaluator.routes(event)] == [MAX_RUNTIME_AUTOMATION_ID]
    assert evaluator.apply(route, event) == []
    assert evaluator.automation(rule.id) is None


def test_a_batch_of_state_changes_sharing_one_timestamp_fires_once_per_event() -> None:
    """The state service stamps one batch's states with one time; without `for_each` they all
    fall in one bucket, and still each is a firing of its own (a distinct id)."""
    evaluator = Evaluator()
    evaluator.set_automation(automation(_per_event()))

    fired = feed(evaluator, [run_event("Failed", uuid4(), 5) for _ in range(3)])

    assert len({f.id for f in fired}) == 3
    assert len({f.flow_run_id() for f in fired}) == 3


def test_the_same_event_delivered_twice_fires_with_the_same_id() -> None:
    rule = automation(_per_event())
    evaluator = Evaluator()
    evaluator.set_automation(rule)
    event = run_event("Failed", uuid4(), 1)

    fired = feed(evaluator, [event, event])

    assert len(fired) == 2
    assert fired[0].id == fired[1].id


def test_an_event_the_trigger_does_not_expect_or_match_is_not_routed() -> None:
    rule = automation(
        _per_event(match={"prefect.resource.id": "prefect.flow-run.*"}, posture=Posture.REACTIVE)
    )
    evaluator = Evaluator()
    evaluator.set_automation(rule)

    routes = evaluator.routes(run_event("Completed", uuid4(), 1))
    assert [r.automation_id for r in routes] == [MAX_RUNTIME_AUTOMATION_ID]


def _three_failures_a_minute(**fields: object) -> EventTrigger:
    return _per_event(threshold=3, within=60, **fields)


def test_a_threshold_fires_once_as_the_count_reaches_it_within_the_window() -> None:
    rule = automation(_three_failures_a_minute(for_each=["related:deployment:prefect.resource.id"]))
    evaluator = Evaluator()
    evaluator.set_automation(rule)
    failed = [run_event("Failed", uuid4(), s, deployment="d1") for s in (0, 10, 20, 30, 40)]

    fired = feed(evaluator, failed)

    [firing] = fired  # the 4th and 5th fall in the window that already fired
    assert firing.fired_at == at(20)
    assert firing.labels == {"related:deployment:prefect.resource.id": "prefect.deployment.d1"}
    assert firing.id == firing_id(rule.id, rule.trigger.id, ("prefect.deployment.d1",), at(0))
    assert firing.flow_run_id() == failed[2].flow_run_id()  # the triggering event's run


def test_after_the_window_the_count_starts_over() -> None:
    evaluator = Evaluator()
    evaluator.set_automation(automation(_three_failures_a_minute()))
    runs = [uuid4() for _ in range(6)]
    times = (0, 10, 20, 61, 62, 122)

    fired = feed(evaluator, [run_event("Failed", r, s) for r, s in zip(runs, times, strict=True)])

    assert [f.fired_at for f in fired] == [at(20)]  # 61, 62 and 122 are not within a minute
    more = feed(evaluator, [run_event("Failed", uuid4(), s) for s in (123, 124)])
    assert [f.fired_at for f in more] == [at(124)]


def test_too_few_events_within_the_window_never_fire() -> None:
    evaluator = Evaluator()
    evaluator.set_automation(automation(_three_failures_a_minute()))

    fired = feed(evaluator, [run_event("Failed", uuid4(), s) for s in (0, 59, 60, 119.99, 200)])

    assert fired == []
    evaluator.due(at(1000))
    assert len(evaluator) == 0  # expired windows are forgotten


def test_buckets_count_apart() -> None:
    evaluator = Evaluator()
    evaluator.set_automation(
        automation(_three_failures_a_minute(for_each=["related:deployment:prefect.resource.id"]))
    )

    fired = feed(
        evaluator,
        [run_event("Failed", uuid4(), s, deployment=d) for s, d in enumerate("ababa")],
    )

    assert [f.labels for f in fired] == [
        {"related:deployment:prefect.resource.id": "prefect.deployment.a"}
    ]


def test_with_after_only_expected_events_after_the_opening_one_count() -> None:
    trigger = _per_event(after=["prefect.flow-run.Running"], threshold=2, within=60)
    evaluator = Evaluator()
    evaluator.set_automation(automation(trigger))
    run = uuid4()

    assert feed(evaluator, [run_event("Failed", run, s) for s in (0, 1, 2)]) == []
    fired = feed(
        evaluator,
        [
            run_event("Running", run, 10),
            run_event("Failed", run, 11),
            run_event("Failed", run, 12),
            run_event("Failed", run, 13),
        ],
    )
    assert [f.fired_at for f in fired] == [at(12)]  # and then the window is closed


def test_a_threshold_with_no_window_counts_events_until_it_is_reached() -> None:
    evaluator = Evaluator()
    evaluator.set_automation(automation(_per_event(threshold=2)))

    fired = feed(evaluator, [run_event("Failed", uuid4(), s) for s in (0, 500, 1000, 5000)])

    assert [f.fired_at for f in fired] == [at(500), at(5000)]
