"""Creating, replacing, pausing, deleting and finding automations.

Every change also writes an `AutomationChanged` to the outbox in its transaction, so the
automations replicas, following the compacted topic, learn of exactly the committed rules.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from uuid import UUID

from sqlalchemy.engine import Connection

from schemas.automation_messages import AutomationChanged
from schemas.automations import (
    Automation,
    AutomationCreate,
    AutomationFilter,
    AutomationFilterCriteria,
    AutomationPartialUpdate,
    AutomationUpdate,
)
from schemas.ids import uuid7
from services.state.automations import store
from services.state.automations.rows import (
    AutomationRow,
    JsonValue,
    column_values,
    with_fresh_ids,
)
from services.state.changes import Changes
from services.state.errors import AutomationNotFound
from services.state.transactions import Transactions


class Automations:
    def __init__(self, transactions: Transactions) -> None:
        self._tx = transactions

    async def create(self, body: AutomationCreate) -> Automation:
        body = body.model_copy(update={"trigger": with_fresh_ids(body.trigger)})
        changes = self._tx.changes()

        def create(conn: Connection) -> Automation:
            values = column_values(body, set(AutomationCreate.model_fields))
            row = AutomationRow(id=uuid7(), created=changes.now, updated=changes.now, **values)
            store.insert(conn, row)
            return _announce(conn, changes, row)

        created = await self._tx.db.write(create)
        self._tx.committed(changes)
        return created

    async def read(self, automation_id: UUID) -> Automation:
        row = await self._tx.db.read(functools.partial(store.read, automation_id=automation_id))
        if row is None:
            raise AutomationNotFound(automation_id)
        return row.to_automation()

    async def replace(self, automation_id: UUID, body: AutomationUpdate) -> None:
        """PUT: the fields given replace the stored ones (Prefect's semantics), with new
        trigger ids."""
        body = body.model_copy(update={"trigger": with_fresh_ids(body.trigger)})
        await self._change(automation_id, column_values(body, body.model_fields_set))

    async def set_enabled(self, automation_id: UUID, body: AutomationPartialUpdate) -> None:
        await self._change(automation_id, {"enabled": body.enabled})

    async def delete(self, automation_id: UUID) -> None:
        changes = self._tx.changes()

        def delete(conn: Connection) -> None:
            if store.read(conn, automation_id, lock=True) is None:
                raise AutomationNotFound(automation_id)
            store.delete(conn, [automation_id])
            _deleted(conn, changes, [automation_id])

        await self._tx.db.write(delete)
        self._tx.committed(changes)

    async def filter(self, query: AutomationFilter) -> list[Automation]:
        rows = await self._tx.db.read(functools.partial(store.filter_rows, query=query))
        return [row.to_automation() for row in rows]

    async def count(self, criteria: AutomationFilterCriteria | None) -> int:
        return await self._tx.db.read(functools.partial(store.count, criteria=criteria))

    async def related_to(self, resource_id: str) -> list[Automation]:
        rows = await self._tx.db.read(functools.partial(store.owned_by, resource_id=resource_id))
        return [row.to_automation() for row in rows]

    async def delete_owned_by(
        self, resource_id: str, criteria: AutomationFilterCriteria | None = None
    ) -> list[UUID]:
        """Delete the automations the resource owns (those matching `criteria`); their ids."""
        changes = self._tx.changes()

        def delete(conn: Connection) -> list[UUID]:
            ids = [row.id for row in store.owned_by(conn, resource_id, criteria)]
            store.delete(conn, ids)
            _deleted(conn, changes, ids)
            return ids

        deleted = await self._tx.db.write(delete)
        self._tx.committed(changes)
        return deleted

    async def _change(self, automation_id: UUID, values: dict[str, JsonValue]) -> None:
        changes = self._tx.changes()

        def change(conn: Connection) -> None:
            row = store.read(conn, automation_id, lock=True)
            if row is None:
                raise AutomationNotFound(automation_id)
            changed = {**values, "updated": changes.now}
            store.update(conn, automation_id, changed)
            _announce(conn, changes, dataclasses.replace(row, **changed))

        await self._tx.db.write(change)
        self._tx.committed(changes)


def _announce(conn: Connection, changes: Changes, row: AutomationRow) -> Automation:
    """Enqueue the automation as now stored (`row`, as written: not read again); returns it."""
    automation = row.to_automation()
    changes.publish(
        AutomationChanged(occurred_at=changes.now, automation_id=row.id, automation=automation)
    )
    changes.flush(conn)
    return automation


def _deleted(conn: Connection, changes: Changes, automation_ids: Sequence[UUID]) -> None:
    for automation_id in automation_ids:
        changes.publish(
            AutomationChanged(occurred_at=changes.now, automation_id=automation_id, automation=None)
        )
    changes.flush(conn)
