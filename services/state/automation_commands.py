"""Applying the commands on `cancelbus.commands` that may come from an automation's firing.

A command with a firing records that action's outcome in the same transaction as the state
change it made, keyed by (firing id, action index): a command seen before changes nothing, so
a redelivered or replayed firing acts once. An automation's command for an unknown run is
recorded as failed rather than dead-lettered; a producer's (no firing) is refused as before.
"""

from __future__ import annotations

import functools

import structlog
from sqlalchemy.engine import Connection

from schemas.automation_messages import AutomationActionFailed, ChangeFlowRunState
from schemas.automations import FiringOutcome
from schemas.messages import CancelFlowRun, FiringRef
from schemas.orchestration import Status
from services.state import firings, store
from services.state.changes import CancelRequest, Changes
from services.state.errors import FlowRunNotFound
from services.state.firing_rules import Proposal, outcome_of, proposal_of
from services.state.firings import FiringRow
from services.state.orchestration import Orchestration
from services.state.transactions import Transactions

log = structlog.get_logger(__name__)


class AutomationCommands:
    def __init__(self, transactions: Transactions, orchestration: Orchestration) -> None:
        self._tx = transactions
        self._orchestration = orchestration

    async def apply(self, command: CancelFlowRun | ChangeFlowRunState) -> FiringOutcome | None:
        """Propose the command's state for its run; with a firing, the outcome recorded, or
        None for a command already recorded. Without one, an unknown run is refused
        (FlowRunNotFound) and the outcome is that of the orchestration."""
        proposal = proposal_of(command)
        changes = self._tx.changes()
        outcome, status = await self._tx.db.write(
            functools.partial(self._apply_in, proposal, changes)
        )
        self._tx.committed(changes)
        if status is not None:
            self._tx.metrics.orchestrations.labels(proposal.state.type.value, status.value).inc()
        if proposal.firing is not None:
            log.info(
                "automation_command_applied" if outcome is not None else "duplicate_firing",
                automation_id=str(proposal.firing.automation_id),
                firing_id=str(proposal.firing.firing_id),
                action_index=proposal.firing.action_index,
                flow_run_id=str(proposal.flow_run_id),
                outcome=outcome.value if outcome is not None else None,
            )
        return outcome

    async def record_failure(self, command: AutomationActionFailed) -> bool:
        """Keep an action the automation could not send as failed; False if kept already."""
        now = self._tx.changes().now
        row = FiringRow.of(
            command.firing, command.action_type, None, now, FiringOutcome.FAILED, command.reason
        )

        def record(conn: Connection) -> bool:
            if firings.recorded(conn, command.firing):
                return False
            firings.insert(conn, row)
            return True

        kept = await self._tx.db.write(record)
        log.info(
            "automation_action_failed",
            automation_id=str(command.firing.automation_id),
            firing_id=str(command.firing.firing_id),
            action_index=command.firing.action_index,
            duplicate=not kept,
        )
        return kept

    def _apply_in(
        self, proposal: Proposal, changes: Changes, conn: Connection
    ) -> tuple[FiringOutcome | None, Status | None]:
        """The outcome and the orchestration's answer (None, None: a duplicate)."""
        firing = proposal.firing
        # the run is locked first: a duplicate handled at the same moment (a partition moving
        # between replicas) waits here, then finds the row the first one committed
        run = store.lock_run(conn, proposal.flow_run_id)
        if firing is not None and firings.recorded(conn, firing):
            return None, None
        if run is None:
            if firing is None:
                raise FlowRunNotFound(proposal.flow_run_id)
            detail = str(FlowRunNotFound(proposal.flow_run_id))
            _record(conn, firing, proposal, changes, FiringOutcome.FAILED, detail)
            return FiringOutcome.FAILED, None
        before = run.current_type()
        request = CancelRequest(proposal.requested_by, proposal.reason, proposal.grace_seconds)
        result = self._orchestration.orchestrate(
            conn, run, proposal.state, proposal.force, request, changes
        )
        outcome, detail = outcome_of(
            before,
            result.status,
            changed=result.created,
            new_state=result.state.type if result.state is not None else None,
            reason=result.reason,
        )
        self._orchestration.settle(conn, changes)
        if firing is not None:
            _record(conn, firing, proposal, changes, outcome, detail)
        return outcome, result.status


def _record(
    conn: Connection,
    firing: FiringRef,
    proposal: Proposal,
    changes: Changes,
    outcome: FiringOutcome,
    detail: str,
) -> None:
    row = FiringRow.of(
        firing, proposal.action_type, proposal.flow_run_id, changes.now, outcome, detail
    )
    firings.insert(conn, row)
