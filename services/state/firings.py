"""SQL reads and writes of automations' firings (`automation_firings`): one row per action of
a firing, keyed by (firing id, action index), so a redelivered command finds its row."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schemas.automations import AutomationFiring, FiringOutcome
from schemas.messages import FiringRef
from services.state.db.tables import automation_firings, automations
from services.state.rows import names

DETAIL_MAX = 2000  # a reason kept with the firing; the full text is in the logs


@dataclasses.dataclass(slots=True)
class FiringRow:
    """One `automation_firings` row: what became of one action of one firing."""

    firing_id: UUID
    action_index: int
    automation_id: UUID
    action_type: str
    flow_run_id: UUID | None
    fired_at: datetime
    recorded_at: datetime
    outcome: str
    detail: str | None

    @classmethod
    def of(
        cls,
        firing: FiringRef,
        action_type: str,
        flow_run_id: UUID | None,
        recorded_at: datetime,
        outcome: FiringOutcome,
        detail: str | None,
    ) -> FiringRow:
        return cls(
            firing.firing_id,
            firing.action_index,
            firing.automation_id,
            action_type,
            flow_run_id,
            firing.fired_at,
            recorded_at,
            outcome.value,
            detail[:DETAIL_MAX] if detail is not None else None,
        )

    def to_firing(self) -> AutomationFiring:
        return AutomationFiring.model_validate(self, from_attributes=True)


_COLUMNS = names(FiringRow)

_RECORDED = sa.select(sa.literal(1)).where(
    automation_firings.c.firing_id == sa.bindparam("firing_id"),
    automation_firings.c.action_index == sa.bindparam("action_index"),
)
_AUTOMATION_EXISTS = sa.select(sa.literal(1)).where(automations.c.id == sa.bindparam("id"))


def recorded(conn: Connection, firing: FiringRef) -> bool:
    """Whether this action of this firing has its outcome already (a command seen before)."""
    params = {"firing_id": firing.firing_id, "action_index": firing.action_index}
    return conn.execute(_RECORDED, params).first() is not None


_INSERT = automation_firings.insert()


def insert(conn: Connection, row: FiringRow) -> None:
    # one row at a time (the bulk writer keys its tables by a single column)
    conn.execute(_INSERT, dataclasses.asdict(row))


def automation_exists(conn: Connection, automation_id: UUID) -> bool:
    return conn.execute(_AUTOMATION_EXISTS, {"id": automation_id}).first() is not None


def firings_of(
    conn: Connection, automation_id: UUID, *, limit: int, offset: int
) -> list[FiringRow] | None:
    """The automation's firings, newest first (a firing's actions in order); None if the
    automation is unknown."""
    if not automation_exists(conn, automation_id):
        return None
    stmt = (
        sa.select(*(automation_firings.c[name] for name in _COLUMNS))
        .where(automation_firings.c.automation_id == automation_id)
        .order_by(
            automation_firings.c.fired_at.desc(),
            automation_firings.c.firing_id,
            automation_firings.c.action_index,
        )
        .limit(limit)
        .offset(offset)
    )
    return [FiringRow(*row) for row in conn.execute(stmt)]
