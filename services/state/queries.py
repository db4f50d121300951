"""SQL for the flow-run filter and sort that the REST API and bulk cancel accept."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from schemas.flow_runs import FlowRunFilterCriteria, FlowRunSort
from services.state.db.tables import flow_runs

_SORTS: dict[FlowRunSort, tuple[Any, ...]] = {
    FlowRunSort.ID_DESC: (flow_runs.c.id.desc(),),
    FlowRunSort.NAME_ASC: (flow_runs.c.name.asc(), flow_runs.c.id),
    FlowRunSort.NAME_DESC: (flow_runs.c.name.desc(), flow_runs.c.id),
    FlowRunSort.START_TIME_ASC: (flow_runs.c.start_time.asc(), flow_runs.c.id),
    FlowRunSort.START_TIME_DESC: (flow_runs.c.start_time.desc(), flow_runs.c.id),
    FlowRunSort.EXPECTED_START_TIME_ASC: (flow_runs.c.expected_start_time.asc(), flow_runs.c.id),
    FlowRunSort.EXPECTED_START_TIME_DESC: (
        flow_runs.c.expected_start_time.desc(),
        flow_runs.c.id,
    ),
    FlowRunSort.END_TIME_DESC: (flow_runs.c.end_time.desc(), flow_runs.c.id),
    FlowRunSort.CREATED_DESC: (flow_runs.c.created.desc(), flow_runs.c.id),
}


def order_by(sort: FlowRunSort) -> tuple[Any, ...]:
    return _SORTS[sort]


def where(criteria: FlowRunFilterCriteria | None) -> list[sa.ColumnElement[bool]]:
    """The WHERE clauses of a filter (all must hold)."""
    if criteria is None:
        return []
    clauses: list[sa.ColumnElement[bool]] = []
    if criteria.id is not None:
        if criteria.id.any_ is not None:
            clauses.append(flow_runs.c.id.in_(criteria.id.any_))
        if criteria.id.not_any_ is not None:
            clauses.append(flow_runs.c.id.not_in(criteria.id.not_any_))
    if criteria.name is not None:
        if criteria.name.any_ is not None:
            clauses.append(flow_runs.c.name.in_(criteria.name.any_))
        if criteria.name.like_ is not None:
            clauses.append(flow_runs.c.name.ilike(f"%{criteria.name.like_}%"))
    if criteria.state is not None:
        if criteria.state.type is not None:
            if criteria.state.type.any_ is not None:
                clauses.append(
                    flow_runs.c.state_type.in_([t.value for t in criteria.state.type.any_])
                )
            if criteria.state.type.not_any_ is not None:
                clauses.append(
                    flow_runs.c.state_type.not_in([t.value for t in criteria.state.type.not_any_])
                )
        if criteria.state.name is not None:
            if criteria.state.name.any_ is not None:
                clauses.append(flow_runs.c.state_name.in_(criteria.state.name.any_))
            if criteria.state.name.not_any_ is not None:
                clauses.append(flow_runs.c.state_name.not_in(criteria.state.name.not_any_))
    if criteria.tags is not None:
        clauses.extend(_tag_clauses(criteria))
    return clauses


def has_tag(tags: sa.ColumnElement[Any], tag: str) -> sa.ColumnElement[bool]:
    """Whether a JSON list of tags holds `tag`: matches the serialised element, which works
    on SQLite and PostgreSQL."""
    return sa.cast(tags, sa.Text).contains(json.dumps(tag), autoescape=True)


def _tag_clauses(criteria: FlowRunFilterCriteria) -> list[sa.ColumnElement[bool]]:
    tags = criteria.tags
    assert tags is not None
    text = sa.cast(flow_runs.c.tags, sa.Text)
    clauses: list[sa.ColumnElement[bool]] = []
    for tag in tags.all_ or []:
        clauses.append(has_tag(flow_runs.c.tags, tag))
    if tags.any_:
        clauses.append(sa.or_(*(has_tag(flow_runs.c.tags, t) for t in tags.any_)))
    if tags.is_null_ is True:
        clauses.append(text == "[]")
    elif tags.is_null_ is False:
        clauses.append(text != "[]")
    return clauses
