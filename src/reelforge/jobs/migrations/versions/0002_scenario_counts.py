"""The scenarios' attempt counts (`reject` per request, `flaky-poll` per job), kept in the
database so that every API replica counts the same attempts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reelforge_scenario_counts",
        sa.Column("owner", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(320), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_reelforge_scenario_counts_age", "reelforge_scenario_counts", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_reelforge_scenario_counts_age", "reelforge_scenario_counts")
    op.drop_table("reelforge_scenario_counts")
