"""The state service's use cases in one place: creating and reading runs (runs.py),
orchestrating states (orchestration.py), applying results and timeouts (results.py).

Every state change and the events it causes are written in one transaction (the outbox);
the relay publishes them afterwards.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime
from uuid import UUID

from schemas.automation_messages import AutomationActionFailed, ChangeFlowRunState
from schemas.automations import (
    AutomationCore,
    AutomationFiring,
    AutomationPreview,
    FiringOutcome,
)
from schemas.flow_runs import (
    BulkCancel,
    BulkCancelResult,
    FlowRun,
    FlowRunCreate,
    FlowRunFilter,
    FlowRunFilterCriteria,
    FlowRunUpdate,
    StateCreate,
)
from schemas.history import CancellationAttempt
from schemas.messages import CancelFlowRun, CancellationResult, CancellationTimedOut, Message
from schemas.states import State
from services.state import firings
from services.state.automation_commands import AutomationCommands
from services.state.automations.use_cases import Automations
from services.state.changes import CancelRequest
from services.state.db.engine import Database
from services.state.errors import (
    AutomationNotFound,
    FlowRunNotFound,
    UnknownCancellationRequest,
)
from services.state.metrics import StateMetrics
from services.state.orchestration import Orchestration, OrchestrationResult
from services.state.outbox_store import OutboxRow
from services.state.preview import preview
from services.state.results import Results
from services.state.runs import Runs
from services.state.settings import OrchestrationSettings
from services.state.transactions import Transactions

__all__ = ["FlowRunNotFound", "OrchestrationResult", "StateService", "UnknownCancellationRequest"]


class StateService:
    """The use cases, each a transaction; after each commit, `on_outbox_write` is given the
    outbox rows it wrote (for the relay) and `on_commit` the messages it wrote and consumed."""

    def __init__(
        self,
        database: Database,
        settings: OrchestrationSettings,
        metrics: StateMetrics,
        on_outbox_write: Callable[[Sequence[OutboxRow]], None] = lambda _rows: None,
        on_commit: Callable[[Sequence[Message]], None] = lambda _messages: None,
    ) -> None:
        transactions = Transactions(database, settings, metrics, on_outbox_write, on_commit)
        self._db = database
        self.orchestration = Orchestration(transactions)
        self.runs = Runs(transactions, self.orchestration)
        self.results = Results(transactions)
        self.automations = Automations(transactions)
        self.automation_commands = AutomationCommands(transactions, self.orchestration)

    # -- runs -------------------------------------------------------------------------------

    async def create_flow_run(self, body: FlowRunCreate) -> FlowRun:
        return await self.runs.create_flow_run(body)

    async def read_flow_run(self, run_id: UUID) -> FlowRun:
        return await self.runs.read_flow_run(run_id)

    async def update_flow_run(self, run_id: UUID, body: FlowRunUpdate) -> None:
        await self.runs.update_flow_run(run_id, body)

    async def filter_flow_runs(self, query: FlowRunFilter) -> list[FlowRun]:
        return await self.runs.filter_flow_runs(query)

    async def count_flow_runs(self, criteria: FlowRunFilterCriteria | None) -> int:
        return await self.runs.count_flow_runs(criteria)

    async def states(self, run_id: UUID) -> list[State]:
        return await self.runs.states(run_id)

    async def cancellation_history(self, run_id: UUID) -> list[CancellationAttempt]:
        return await self.runs.cancellation_history(run_id)

    async def cancelling_runs(self) -> list[tuple[UUID, UUID, datetime]]:
        """(run id, CANCELLING state id, since) of every run now CANCELLING."""
        return await self.runs.cancelling_runs()

    # -- orchestration ----------------------------------------------------------------------

    async def set_state(
        self,
        run_id: UUID,
        proposed: StateCreate,
        *,
        force: bool = False,
        request: CancelRequest | None = None,
    ) -> OrchestrationResult:
        return await self.orchestration.set_state(run_id, proposed, force=force, request=request)

    async def cancel(self, command: CancelFlowRun) -> OrchestrationResult:
        return await self.orchestration.cancel(command)

    async def bulk_cancel(self, body: BulkCancel) -> BulkCancelResult:
        return await self.orchestration.bulk_cancel(body)

    # -- automations' commands --------------------------------------------------------------

    async def apply_automation_command(
        self, command: CancelFlowRun | ChangeFlowRunState
    ) -> FiringOutcome | None:
        """Apply the command, its firing's outcome recorded with it (None: seen before)."""
        return await self.automation_commands.apply(command)

    async def record_action_failure(self, command: AutomationActionFailed) -> bool:
        return await self.automation_commands.record_failure(command)

    async def automation_firings(
        self, automation_id: UUID, *, limit: int, offset: int
    ) -> list[AutomationFiring]:
        """The automation's firings, newest first (AutomationNotFound: no such automation)."""
        read = functools.partial(firings.firings_of, automation_id=automation_id)
        rows = await self._db.read(functools.partial(read, limit=limit, offset=offset))
        if rows is None:
            raise AutomationNotFound(automation_id)
        return [row.to_firing() for row in rows]

    async def preview_automation(self, automation: AutomationCore) -> AutomationPreview:
        """The runs the automation would act on now (a dry run)."""
        return await preview(self._db, automation)

    # -- results and timeouts ---------------------------------------------------------------

    async def apply_results(self, results: Sequence[CancellationResult]) -> None:
        await self.results.apply_results(results)

    async def apply_timeout(self, event: CancellationTimedOut) -> bool:
        """Force CANCELLED if the run is still in that same CANCELLING state; True if forced."""
        return await self.results.apply_timeout(event)
