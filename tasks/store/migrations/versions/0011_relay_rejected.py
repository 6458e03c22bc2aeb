"""webhook_inbox.relay_rejected_at: rows whose event Prefect refused for good are set aside, not retried

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 20:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_inbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("relay_rejected_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_webhook_inbox_relay_rejected_at", ["relay_rejected_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("webhook_inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_inbox_relay_rejected_at")
        batch_op.drop_column("relay_rejected_at")
