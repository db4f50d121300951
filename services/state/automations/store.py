"""SQL of the `automations` table: each function runs in its caller's transaction."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from schemas.automations import (
    AutomationFilter,
    AutomationFilterCriteria,
    AutomationSort,
    AutomationTagsFilter,
)
from services.state.automations.rows import COLUMNS, AutomationRow
from services.state.db.tables import automations
from services.state.queries import has_tag

_ALL = tuple(automations.c[name] for name in COLUMNS)
_SORTS: dict[AutomationSort, tuple[Any, ...]] = {
    # the id breaks ties, so pages do not overlap
    AutomationSort.CREATED_DESC: (automations.c.created.desc(), automations.c.id),
    AutomationSort.UPDATED_DESC: (automations.c.updated.desc(), automations.c.id),
    AutomationSort.NAME_ASC: (automations.c.name.asc(), automations.c.id),
    AutomationSort.NAME_DESC: (automations.c.name.desc(), automations.c.id),
}


def insert(conn: Connection, row: AutomationRow) -> None:
    conn.execute(sa.insert(automations).values({name: getattr(row, name) for name in COLUMNS}))


def read(conn: Connection, automation_id: UUID, *, lock: bool = False) -> AutomationRow | None:
    stmt = sa.select(*_ALL).where(automations.c.id == automation_id)
    if lock:
        stmt = stmt.with_for_update()
    found = conn.execute(stmt).first()
    return AutomationRow(*found) if found is not None else None


def update(conn: Connection, automation_id: UUID, values: dict[str, Any]) -> None:
    conn.execute(sa.update(automations).where(automations.c.id == automation_id).values(values))


def delete(conn: Connection, automation_ids: Sequence[UUID]) -> None:
    if automation_ids:
        conn.execute(sa.delete(automations).where(automations.c.id.in_(automation_ids)))


def filter_rows(conn: Connection, query: AutomationFilter) -> list[AutomationRow]:
    stmt = (
        sa.select(*_ALL)
        .where(*where(query.automations))
        .order_by(*_SORTS[query.sort])
        .limit(query.limit)
        .offset(query.offset)
    )
    return [AutomationRow(*found) for found in conn.execute(stmt)]


def count(conn: Connection, criteria: AutomationFilterCriteria | None) -> int:
    stmt = sa.select(sa.func.count()).select_from(automations).where(*where(criteria))
    return int(conn.execute(stmt).scalar_one())


def owned_by(
    conn: Connection, resource_id: str, criteria: AutomationFilterCriteria | None = None
) -> list[AutomationRow]:
    """The automations a resource owns, by name. An automation's only related resource is
    its owner: Prefect relates deployments too, but only through run-deployment actions."""
    stmt = (
        sa.select(*_ALL)
        .where(automations.c.owner_resource == resource_id, *where(criteria))
        .order_by(*_SORTS[AutomationSort.NAME_ASC])
    )
    return [AutomationRow(*found) for found in conn.execute(stmt)]


def where(criteria: AutomationFilterCriteria | None) -> list[sa.ColumnElement[bool]]:
    """The WHERE clause of a filter, as a list (empty: everything matches)."""
    if criteria is None:
        return []
    clauses: list[sa.ColumnElement[bool]] = []
    if criteria.id is not None and criteria.id.any_ is not None:
        clauses.append(automations.c.id.in_(criteria.id.any_))
    if criteria.name is not None and criteria.name.any_ is not None:
        clauses.append(automations.c.name.in_(criteria.name.any_))
    if criteria.created is not None and criteria.created.before_ is not None:
        clauses.append(automations.c.created <= criteria.created.before_)
    if criteria.tags is not None:
        clauses.extend(_tags(criteria.tags))
    return _combined(criteria.operator, clauses)


def _tags(tags: AutomationTagsFilter) -> list[sa.ColumnElement[bool]]:
    text = sa.cast(automations.c.tags, sa.Text)
    has = functools.partial(has_tag, automations.c.tags)
    clauses: list[sa.ColumnElement[bool]] = []
    if tags.all_ is not None:
        clauses.append(sa.and_(sa.true(), *map(has, tags.all_)))
    if tags.any_ is not None:
        clauses.append(sa.or_(sa.false(), *map(has, tags.any_)))
    if tags.is_null_ is not None:
        clauses.append(text == "[]" if tags.is_null_ else text != "[]")
    return _combined(tags.operator, clauses)


def _combined(operator: str, clauses: list[sa.ColumnElement[bool]]) -> list[sa.ColumnElement[bool]]:
    """Prefect's operators: all clauses must hold (`and_`), or any one (`or_`)."""
    if operator == "or_" and len(clauses) > 1:
        return [sa.or_(*clauses)]
    return clauses
