"""automations, their firings, and runs' parents

Automations are stored as Prefect shapes them (trigger and actions as JSON); each action of a
firing is one row keyed by (firing id, action index), so a redelivered command finds its row
and changes nothing. A run may name its parent run, for cascading cancellation.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 08:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("flow_runs") as batch:
        batch.add_column(sa.Column("parent_flow_run_id", sa.Uuid()))
        batch.create_index("ix_flow_runs_parent_flow_run_id", ["parent_flow_run_id"])
    op.create_table(
        "automations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("trigger", sa.JSON, nullable=False),
        sa.Column("actions", sa.JSON, nullable=False),
        sa.Column("actions_on_trigger", sa.JSON, nullable=False),
        sa.Column("actions_on_resolve", sa.JSON, nullable=False),
        sa.Column("owner_resource", sa.String(2048)),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_automations"),
    )
    op.create_index("ix_automations_name", "automations", ["name"])
    op.create_index("ix_automations_owner_resource", "automations", ["owner_resource"])
    op.create_table(
        "automation_firings",
        sa.Column("firing_id", sa.Uuid(), nullable=False),
        sa.Column("action_index", sa.Integer, nullable=False),
        sa.Column("automation_id", sa.Uuid(), nullable=False),
        sa.Column("action_type", sa.String(64), nullable=False),
        sa.Column("flow_run_id", sa.Uuid()),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text),
        sa.PrimaryKeyConstraint("firing_id", "action_index", name="pk_automation_firings"),
    )
    op.create_index(
        "ix_automation_firings_automation_id_fired_at",
        "automation_firings",
        ["automation_id", "fired_at"],
    )


def downgrade() -> None:
    op.drop_table("automation_firings")
    op.drop_table("automations")
    with op.batch_alter_table("flow_runs") as batch:
        batch.drop_index("ix_flow_runs_parent_flow_run_id")
        batch.drop_column("parent_flow_run_id")
