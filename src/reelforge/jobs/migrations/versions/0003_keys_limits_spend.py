"""Managed API keys, rate-limit buckets, and each job's spend (reservation, cost, seconds).

Jobs done before this revision get their cost and seconds from their stored result, so usage
reports and spend limits count them too.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reelforge_api_keys",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("rpm", sa.Integer(), nullable=True),
        sa.Column("max_pending", sa.Integer(), nullable=True),
        sa.Column("budget_ticks", sa.BigInteger(), nullable=True),
        sa.Column("budget_period", sa.String(8), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=True),
    )
    op.create_index("ix_reelforge_api_keys_name", "reelforge_api_keys", ["name"])

    op.create_table(
        "reelforge_rate_buckets",
        sa.Column("owner", sa.String(64), primary_key=True),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )

    with op.batch_alter_table("reelforge_jobs") as batch:
        batch.add_column(sa.Column("reserved_ticks", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("cost_ticks", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("output_seconds", sa.Float(), nullable=True))
    _backfill_done_jobs()


def _backfill_done_jobs() -> None:
    """cost_ticks and output_seconds of jobs that finished done, from their JSON result."""
    jobs = sa.table(
        "reelforge_jobs",
        sa.column("id", sa.String),
        sa.column("result", sa.JSON),
        sa.column("cost_ticks", sa.BigInteger),
        sa.column("output_seconds", sa.Float),
    )
    conn = op.get_bind()
    done = conn.execute(sa.select(jobs.c.id, jobs.c.result).where(jobs.c.result.is_not(None)))
    for job_id, result in done.all():
        if not isinstance(result, dict) or "cost_in_usd_ticks" not in result:
            continue
        conn.execute(
            jobs.update()
            .where(jobs.c.id == job_id)
            .values(
                cost_ticks=result["cost_in_usd_ticks"],
                output_seconds=result.get("duration_s", result.get("duration")),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("reelforge_jobs") as batch:
        batch.drop_column("output_seconds")
        batch.drop_column("cost_ticks")
        batch.drop_column("reserved_ticks")
    op.drop_table("reelforge_rate_buckets")
    op.drop_table("reelforge_api_keys")
