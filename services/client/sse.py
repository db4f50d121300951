"""Server-sent events: a line parser and the decoding of the state service's live events."""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.flow_runs import FlowRun
from schemas.messages import CancellationRequested, CancellationResult, FlowRunStateChanged

LiveEvent = FlowRun | FlowRunStateChanged | CancellationRequested | CancellationResult

_DECODERS: dict[
    str,
    type[FlowRun]
    | type[FlowRunStateChanged]
    | type[CancellationRequested]
    | type[CancellationResult],
] = {
    "flow-run": FlowRun,
    "state": FlowRunStateChanged,
    "cancellation-requested": CancellationRequested,
    "cancellation-result": CancellationResult,
}


@dataclass(frozen=True)
class RawEvent:
    event: str
    data: str
    id: str | None


@dataclass
class SseParser:
    """Feed it one line at a time (without the line break); a blank line ends an event."""

    _event: str = ""
    _data: list[str] = field(default_factory=list)
    _id: str | None = None

    def feed(self, line: str) -> RawEvent | None:
        if not line:
            if not self._data:
                self._event = ""
                return None
            event = RawEvent(self._event or "message", "\n".join(self._data), self._id)
            self._event, self._data = "", []
            return event
        if line.startswith(":"):
            return None  # a comment: the server's keep-alive ping
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            self._id = value
        return None


def decode(raw: RawEvent) -> LiveEvent | None:
    """The typed event, or None for an event this client does not know (newer server)."""
    model = _DECODERS.get(raw.event)
    return model.model_validate_json(raw.data) if model is not None else None
