"""Entry points of the state service on the bus: turn a wire message into a use case call."""

from __future__ import annotations

from typing import TypeVar

from schemas.messages import (
    CancelFlowRun,
    CancellationResult,
    CancellationTimedOut,
    MessageRejected,
    parse_message,
)
from schemas.topics import Topics
from services.state.service import FlowRunNotFound, StateService, UnknownCancellationRequest
from services.transport import Bus, InvalidMessage, Record

M = TypeVar("M", CancelFlowRun, CancellationResult, CancellationTimedOut)

GROUP = "cancelbus.state"


class StateConsumers:
    def __init__(self, service: StateService, *, max_message_bytes: int) -> None:
        self._service = service
        self._max_bytes = max_message_bytes

    def subscribe(self, bus: Bus) -> None:
        bus.subscribe([Topics.COMMANDS], GROUP, self.on_command)
        bus.subscribe([Topics.CANCEL_RESULTS], GROUP, self.on_result)
        bus.subscribe([Topics.TIMED_OUT], GROUP, self.on_timed_out)

    async def on_command(self, record: Record) -> None:
        command = self._parse(CancelFlowRun, record)
        try:
            await self._service.cancel(command)
        except FlowRunNotFound as exc:
            raise InvalidMessage(str(exc)) from exc

    async def on_result(self, record: Record) -> None:
        result = self._parse(CancellationResult, record)
        try:
            await self._service.apply_result(result)
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
