"""What a firing sends: one command per action, ids and texts as the contract names them."""

from __future__ import annotations

from uuid import uuid4, uuid5

from schemas.automation_messages import AutomationActionFailed, ChangeFlowRunState
from schemas.automations import ChangeFlowRunStateAction, EventTrigger
from schemas.messages import CancelFlowRun, FiringRef
from schemas.states import StateType
from services.automations.engine import Evaluator, commands_for
from tests.support.automation_events import automation, feed, run_event


def _failed_runs_rule(**fields: object) -> EventTrigger:
    return EventTrigger.model_validate(
        {"posture": "Reactive", "expect": ["prefect.flow-run.Failed"], **fields}
    )


def test_a_firing_sends_each_action_to_the_inferred_run_with_ids_from_the_firing() -> None:
    rule = automation(
        _failed_runs_rule(),
        actions=[
            {"type": "cancel-flow-run"},
            ChangeFlowRunStateAction(state=StateType.CRASHED),
            {"type": "change-flow-run-state", "state": "FAILED", "message": "mine", "force": True},
        ],
    )
    evaluator = Evaluator()
    evaluator.set_automation(rule)
    run = uuid4()
    [firing] = feed(evaluator, [run_event("Failed", run, 1)])

    cancel, crash, fail = commands_for(firing, rule)

    assert isinstance(cancel, CancelFlowRun)
    assert (cancel.flow_run_id, cancel.id) == (run, uuid5(firing.id, "0"))
    assert cancel.reason == f"Cancelled by Automation {rule.id}"
    assert cancel.requested_by == f"automation:{rule.id}"
    assert cancel.firing == FiringRef(
        automation_id=rule.id, firing_id=firing.id, action_index=0, fired_at=firing.fired_at
    )
    assert isinstance(crash, ChangeFlowRunState)
    assert isinstance(fail, ChangeFlowRunState)
    assert (crash.state, crash.message, crash.force) == (
        StateType.CRASHED,
        f"State changed by Automation {rule.id}",
        False,
    )
    assert (fail.id, fail.state, fail.message, fail.force) == (
        uuid5(firing.id, "2"),
        StateType.FAILED,
        "mine",
        True,
    )
    assert crash.firing is not None
    assert crash.firing.action_index == 1
    assert commands_for(firing, rule) == [cancel, crash, fail]  # the same every time


def test_an_action_with_no_run_to_infer_is_recorded_as_failed() -> None:
    rule = automation(
        EventTrigger.model_validate({"posture": "Reactive", "expect": ["deploy.failed"]})
    )
    evaluator = Evaluator()
    evaluator.set_automation(rule)
    event = run_event("Failed", uuid4(), 1).model_copy(
        update={"event": "deploy.failed", "resource": {"prefect.resource.id": "deploy.42"}}
    )
    [firing] = feed(evaluator, [event])

    [failed] = commands_for(firing, rule)

    assert isinstance(failed, AutomationActionFailed)
    assert failed.reason == "No flow run could be inferred"
    assert (failed.action_type, failed.firing.firing_id, failed.key) == (
        "cancel-flow-run",
        firing.id,
        str(rule.id),
    )


def test_the_run_is_inferred_from_related_resources_when_the_bucket_names_none() -> None:
    rule = automation(
        EventTrigger.model_validate({"posture": "Reactive", "expect": ["custom.alert"]})
    )
    evaluator = Evaluator()
    evaluator.set_automation(rule)
    run = uuid4()
    event = run_event("Failed", uuid4(), 1).model_copy(
        update={
            "event": "custom.alert",
            "resource": {"prefect.resource.id": "alerts.1"},
            "related": [
                {"prefect.resource.id": "prefect.tag.x", "prefect.resource.role": "tag"},
                {"prefect.resource.id": f"prefect.flow-run.{run}", "prefect.resource.role": "run"},
            ],
        }
    )
    [firing] = feed(evaluator, [event])

    [cancel] = commands_for(firing, rule)

    assert isinstance(cancel, CancelFlowRun)

    assert cancel.flow_run_id == run
