"""What an automation's command asks of a run, and what became of it. Pure.

An automation's command names who asked (`automation:<id>`) and why, as Prefect words it; the
outcome of applying it is kept with its firing: `acted` when the run's state changed,
`nothing_to_do` when the run was already cancelling or terminal (or the proposal changed
nothing), `failed` when the run is unknown or the change was refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from schemas.automation_messages import ChangeFlowRunState
from schemas.automations import FiringOutcome
from schemas.flow_runs import StateCreate
from schemas.messages import CancelFlowRun, FiringRef
from schemas.orchestration import Status
from schemas.states import StateType

CANCEL_ACTION = "cancel-flow-run"
CHANGE_STATE_ACTION = "change-flow-run-state"


def requested_by(automation_id: UUID) -> str:
    return f"automation:{automation_id}"


def cancel_reason(automation_id: UUID) -> str:
    return f"Cancelled by Automation {automation_id}"


def change_message(automation_id: UUID) -> str:
    return f"State changed by Automation {automation_id}"


@dataclass(frozen=True, slots=True)
class Proposal:
    """The state a command proposes for its run, and who asked for it and why."""

    flow_run_id: UUID
    state: StateCreate
    force: bool
    requested_by: str | None
    reason: str | None
    grace_seconds: float | None
    action_type: str
    firing: FiringRef | None


def proposal_of(command: CancelFlowRun | ChangeFlowRunState) -> Proposal:
    """An automation's command names its automation unless it names someone itself."""
    firing = command.firing
    asker = command.requested_by
    if asker is None and firing is not None:
        asker = requested_by(firing.automation_id)
    if isinstance(command, CancelFlowRun):
        reason = command.reason
        if reason is None and firing is not None:
            reason = cancel_reason(firing.automation_id)
        return Proposal(
            command.flow_run_id,
            StateCreate(type=StateType.CANCELLING, message=reason),
            command.force,
            asker,
            reason,
            command.grace_seconds,
            CANCEL_ACTION,
            firing,
        )
    message = command.message
    if message is None and firing is not None:
        message = change_message(firing.automation_id)
    return Proposal(
        command.flow_run_id,
        StateCreate(type=command.state, name=command.name, message=message),
        command.force,
        asker,
        message,
        None,
        CHANGE_STATE_ACTION,
        firing,
    )


def outcome_of(
    before: StateType | None,
    status: Status,
    *,
    changed: bool,
    new_state: StateType | None,
    reason: str | None,
) -> tuple[FiringOutcome, str]:
    """The outcome of a proposal given the run's state `before` and the orchestration's
    answer, with a line saying why."""
    if changed:
        return FiringOutcome.ACTED, f"{_name(before)} -> {_name(new_state)}"
    settled = before is StateType.CANCELLING or (before is not None and before.is_terminal)
    if status is Status.ACCEPT:
        return FiringOutcome.NOTHING_TO_DO, f"already {_name(before)}"
    if settled:
        return FiringOutcome.NOTHING_TO_DO, reason or f"already {_name(before)}"
    return FiringOutcome.FAILED, reason or f"{status.value}: the change was refused"


def _name(state: StateType | None) -> str:
    return state.value if state is not None else "no state"
