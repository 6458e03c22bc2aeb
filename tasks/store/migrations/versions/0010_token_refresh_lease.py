"""jobber_tokens.refresh_lease: a token refresh is claimed by a short committed lease, not a held lock

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 19:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobber_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refresh_lease", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("refresh_lease_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobber_tokens", schema=None) as batch_op:
        batch_op.drop_column("refresh_lease_until")
        batch_op.drop_column("refresh_lease")
