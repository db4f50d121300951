"""What a firing sends: one command per action of its automation, with deterministic ids.

A command's id is `uuid5(firing id, str(action index))`, so a replayed firing sends the same
commands and the state service keeps the first of each.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from schemas.automation_messages import AutomationActionFailed, ChangeFlowRunState
from schemas.automations import Automation, CancelFlowRunAction
from schemas.messages import CancelFlowRun, FiringRef
from services.automations.engine.firing import Firing
from services.automations.engine.max_runtime import MAX_RUNTIME_AUTOMATION_ID, limit_of

Command = CancelFlowRun | ChangeFlowRunState | AutomationActionFailed

NO_RUN = "No flow run could be inferred"


def command_id(firing_id: UUID, action_index: int) -> UUID:
    return uuid5(firing_id, str(action_index))


def commands_for(firing: Firing, automation: Automation) -> list[Command]:
    """The automation's `actions`, each aimed at the run the firing infers (Prefect's rule);
    an action with no run to act on is recorded as failed."""
    run_id = firing.flow_run_id()
    requested_by = f"automation:{automation.id}"
    commands: list[Command] = []
    for index, action in enumerate(automation.actions):
        ident = command_id(firing.id, index)
        ref = FiringRef(
            automation_id=automation.id,
            firing_id=firing.id,
            action_index=index,
            fired_at=firing.fired_at,
        )
        if run_id is None:
            commands.append(
                AutomationActionFailed(
                    id=ident,
                    occurred_at=firing.fired_at,
                    firing=ref,
                    action_type=action.type,
                    reason=NO_RUN,
                )
            )
        elif isinstance(action, CancelFlowRunAction):
            commands.append(
                CancelFlowRun(
                    id=ident,
                    occurred_at=firing.fired_at,
                    flow_run_id=run_id,
                    reason=_cancel_reason(firing, automation),
                    requested_by=requested_by,
                    firing=ref,
                )
            )
        else:
            commands.append(
                ChangeFlowRunState(
                    id=ident,
                    occurred_at=firing.fired_at,
                    flow_run_id=run_id,
                    state=action.state,
                    name=action.name,
                    message=action.message or f"State changed by Automation {automation.id}",
                    force=action.force,
                    requested_by=requested_by,
                    firing=ref,
                )
            )
    return commands


def _cancel_reason(firing: Firing, automation: Automation) -> str:
    reason = f"Cancelled by Automation {automation.id}"
    if automation.id != MAX_RUNTIME_AUTOMATION_ID or firing.triggering_event is None:
        return reason
    limit = limit_of(firing.triggering_event)
    seconds = f"{limit.total_seconds():g}" if limit else "?"
    return f"{reason}: RUNNING longer than its max runtime ({seconds} s)"
