"""restore_marks: a restored database reconciles pre-restore requests with the provider before sending

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 18:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "restore_marks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("restored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("snapshot_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_request_id", sa.Integer(), nullable=False),
        sa.Column("manifest", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("restore_marks")
