"""outbox: find unsent rows by seq

The relay reads the oldest unsent rows in seq order. The index on (available_at, seq) made
every pass sort all unsent rows, so a backlog of 20,000 cost a sort per 500 published; an
index of the unsent rows by seq is read in order, delayed retries skipped as it goes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 20:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNSENT = sa.text("published_at IS NULL")


def upgrade() -> None:
    op.drop_index("ix_outbox_pending", table_name="outbox")
    op.create_index(
        "ix_outbox_unsent",
        "outbox",
        ["seq"],
        sqlite_where=UNSENT,
        postgresql_where=UNSENT,
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_unsent", table_name="outbox")
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["available_at", "seq"],
        sqlite_where=UNSENT,
        postgresql_where=UNSENT,
    )
