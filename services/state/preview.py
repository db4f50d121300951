"""A dry run of an automation: the non-terminal runs it would act on now (see preview_rules.py).

Runs are read a page at a time, a state type at a time in the order of its index (state type,
state time), only the columns their current-state event needs, and only in non-terminal states
(and, when the trigger names the states it reacts to, in one of those); each page is judged on
a worker thread, so neither the database's thread nor the event loop is held for the whole of
a large table.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schemas.automations import AutomationCore, AutomationPreview
from schemas.events import Event, state_change_event
from schemas.messages import FlowRunStateChanged
from schemas.states import TERMINAL_STATES, State, StateType, utcnow
from services.state.db.engine import Database
from services.state.db.tables import flow_runs
from services.state.preview_rules import AnyTrigger, acts_on, state_names
from services.state.rows import names

MAX_IDS = 200  # listed; `matched` counts them all
PAGE = 2000

_OPEN_STATES = [state.value for state in StateType if state not in TERMINAL_STATES]


@dataclasses.dataclass(slots=True)
class EventRow:
    """What a run's current-state event is built from (`flow_runs`)."""

    id: UUID
    name: str
    flow_id: UUID
    deployment_id: UUID | None
    tags: list[str]
    work_pool_name: str | None
    work_queue_name: str | None
    parent_flow_run_id: UUID | None
    run_count: int
    state_id: UUID
    state_type: str
    state_name: str
    state_timestamp: datetime
    state_message: str | None

    def current_state_event(self) -> Event:
        # the row's values are the database's, valid already: built without validation (a
        # third of the time a preview takes), the event itself is validated as usual
        state = State.model_construct(
            id=self.state_id,
            type=StateType(self.state_type),
            name=self.state_name,
            timestamp=self.state_timestamp,
            message=self.state_message,
            state_details={},
        )
        return state_change_event(
            FlowRunStateChanged.model_construct(
                id=self.state_id,
                occurred_at=self.state_timestamp,
                flow_run_id=self.id,
                event=f"prefect.flow-run.{self.state_name}",
                state=state,
                tags=self.tags,
                flow_run_name=self.name,
                flow_id=self.flow_id,
                deployment_id=self.deployment_id,
                work_pool_name=self.work_pool_name,
                work_queue_name=self.work_queue_name,
                parent_flow_run_id=self.parent_flow_run_id,
                run_count=self.run_count,
            )
        )


_COLUMNS = [flow_runs.c[name] for name in names(EventRow)]


@dataclasses.dataclass(frozen=True, slots=True)
class _Cursor:
    """Where the next page of runs in one state type starts: after this (time, id)."""

    state_type: str
    after: tuple[datetime, UUID] | None = None


def _page(
    conn: Connection, cursor: _Cursor, states: frozenset[str] | None, size: int
) -> list[EventRow]:
    """Runs of one state type in the order of its index (state type, state time), so each
    page is a range of that index, not a sort of every open run."""
    when, run_id = flow_runs.c.state_timestamp, flow_runs.c.id
    stmt = sa.select(*_COLUMNS).where(flow_runs.c.state_type == cursor.state_type)
    if states is not None:
        stmt = stmt.where(flow_runs.c.state_name.in_(sorted(states)))
    if cursor.after is not None:
        since, last = cursor.after
        stmt = stmt.where(when >= since, sa.or_(when > since, run_id > last))
    stmt = stmt.order_by(when, run_id).limit(size)
    return [EventRow(*row) for row in conn.execute(stmt)]


def _acted_on(trigger: AnyTrigger, rows: Sequence[EventRow], now: datetime) -> list[UUID]:
    return [row.id for row in rows if acts_on(trigger, row.current_state_event(), now)]


async def preview(
    database: Database, automation: AutomationCore, *, now: datetime | None = None
) -> AutomationPreview:
    """The runs `automation` would act on at `now` (default: now): how many, and the first
    MAX_IDS found (by state type, then longest in their state first)."""
    now = now or utcnow()
    trigger = automation.trigger
    states = state_names(trigger)
    ids: list[UUID] = []
    matched = 0
    for state_type in _OPEN_STATES if states is None or states else []:
        cursor = _Cursor(state_type)
        while True:
            page = functools.partial(_page, cursor=cursor, states=states, size=PAGE)
            rows = await database.read(page)
            found = await asyncio.to_thread(_acted_on, trigger, rows, now)
            matched += len(found)
            ids.extend(found[: MAX_IDS - len(ids)])
            if len(rows) < PAGE:
                break
            cursor = _Cursor(state_type, (rows[-1].state_timestamp, rows[-1].id))
    return AutomationPreview(flow_run_ids=ids, matched=matched, truncated=matched > len(ids))
