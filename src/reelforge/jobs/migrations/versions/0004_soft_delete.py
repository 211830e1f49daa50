"""Deleting a job marks its row instead of removing it, so that usage reports and spend limits
keep counting what it cost.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reelforge_jobs") as batch:
        batch.add_column(sa.Column("deleted_at", sa.Float(), nullable=True))


def downgrade() -> None:
    # Deleted jobs were removed before this revision: remove them again.
    op.execute(sa.text("DELETE FROM reelforge_jobs WHERE deleted_at IS NOT NULL"))
    with op.batch_alter_table("reelforge_jobs") as batch:
        batch.drop_column("deleted_at")
