"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 16:45:34.187233
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "flow_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("flow_id", sa.Uuid(), nullable=False),
        sa.Column("deployment_id", sa.Uuid(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("infrastructure_pid", sa.String(length=2048), nullable=True),
        sa.Column("work_pool_name", sa.String(length=256), nullable=True),
        sa.Column("work_queue_name", sa.String(length=256), nullable=True),
        sa.Column("state_id", sa.Uuid(), nullable=True),
        sa.Column("state_type", sa.String(length=16), nullable=True),
        sa.Column("state_name", sa.String(length=64), nullable=True),
        sa.Column("state_timestamp", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state_message", sa.Text(), nullable=True),
        sa.Column("state_details", sa.JSON(), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expected_start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("run_count", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_runs")),
    )
    with op.batch_alter_table("flow_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flow_runs_created"), ["created"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_flow_runs_state_type_state_timestamp"),
            ["state_type", "state_timestamp"],
            unique=False,
        )

    op.create_table(
        "outbox",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("topic", sa.String(length=256), nullable=False),
        sa.Column("key", sa.String(length=256), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_outbox")),
        sa.UniqueConstraint("message_id", name=op.f("uq_outbox_message_id")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_pending",
            ["available_at", "seq"],
            unique=False,
            sqlite_where=sa.text("published_at IS NULL"),
            postgresql_where=sa.text("published_at IS NULL"),
        )

    op.create_table(
        "workers",
        sa.Column("worker", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.String(length=2048), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("interval_seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("worker", name=op.f("pk_workers")),
    )
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workers_kind_scope"), ["kind", "scope"], unique=False)

    op.create_table(
        "cancellation_attempts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("flow_run_id", sa.Uuid(), nullable=False),
        sa.Column("state_id", sa.Uuid(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(length=256), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("grace_seconds", sa.Float(), nullable=False),
        sa.Column("infrastructure", sa.String(length=2048), nullable=True),
        sa.Column("final_teardown", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(length=256), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result_id", sa.Uuid(), nullable=True),
        sa.Column("result_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["flow_run_id"],
            ["flow_runs.id"],
            name=op.f("fk_cancellation_attempts_flow_run_id_flow_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cancellation_attempts")),
    )
    with op.batch_alter_table("cancellation_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cancellation_attempts_flow_run_id_requested_at"),
            ["flow_run_id", "requested_at"],
            unique=False,
        )

    op.create_table(
        "flow_run_states",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("flow_run_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("state_details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["flow_run_id"], ["flow_runs.id"], name=op.f("fk_flow_run_states_flow_run_id_flow_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_run_states")),
    )
    with op.batch_alter_table("flow_run_states", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_flow_run_states_flow_run_id_timestamp"),
            ["flow_run_id", "timestamp"],
            unique=False,
        )


def downgrade() -> None:

    with op.batch_alter_table("flow_run_states", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flow_run_states_flow_run_id_timestamp"))

    op.drop_table("flow_run_states")
    with op.batch_alter_table("cancellation_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cancellation_attempts_flow_run_id_requested_at"))

    op.drop_table("cancellation_attempts")
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workers_kind_scope"))

    op.drop_table("workers")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_outbox_pending",
            sqlite_where=sa.text("published_at IS NULL"),
            postgresql_where=sa.text("published_at IS NULL"),
        )

    op.drop_table("outbox")
    with op.batch_alter_table("flow_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flow_runs_state_type_state_timestamp"))
        batch_op.drop_index(batch_op.f("ix_flow_runs_created"))

    op.drop_table("flow_runs")
