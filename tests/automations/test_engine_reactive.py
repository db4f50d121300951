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

    fired = feed(
        evaluator,
        [
            run_event("Failed", runs[0], 1),
            run_event("Completed", runs[1], 2),
            run_event("Failed", runs[1], 3),
        ],
    )

    assert [f.flow_run_id() for f in fired] == runs
    assert [f.fired_at for f in fired] == [at(1), at(3)]
    assert fired[0].labels == {"prefect.resource.id": f"prefect.flow-run.{runs[0]}"}
    assert fired[0].id == firing_id(
        rule.id, rule.trigger.id, (f"prefect.flow-run.{runs[0]}",), at(1)
    )
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
