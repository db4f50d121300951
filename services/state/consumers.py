"""Entry points of the state service on the bus: turn a wire message into a use case call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from schemas.automation_messages import AutomationActionFailed, ChangeFlowRunState
from schemas.messages import (
    CancelFlowRun,
    CancellationResult,
    CancellationTimedOut,
    MessageRejected,
    WorkerHeartbeat,
    parse_message,
)
from schemas.topics import Topics
from services.state.errors import FlowRunNotFound, UnknownCancellationRequest
from services.state.service import StateService
from services.state.worker_registry import WorkerRegistry
from services.transport import Bus, InvalidMessage, Record

M = TypeVar(
    "M",
    CancelFlowRun,
    ChangeFlowRunState,
    AutomationActionFailed,
    CancellationResult,
    CancellationTimedOut,
    WorkerHeartbeat,
)

GROUP = "cancelbus.state"

Command = CancelFlowRun | ChangeFlowRunState | AutomationActionFailed
COMMANDS: dict[str, type[Command]] = {
    str(model.model_fields["schema_name"].default): model
    for model in (CancelFlowRun, ChangeFlowRunState, AutomationActionFailed)
}


class _Named(BaseModel):
    """Just the schema name of a command, to pick the model that parses the whole of it."""

    model_config = ConfigDict(extra="ignore")

    schema_name: str = str(CancelFlowRun.model_fields["schema_name"].default)


class StateConsumers:
    def __init__(
        self, service: StateService, workers: WorkerRegistry, *, max_message_bytes: int
    ) -> None:
        self._service = service
        self._workers = workers
        self._max_bytes = max_message_bytes

    def subscribe(self, bus: Bus) -> None:
        bus.subscribe([Topics.COMMANDS], GROUP, self.on_command)
        bus.subscribe_batch([Topics.CANCEL_RESULTS], GROUP, self.on_results)
        bus.subscribe([Topics.TIMED_OUT], GROUP, self.on_timed_out)
        bus.subscribe([Topics.EVENTS], GROUP, self.on_event)

    async def on_event(self, record: Record) -> None:
        """Worker heartbeats; other events on the topic are someone else's."""
        if b'"cancelbus.WorkerHeartbeat"' not in record.value:
            return
        await self._workers.record(self._parse(WorkerHeartbeat, record))

    async def on_command(self, record: Record) -> None:
        """A producer's or an automation's command, by its schema name (none: a cancel)."""
        model = self._command_model(record)
        try:
            if model is AutomationActionFailed:
                failure = self._parse(AutomationActionFailed, record)
                await self._service.record_action_failure(failure)
            elif model is ChangeFlowRunState:
                change = self._parse(ChangeFlowRunState, record)
                await self._service.apply_automation_command(change)
            else:
                command = self._parse(CancelFlowRun, record)
                if command.firing is None:
                    await self._service.cancel(command)
                else:
                    await self._service.apply_automation_command(command)
        except FlowRunNotFound as exc:
            raise InvalidMessage(str(exc)) from exc

    def _command_model(self, record: Record) -> type[Command]:
        """The model the record claims to be; one that is too large or not JSON is parsed as
        a cancel, whose parse then says why it is refused."""
        if len(record.value) > self._max_bytes:
            return CancelFlowRun
        try:
            name = _Named.model_validate_json(record.value).schema_name
        except ValidationError:
            return CancelFlowRun
        model = COMMANDS.get(name)
        if model is None:
            known = ", ".join(sorted(COMMANDS))
            raise InvalidMessage(f"unknown command {name[:80]!r} on {record.topic}: not {known}")
        return model

    async def on_results(self, records: Sequence[Record]) -> None:
        """Results in batches (one transaction each); a bad one fails the batch, and the
        transport then retries each record alone, so only that one is dead-lettered."""
        results = [self._parse(CancellationResult, record) for record in records]
        try:
            await self._service.apply_results(results)
        except UnknownCancellationRequest as exc:
            raise InvalidMessage(str(exc)) from exc

    async def on_timed_out(self, record: Record) -> None:
        event = self._parse(CancellationTimedOut, record)
        try:
            await self._service.apply_timeout(event)
        except FlowRunNotFound as exc:
            raise InvalidMessage(str(exc)) from exc

    def _parse(self, model: type[M], record: Record) -> M:
        try:
            return parse_message(model, record.value, max_bytes=self._max_bytes)
        except MessageRejected as exc:
            raise InvalidMessage(exc.reason) from exc
