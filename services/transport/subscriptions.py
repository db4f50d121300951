"""The subscribe half of `Bus`, shared by both buses: it records what each group consumes."""

from __future__ import annotations

from collections.abc import Sequence

from services.transport.base import BatchHandler, CommitCap, Handler, OnAssigned, Subscription


class Subscriptions:
    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []

    def _accepts_subscriptions(self) -> bool:
        """False once the bus has started: consumers are created at start."""
        raise NotImplementedError

    def subscribe(self, topics: Sequence[str], group: str, handler: Handler) -> None:
        self._add(topics, Subscription(tuple(topics), group, handler=handler))

    def subscribe_batch(
        self,
        topics: Sequence[str],
        group: str,
        handler: BatchHandler,
        *,
        max_batch: int = 500,
        on_assigned: OnAssigned | None = None,
        commit_cap: CommitCap | None = None,
    ) -> None:
        subscription = Subscription(
            tuple(topics),
            group,
            batch_handler=handler,
            max_batch=max_batch,
            on_assigned=on_assigned,
            commit_cap=commit_cap,
        )
        self._add(topics, subscription)

    def subscribe_broadcast(
        self, topics: Sequence[str], group: str, handler: Handler, *, from_beginning: bool = False
    ) -> None:
        subscription = Subscription(
            tuple(topics), group, handler=handler, broadcast=True, from_beginning=from_beginning
        )
        self._add(topics, subscription)

    def subscribe_concurrent(
        self, topics: Sequence[str], group: str, handler: Handler, *, max_in_flight: int = 500
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be >= 1")
        subscription = Subscription(
            tuple(topics), group, handler=handler, concurrent=True, max_in_flight=max_in_flight
        )
        self._add(topics, subscription)

    def _add(self, topics: Sequence[str], subscription: Subscription) -> None:
        if not self._accepts_subscriptions():
            raise RuntimeError("subscribe before start")
        if isinstance(topics, str):
            raise TypeError("topics must be a sequence of topic names, not one string")
        self._subscriptions.append(subscription)
