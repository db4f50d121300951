"""What an automation's command proposes, and the outcome its firing keeps."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from schemas.automation_messages import ChangeFlowRunState
from schemas.automations import FiringOutcome
from schemas.messages import CancelFlowRun, FiringRef
from schemas.states import StateType
from services.state.firing_rules import outcome_of, proposal_of
from services.state.rules import decide

states = st.sampled_from(list(StateType))


@given(
    before=st.none() | states,
    proposed=states,
    has_infrastructure=st.booleans(),
    force=st.booleans(),
)
def test_a_firing_acted_exactly_when_the_state_changed_and_a_settled_run_is_never_a_failure(
    before: StateType | None, proposed: StateType, has_infrastructure: bool, force: bool
) -> None:
    verdict = decide(before, proposed, has_infrastructure=has_infrastructure, force=force)

    outcome, detail = outcome_of(
        before,
        verdict.status,
        changed=verdict.new_type is not None,
        new_state=verdict.new_type,
        reason=verdict.reason,
    )

    assert (outcome is FiringOutcome.ACTED) == (verdict.new_type is not None)
    settled = before is StateType.CANCELLING or (before is not None and before.is_terminal)
    if settled:
        assert outcome is not FiringOutcome.FAILED
    if proposed is StateType.CANCELLING:  # a cancel either acts or has nothing to do
        assert outcome is not FiringOutcome.FAILED
    assert detail


def test_an_automations_command_names_it_unless_it_names_someone() -> None:
    automation_id = uuid4()
    ref = FiringRef(
        automation_id=automation_id, firing_id=uuid4(), action_index=0, fired_at=datetime.now(UTC)
    )
    run_id = uuid4()

    cancel = proposal_of(CancelFlowRun(flow_run_id=run_id, firing=ref))
    change = proposal_of(ChangeFlowRunState(flow_run_id=run_id, state=StateType.FAILED, firing=ref))
    named = proposal_of(
        CancelFlowRun(flow_run_id=run_id, firing=ref, requested_by="ops", reason="maintenance")
    )
    producers = proposal_of(CancelFlowRun(flow_run_id=run_id))

    assert (cancel.requested_by, cancel.reason) == (
        f"automation:{automation_id}",
        f"Cancelled by Automation {automation_id}",
    )
    assert cancel.state.type is StateType.CANCELLING
    assert change.state.message == f"State changed by Automation {automation_id}"
    assert (change.action_type, cancel.action_type) == ("change-flow-run-state", "cancel-flow-run")
    assert (named.requested_by, named.reason) == ("ops", "maintenance")
    assert (producers.requested_by, producers.reason) == (None, None)
