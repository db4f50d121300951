"""The built-in per-run limit: a run tagged `cancelbus.max-runtime=<seconds>` is cancelled once
it has been RUNNING that long, with no rule at all."""

from __future__ import annotations

from uuid import uuid4

from schemas.events import state_change_event
from schemas.messages import CancelFlowRun, FlowRunStateChanged
from schemas.states import State, StateType
from services.automations.engine import (
    MAX_RUNTIME_AUTOMATION_ID,
    Evaluator,
    commands_for,
)
from tests.support.automation_events import at, feed, run_event

LIMIT = "cancelbus.max-runtime=600"


def test_a_tagged_run_is_cancelled_exactly_at_its_limit_with_the_automation_named() -> None:
    evaluator = Evaluator()
    run = uuid4()

    assert feed(evaluator, [run_event("Running", run, 10, tags=["etl", LIMIT])]) == []

    assert evaluator.next_deadline() == at(610)
    assert evaluator.due(at(609.9)) == []
    [fired] = evaluator.due(at(610))
    assert (fired.automation_id, fired.flow_run_id(), fired.fired_at) == (
        MAX_RUNTIME_AUTOMATION_ID,
        run,
        at(610),
    )
    rule = evaluator.automation(fired.automation_id)
    assert rule is not None
    [cancel] = commands_for(fired, rule)
    assert isinstance(cancel, CancelFlowRun)
    assert cancel.flow_run_id == run
    assert cancel.requested_by == f"automation:{MAX_RUNTIME_AUTOMATION_ID}"
    assert cancel.reason is not None
    assert cancel.reason.startswith(f"Cancelled by Automation {MAX_RUNTIME_AUTOMATION_ID}")
    assert "600 s" in cancel.reason
    assert evaluator.due(at(5000)) == []


def test_a_run_that_leaves_running_in_time_is_never_touched() -> None:
    evaluator = Evaluator()
    finished, paused, cancelling = uuid4(), uuid4(), uuid4()

    fired = feed(
        evaluator,
        [
            run_event("Running", finished, 0, tags=[LIMIT]),
            run_event("Running", paused, 0, tags=[LIMIT]),
            run_event("Running", cancelling, 0, tags=[LIMIT]),
            run_event("Completed", finished, 599.999, tags=[LIMIT]),
            run_event("Paused", paused, 300, tags=[LIMIT]),
            run_event("Cancelling", cancelling, 1, tags=[LIMIT]),
        ],
    )

    assert fired == []
    assert evaluator.due(at(10_000)) == []
    assert len(evaluator) == 0


def test_the_limit_counts_from_the_running_state_s_own_timestamp() -> None:
    run = uuid4()
    running = State(type=StateType.RUNNING, timestamp=at(100))
    change = FlowRunStateChanged(
        flow_run_id=run, state=running, event="prefect.flow-run.Running", tags=[LIMIT]
    )
    evaluator = Evaluator()

    feed(evaluator, [state_change_event(change)])

    assert evaluator.next_deadline() == at(700)


def test_a_run_without_the_tag_or_with_a_bad_one_has_no_limit() -> None:
    evaluator = Evaluator()

    fired = feed(
        evaluator,
        [
            run_event("Running", uuid4(), 0),
            run_event("Running", uuid4(), 0, tags=["cancelbus.max-runtime=soon"]),
            run_event("Running", uuid4(), 0, tags=["cancelbus.max-runtime=-5"]),
            run_event("Running", uuid4(), 0, tags=["cancelbus.max-runtime=nan"]),
        ],
    )

    assert fired == []
    assert evaluator.next_deadline() is None


def test_a_retried_run_gets_its_limit_again_from_its_next_running() -> None:
    evaluator = Evaluator()
    run = uuid4()

    feed(
        evaluator,
        [
            run_event("Running", run, 0, tags=[LIMIT]),
            run_event("AwaitingRetry", run, 100, tags=[LIMIT]),
            run_event("Running", run, 200, tags=[LIMIT]),
        ],
    )

    assert evaluator.due(at(799)) == []
    assert [f.fired_at for f in evaluator.due(at(800))] == [at(800)]
