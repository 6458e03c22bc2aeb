"""inbox work queue: each stored webhook carries the state of the work it causes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_inbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("work_state", sa.String(length=16), server_default="pending", nullable=False))
        batch_op.add_column(sa.Column("work_claim", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("work_claimed_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("work_not_before", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("work_attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("outcome", sa.Text(), nullable=True))
        batch_op.create_index("ix_webhook_inbox_work", ["work_state", "id"], unique=False)
    # Rows the old path already handed to Prefect (one flow run per event) are done; the rest wait here.
    op.execute("UPDATE webhook_inbox SET work_state = 'done' WHERE relayed_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("webhook_inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_inbox_work")
        batch_op.drop_column("outcome")
        batch_op.drop_column("processed_at")
        batch_op.drop_column("work_attempts")
        batch_op.drop_column("work_not_before")
        batch_op.drop_column("work_claimed_until")
        batch_op.drop_column("work_claim")
        batch_op.drop_column("work_state")
