"""Entry points of the state service on the bus: turn a wire message into a use case call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

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

M = TypeVar("M", CancelFlowRun, CancellationResult, CancellationTimedOut, WorkerHeartbeat)

GROUP = "cancelbus.state"


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
        command = self._parse(CancelFlowRun, record)
        try:
            await self._service.cancel(command)
        except FlowRunNotFound as exc:
            raise InvalidMessage(str(exc)) from exc

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
