"""What every use case of the state service shares: the database and settings, and who is
told what each commit wrote.

Each transaction is a plain function of a connection, handed whole to the database (see
db/engine.py); the use case then announces what it wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from schemas.messages import Message
from schemas.states import utcnow
from services.state.changes import Changes
from services.state.db.engine import Database
from services.state.metrics import StateMetrics
from services.state.outbox_store import OutboxRow
from services.state.settings import OrchestrationSettings


class Transactions:
    def __init__(
        self,
        database: Database,
        settings: OrchestrationSettings,
        metrics: StateMetrics,
        on_outbox_write: Callable[[Sequence[OutboxRow]], None],
        on_commit: Callable[[Sequence[Message]], None],
    ) -> None:
        self.db = database
        self.settings = settings
        self.metrics = metrics
        self._on_outbox_write = on_outbox_write
        # after each commit: what it wrote, for in-process live notifications
        self._on_commit = on_commit

    def changes(self) -> Changes:
        """What the next transaction writes, stamped now."""
        return Changes(utcnow(), self.settings.default_grace_seconds, self.metrics)

    def committed(self, changes: Changes, consumed: Sequence[Message] = ()) -> None:
        """Announce what a committed transaction wrote, and the messages it consumed."""
        if changes.outbox_rows:
            self._on_outbox_write(changes.outbox_rows)
        if changes.messages or consumed:
            self._on_commit([*consumed, *(m for m, _ in changes.messages)])
