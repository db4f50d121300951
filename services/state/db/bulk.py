"""Bulk writes: many rows of one shape handed to the driver at once, a column at a time.

SQLAlchemy's own executemany builds and converts a parameter dict per row; for the state
service's bulk writes that cost more than the database's work. Here each statement is
compiled once per table, columns and dialect, and each column's values are read off the rows
by field name and converted in one pass by the column type's own converter.

On PostgreSQL a statement per row costs the server more than the rest, and a multi-row INSERT
is a new statement to prepare for every number of rows (and a large one to keep in the
driver's cache); so rows go as one array per column, `INSERT ... SELECT * FROM
unnest(<arrays>)` and `UPDATE ... FROM unnest(...)`, one prepared statement per shape. A
single row goes as the plain statement, which the server runs sooner.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

Converters = tuple[Callable[[Any], Any] | None, ...]


def insert(
    conn: Connection, table: sa.Table, columns: tuple[str, ...], rows: Sequence[object]
) -> None:
    """Insert `rows`, each an object with an attribute per column named."""
    if rows:
        _execute(conn, _Shape(table, "insert", columns), rows)


def update(
    conn: Connection, table: sa.Table, columns: tuple[str, ...], rows: Sequence[object]
) -> None:
    """Set the columns named on each row found by its primary key (which `columns` holds)."""
    if rows:
        _execute(conn, _Shape(table, "update", columns), rows)


@dataclass(frozen=True, slots=True)
class _Shape:
    """An INSERT of, or an UPDATE by primary key setting, these columns."""

    table: sa.Table
    kind: Literal["insert", "update"]
    columns: tuple[str, ...]

    @property
    def key(self) -> sa.Column[Any]:
        (primary,) = self.table.primary_key.columns
        return primary


def _execute(conn: Connection, shape: _Shape, rows: Sequence[object]) -> None:
    arrays = conn.dialect.name == "postgresql" and len(rows) > 1
    sql, names, converters = _compiled(shape, conn.dialect, arrays)
    columns = []
    for name, convert in zip(names, converters, strict=True):
        values = list(map(operator.attrgetter(name), rows))
        columns.append(values if convert is None else list(map(convert, values)))
    if arrays:
        conn.exec_driver_sql(sql, tuple(columns))  # one array per column
    else:
        conn.exec_driver_sql(sql, list(zip(*columns, strict=True)))  # one tuple per row


def _key_parameter(shape: _Shape) -> str:
    # a column's own name is taken by the parameter that sets it
    return f"key_{shape.key.name}"


@functools.lru_cache(maxsize=256)
def _compiled(
    shape: _Shape, dialect: Dialect, arrays: bool
) -> tuple[str, tuple[str, ...], Converters]:
    """The SQL, the columns of its parameters in order, and their converters."""
    if arrays:
        return _from_arrays(shape, dialect)
    table = shape.table
    key = _key_parameter(shape)
    statement: sa.Insert | sa.Update
    if shape.kind == "insert":
        statement = sa.insert(table).values({name: sa.bindparam(name) for name in shape.columns})
    else:
        sets: dict[str, Any] = {
            name: sa.bindparam(name) for name in shape.columns if name != shape.key.name
        }
        statement = sa.update(table).where(shape.key == sa.bindparam(key)).values(sets)
    compiled = statement.compile(dialect=dialect)
    assert compiled.positiontup is not None, "a positional driver (sqlite3, asyncpg)"
    names = tuple(shape.key.name if name == key else name for name in compiled.positiontup)
    return compiled.string, names, _converters(table, names, dialect)


def _from_arrays(shape: _Shape, dialect: Dialect) -> tuple[str, tuple[str, ...], Converters]:
    table = shape.table
    quote = dialect.identifier_preparer.quote
    key = shape.key.name
    if shape.kind == "insert":
        names = shape.columns
    else:
        names = (key, *(name for name in shape.columns if name != key))
    arrays = ", ".join(
        f"${i}::{_unbounded(table.c[name].type).compile(dialect=dialect)}[]"
        for i, name in enumerate(names, 1)
    )
    listed = ", ".join(map(quote, names))
    given = f"unnest({arrays}) AS given({listed})"
    if shape.kind == "insert":
        sql = f"INSERT INTO {quote(table.name)} ({listed}) SELECT * FROM {given}"
    else:
        sets = ", ".join(f"{quote(name)} = given.{quote(name)}" for name in names[1:])
        sql = (
            f"UPDATE {quote(table.name)} SET {sets} FROM {given} "
            f"WHERE {quote(table.name)}.{quote(key)} = given.{quote(key)}"
        )
    return sql, names, _converters(table, names, dialect)


def _converters(table: sa.Table, names: tuple[str, ...], dialect: Dialect) -> Converters:
    """Each column type's converter of a Python value to the driver's, on this dialect."""
    return tuple(table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names)


def _unbounded(type_: sa.types.TypeEngine[Any]) -> sa.types.TypeEngine[Any]:
    """The array's element type without a length: a cast to `VARCHAR(64)` cuts a longer value
    short without a word, where the column itself refuses it."""
    return sa.String() if isinstance(type_, sa.String) else type_
