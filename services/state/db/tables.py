"""The state service's tables (SQLAlchemy Core). Migrations in services/state/migrations."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from schemas.ids import uuid_from_int

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    }
)


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive).

    On SQLite the value is written and read as SQLAlchemy's own DATETIME text
    (`2026-11-25 18:51:52.123456`), by cached C calls: bulk writes bind hundreds of
    thousands of these, and the generic path cost several Python calls apiece.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.astimezone(UTC)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            return _sqlite_text
        return super().bind_processor(dialect)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            return _sqlite_datetime
        return super().result_processor(dialect, coltype)


# A transaction stamps most of its rows with the same instant, so the conversions are cached:
# a hit costs a twentieth of a conversion. Equal instants in other time zones share the text.
@functools.lru_cache(maxsize=1024)
def _sqlite_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


@functools.lru_cache(maxsize=1024)
def _sqlite_datetime(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


class Uuid(sa.TypeDecorator[UUID]):
    """UUIDs; on SQLite (32 hex digits) read back without UUID()'s parsing, which cost more
    than the rest of reading a row's ids."""

    impl = sa.Uuid()
    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            return _sqlite_uuid
        return super().result_processor(dialect, coltype)


def _sqlite_uuid(value: str | None) -> UUID | None:
    if value is None:
        return None
    if len(value) == 32:  # as this type writes them
        return uuid_from_int(int(value, 16))
    return UUID(value)


BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

flow_runs = sa.Table(
    "flow_runs",
    metadata,
    sa.Column("id", Uuid, primary_key=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("flow_id", Uuid, nullable=False),
    sa.Column("deployment_id", Uuid),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("parameters", sa.JSON, nullable=False),
    sa.Column("infrastructure_pid", sa.String(2048)),
    sa.Column("work_pool_name", sa.String(256)),
    sa.Column("work_queue_name", sa.String(256)),
    sa.Column("state_id", Uuid),
    sa.Column("state_type", sa.String(16)),
    sa.Column("state_name", sa.String(64)),
    sa.Column("state_timestamp", UtcDateTime),
    sa.Column("state_message", sa.Text),
    sa.Column("state_details", sa.JSON),
    sa.Column("created", UtcDateTime, nullable=False),
    sa.Column("updated", UtcDateTime, nullable=False),
    sa.Column("start_time", UtcDateTime),
    sa.Column("end_time", UtcDateTime),
    sa.Column("expected_start_time", UtcDateTime),
    sa.Column("run_count", sa.Integer, nullable=False, default=0),
    sa.Column("version", sa.Integer, nullable=False, default=0),
    sa.Column("parent_flow_run_id", Uuid),
    sa.Index(None, "state_type", "state_timestamp"),
    sa.Index(None, "created"),
    sa.Index(None, "parent_flow_run_id"),
)

flow_run_states = sa.Table(
    "flow_run_states",
    metadata,
    sa.Column("id", Uuid, primary_key=True),
    sa.Column("flow_run_id", Uuid, sa.ForeignKey("flow_runs.id"), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("timestamp", UtcDateTime, nullable=False),
    sa.Column("message", sa.Text),
    sa.Column("state_details", sa.JSON, nullable=False),
    sa.Index(None, "flow_run_id", "timestamp"),
)

cancellation_attempts = sa.Table(
    "cancellation_attempts",
    metadata,
    # the id of the CancellationRequested event this attempt published
    sa.Column("id", Uuid, primary_key=True),
    sa.Column("flow_run_id", Uuid, sa.ForeignKey("flow_runs.id"), nullable=False),
    sa.Column("state_id", Uuid, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("requested_by", sa.String(256)),
    sa.Column("reason", sa.Text),
    sa.Column("requested_at", UtcDateTime, nullable=False),
    sa.Column("grace_seconds", sa.Float, nullable=False),
    sa.Column("infrastructure", sa.String(2048)),
    sa.Column("final_teardown", sa.Boolean, nullable=False, default=False),
    sa.Column("outcome", sa.String(16)),
    sa.Column("detail", sa.Text),
    sa.Column("worker", sa.String(256)),
    sa.Column("started_at", UtcDateTime),
    sa.Column("finished_at", UtcDateTime),
    sa.Column("result_id", Uuid),
    sa.Column("result_at", UtcDateTime),
    sa.Index(None, "flow_run_id", "requested_at"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("message_id", Uuid, nullable=False, unique=True),
    sa.Column("topic", sa.String(256), nullable=False),
    sa.Column("key", sa.String(256), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("available_at", UtcDateTime, nullable=False),
    sa.Column("published_at", UtcDateTime),
    sa.Index(
        "ix_outbox_unsent",
        "seq",
        sqlite_where=sa.text("published_at IS NULL"),
        postgresql_where=sa.text("published_at IS NULL"),
    ),
)

workers = sa.Table(
    "workers",
    metadata,
    sa.Column("worker", sa.String(256), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("scope", sa.String(2048), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("last_seen", UtcDateTime, nullable=False),
    sa.Column("interval_seconds", sa.Float, nullable=False),
    sa.Index(None, "kind", "scope"),
)

automations = sa.Table(
    "automations",
    metadata,
    sa.Column("id", Uuid, primary_key=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("trigger", sa.JSON, nullable=False),
    sa.Column("actions", sa.JSON, nullable=False),
    sa.Column("actions_on_trigger", sa.JSON, nullable=False),
    sa.Column("actions_on_resolve", sa.JSON, nullable=False),
    sa.Column("owner_resource", sa.String(2048)),
    sa.Column("created", UtcDateTime, nullable=False),
    sa.Column("updated", UtcDateTime, nullable=False),
    sa.Index(None, "name"),
    sa.Index(None, "owner_resource"),
)

# one row per action of a firing: the key makes a redelivered command a duplicate
automation_firings = sa.Table(
    "automation_firings",
    metadata,
    sa.Column("firing_id", Uuid, primary_key=True),
    sa.Column("action_index", sa.Integer, primary_key=True),
    sa.Column("automation_id", Uuid, nullable=False),
    sa.Column("action_type", sa.String(64), nullable=False),
    sa.Column("flow_run_id", Uuid),
    sa.Column("fired_at", UtcDateTime, nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("detail", sa.Text),
    sa.Index(None, "automation_id", "fired_at"),
)
