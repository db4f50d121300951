"""Proactive triggers fire at their window's end, never before, when too few events came."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

from schemas.automations import EventTrigger
from services.automations.engine import Evaluator, firing_id
from services.automations.engine.windows import grid_start
from tests.support.automation_events import at, automation, custom_event, feed, run_event

TERMINAL = [
    "prefect.flow-run.Completed",
    "prefect.flow-run.Failed",
    "prefect.flow-run.Crashed",
    "prefect.flow-run.Cancelled",
    "prefect.flow-run.Cancelling",
]


def _max_runtime(seconds: float) -> EventTrigger:
    """Prefect's way to say "a run may stay RUNNING at most N seconds"."""
    return EventTrigger.model_validate(
        {
            "posture": "Proactive",
            "after": ["prefect.flow-run.Running"],
            "expect": TERMINAL,
            "for_each": ["prefect.resource.id"],
            "within": seconds,
        }
    )


def test_a_max_runtime_rule_fires_exactly_at_start_plus_its_limit() -> None:
    rule = automation(_max_runtime(600))
    evaluator = Evaluator()
    evaluator.set_automation(rule)
    run = uuid4()

    assert feed(evaluator, [run_event("Running", run, 5)]) == []

    assert evaluator.next_deadline() == at(605)
    assert evaluator.due(at(604.999)) == []
    [fired] = evaluator.due(at(605))
    assert (fired.fired_at, fired.flow_run_id()) == (at(605), run)
    assert fired.id == firing_id(rule.id, rule.trigger.id, (f"prefect.flow-run.{run}",), at(5))
    assert evaluator.due(at(10_000)) == []  # once
    assert evaluator.next_deadline() is None
    assert len(evaluator) == 0


def test_a_run_that_finishes_in_time_is_never_touched() -> None:
    evaluator = Evaluator()
    evaluator.set_automation(automation(_max_runtime(600)))
    run, other = uuid4(), uuid4()

    fired = feed(
        evaluator,
        [
            run_event("Running", run, 0),
            run_event("Running", other, 1),
            run_event("Completed", run, 599.9),
        ],
    )

    assert fired == []
    assert [f.flow_run_id() for f in evaluator.due(at(700))] == [other]


def test_a_window_s_end_shown_by_a_later_event_fires_it_once_with_the_same_id() -> None:
    evaluator = Evaluator()
    evaluator.set_automation(automation(_max_runtime(60)))
    run = uuid4()

    [fired] = feed(evaluator, [run_event("Running", run, 0), run_event("Completed", run, 61)])

    assert fired.fired_at == at(60)
    assert evaluator.due(at(1000)) == []


def test_an_opening_event_while_a_window_is_open_does_not_restart_it() -> None:
    evaluator = Evaluator()
    evaluator.set_automation(automation(_max_runtime(60)))
    run = uuid4()

    feed(evaluator, [run_event("Running", run, 0), run_event("Running", run, 30)])

    assert evaluator.next_deadline() == at(60)


def test_a_threshold_above_one_needs_that_many_expected_events_to_prevent_the_firing() -> None:
    trigger = EventTrigger.model_validate(
        {
            "posture": "Proactive",
            "after": ["job.started"],
            "expect": ["job.step"],
            "threshold": 2,
            "within": 30,
        }
    )
    evaluator = Evaluator()
    evaluator.set_automation(automation(trigger))
    event = custom_event

    feed(evaluator, [event("job.started", 0), event("job.step", 10)])
    assert len(evaluator.due(at(30))) == 1

    feed(evaluator, [event("job.started", 40), event("job.step", 41), event("job.step", 42)])
    assert evaluator.due(at(100)) == []


def test_an_event_both_opening_and_expected_restarts_the_window_like_a_heartbeat() -> None:
    trigger = EventTrigger.model_validate(
        {
            "posture": "Proactive",
            "after": ["prefect.flow-run.Heartbeat"],
            "expect": ["prefect.flow-run.Heartbeat", *TERMINAL],
            "for_each": ["prefect.resource.id"],
            "within": 30,
        }
    )
    evaluator = Evaluator()
    evaluator.set_automation(automation(trigger))
    run = uuid4()

    feed(evaluator, [run_event("Heartbeat", run, s) for s in (0, 20, 40)])

    assert evaluator.next_deadline() == at(70)
    assert evaluator.due(at(69)) == []
    assert [f.fired_at for f in evaluator.due(at(70))] == [at(70)]


def test_without_after_windows_tumble_from_the_first_event_and_the_first_short_one_fires() -> None:
    trigger = EventTrigger.model_validate(
        {
            "posture": "Proactive",
            "expect": ["prefect.flow-run.Heartbeat"],
            "for_each": ["prefect.resource.id"],
            "within": 60,
        }
    )
    evaluator = Evaluator()
    evaluator.set_automation(automation(trigger))
    run = uuid4()
    first = grid_start(at(0), timedelta(seconds=60))

    feed(evaluator, [run_event("Heartbeat", run, s) for s in (0, 30, 65, 100)])
    assert evaluator.due(first + timedelta(seconds=119)) == []
    feed(evaluator, [run_event("Heartbeat", run, 130)])

    assert evaluator.due(first + timedelta(seconds=180)) == []  # each window had a heartbeat
    [fired] = evaluator.due(first + timedelta(seconds=400))
    assert fired.fired_at == first + timedelta(seconds=240)  # the first silent window's end
    assert evaluator.due(first + timedelta(seconds=10_000)) == []  # the bucket is closed


def test_a_standing_rule_is_watched_from_when_it_is_loaded_and_fires_each_silent_window() -> None:
    """Without `after` or `for_each` ("at least 2 deploys every minute"), Prefect watches the
    rule from when it is loaded: no event at all must fire too, once per silent window."""
    trigger = EventTrigger.model_validate(
        {"posture": "Proactive", "expect": ["deploy.done"], "threshold": 2, "within": 60}
    )
    rule = automation(trigger, updated=at(30))  # loaded mid-window: that window is not judged
    evaluator = Evaluator()
    evaluator.set_automation(rule)
    [route] = evaluator.standing_routes()
    assert route.key == f"{rule.id}:{trigger.id}:"

    evaluator.arm(route, at(30), partition=4)
    evaluator.arm(route, at(31), partition=4)  # armed once

    assert evaluator.next_deadline() == at(120)
    feed(evaluator, [custom_event("deploy.done", 70), custom_event("deploy.done", 80)], partition=4)
    assert evaluator.due(at(120)) == []  # two came
    feed(evaluator, [custom_event("deploy.done", 130)], partition=4)
    assert [f.fired_at for f in evaluator.due(at(240))] == [at(180), at(240)]
    assert evaluator.held_offset(4) is None  # an empty window needs no record
    evaluator.drop_partition(4)
    assert evaluator.next_deadline() is None
