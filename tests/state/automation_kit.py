"""Automations for the state service's tests: a stored rule and the commands its firings send.

The rule is written straight into the `automations` table (its routes are tested apart);
a firing's command has the ids the automations service gives it (the same firing, the same
ids), so a redelivery is the same message again.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4, uuid5

from schemas.automation_messages import AutomationActionFailed, ChangeFlowRunState
from schemas.automations import AutomationCreate, AutomationFiring
from schemas.messages import CancelFlowRun, FiringRef
from schemas.states import StateType
from services.state.automations import store as automation_store
from services.state.automations.rows import AutomationRow, column_values
from tests.state.conftest import StateHarness

CANCEL_RULE: dict[str, Any] = {
    "name": "stop nightly runs",
    "trigger": {
        "type": "event",
        "posture": "Reactive",
        "match": {"prefect.resource.id": "prefect.flow-run.*"},
        "match_related": {"prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.*"},
        "expect": ["prefect.flow-run.Running"],
    },
    "actions": [{"type": "cancel-flow-run"}],
}


async def store_automation(state: StateHarness, rule: dict[str, Any] | None = None) -> UUID:
    body = AutomationCreate.model_validate(rule or CANCEL_RULE)
    automation_id = uuid4()
    now = datetime.now(UTC)
    values = column_values(body, set(AutomationCreate.model_fields))
    row = AutomationRow(id=automation_id, created=now, updated=now, **values)
    await state.runtime.database.write(functools.partial(automation_store.insert, row=row))
    return automation_id


def firing(automation_id: UUID, action_index: int = 0) -> FiringRef:
    return FiringRef(
        automation_id=automation_id,
        firing_id=uuid4(),
        action_index=action_index,
        fired_at=datetime.now(UTC),
    )


def _message_id(ref: FiringRef) -> UUID:
    return uuid5(ref.firing_id, str(ref.action_index))


def cancel_command(run_id: UUID, ref: FiringRef) -> CancelFlowRun:
    return CancelFlowRun(id=_message_id(ref), flow_run_id=run_id, firing=ref)


def change_command(
    run_id: UUID, ref: FiringRef, state: StateType, **fields: Any
) -> ChangeFlowRunState:
    return ChangeFlowRunState(
        id=_message_id(ref), flow_run_id=run_id, state=state, firing=ref, **fields
    )


def action_failed(ref: FiringRef, reason: str) -> AutomationActionFailed:
    return AutomationActionFailed(
        id=_message_id(ref), firing=ref, action_type="cancel-flow-run", reason=reason
    )


async def firings_of(
    state: StateHarness, automation_id: UUID, **params: int
) -> list[AutomationFiring]:
    response = await state.api.get(f"/api/automations/{automation_id}/firings", params=params)
    assert response.status_code == 200, response.text
    return [AutomationFiring.model_validate(item) for item in response.json()]
