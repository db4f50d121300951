"""In-process notifications of committed changes, for the live event stream (SSE).

The state service calls `LiveEvents.publish` after each commit with the messages that
transaction wrote (state changes, cancellation requests) and the worker results it
recorded. Each subscriber has a bounded queue; one that falls behind is dropped (its
stream ends and the client reconnects) rather than slowing the service down.

Only changes committed by this process are seen: a deployment with several state-service
replicas shows each browser the changes its own replica applied.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from uuid import UUID

import structlog

from schemas.messages import CancellationRequested, CancellationResult, FlowRunStateChanged

log = structlog.get_logger(__name__)

LiveMessage = FlowRunStateChanged | CancellationRequested | CancellationResult
LIVE_TYPES = (FlowRunStateChanged, CancellationRequested, CancellationResult)


class SubscriberTooSlow(Exception):
    """The subscriber's queue overflowed; its stream must end."""


class Subscription:
    def __init__(self, flow_run_id: UUID | None, queue_size: int) -> None:
        self.flow_run_id = flow_run_id
        self._queue: asyncio.Queue[LiveMessage] = asyncio.Queue(queue_size)
        self.overflowed = False

    def offer(self, message: LiveMessage) -> None:
        if self.flow_run_id is not None and message.flow_run_id != self.flow_run_id:
            return
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True

    async def next(self) -> LiveMessage:
        if self.overflowed and self._queue.empty():
            raise SubscriberTooSlow
        message = await self._queue.get()
        return message


class LiveEvents:
    def __init__(self, queue_size: int = 1000) -> None:
        self._queue_size = queue_size
        self._subscriptions: set[Subscription] = set()

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    def publish(self, messages: Sequence[object]) -> None:
        for message in messages:
            if not isinstance(message, LIVE_TYPES):
                continue
            for subscription in list(self._subscriptions):
                subscription.offer(message)

    @contextmanager
    def subscribe(self, flow_run_id: UUID | None = None) -> Iterator[Subscription]:
        """Changes of one run (or of every run) from now on, while the block lasts."""
        subscription = Subscription(flow_run_id, self._queue_size)
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)
            if subscription.overflowed:
                log.warning("live_subscriber_dropped", flow_run_id=str(flow_run_id))
