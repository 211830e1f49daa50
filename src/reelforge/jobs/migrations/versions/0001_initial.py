"""The schema as `create_all` made it before migrations: jobs, idempotency keys, files, webhooks.

A database made by that `create_all` has exactly these tables; the runner stamps it at this
revision instead of running it.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reelforge_jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("mode", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claim_token", sa.String(36), nullable=True),
        sa.Column("lease_expires_at", sa.Float(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=True),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
    )
    op.create_index("ix_reelforge_jobs_queue", "reelforge_jobs", ["status", "created_at"])
    op.create_index("ix_reelforge_jobs_owner", "reelforge_jobs", ["owner", "created_at"])

    op.create_table(
        "reelforge_idempotency_keys",
        sa.Column("owner", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_index(
        "ix_reelforge_idempotency_keys_age", "reelforge_idempotency_keys", ["created_at"]
    )

    op.create_table(
        "reelforge_files",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=True),
    )
    op.create_index("ix_reelforge_files_owner", "reelforge_files", ["owner", "created_at"])
    op.create_index("ix_reelforge_files_expiry", "reelforge_files", ["expires_at"])

    op.create_table(
        "reelforge_webhooks",
        sa.Column("job_id", sa.String(36), primary_key=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("base_url", sa.Text(), nullable=False),
        sa.Column("trusted", sa.Boolean(), nullable=False),
    )

    op.create_table(
        "reelforge_webhook_deliveries",
        sa.Column("job_id", sa.String(36), primary_key=True),
        sa.Column("event", sa.String(16), primary_key=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("base_url", sa.Text(), nullable=False),
        sa.Column("trusted", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=False),
        sa.Column("lease_expires_at", sa.Float(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index(
        "ix_reelforge_webhook_deliveries_due",
        "reelforge_webhook_deliveries",
        ["state", "next_attempt_at"],
    )


def downgrade() -> None:
    # each table's indexes go with it
    op.drop_table("reelforge_webhook_deliveries")
    op.drop_table("reelforge_webhooks")
    op.drop_table("reelforge_files")
    op.drop_table("reelforge_idempotency_keys")
    op.drop_table("reelforge_jobs")
