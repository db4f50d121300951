"""Statements whose text is the same for any number of values, so each is prepared once."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

DIALECTS = ("sqlite", "postgresql")


def one_of(column: sa.Column[Any], name: str, dialect: str) -> sa.ColumnElement[bool]:
    """`column IN (<the values of parameter name>)`. On PostgreSQL it is `column = ANY($1)`,
    one array parameter, so the statement's text, and the server's preparation of it, is the
    same for any number of values; an IN list is a new statement for every length."""
    if dialect == "postgresql":
        return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(column.type)))
    return column.in_(sa.bindparam(name, expanding=True))
