"""The schema as `create_all` made it before migrations, frozen: the tables of that release.

Never edit this to follow the models: it stands for databases already deployed.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

sa.Table(
    "reelforge_jobs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("mode", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("progress", sa.Integer, nullable=False, default=0),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("claim_token", sa.String(36)),
    sa.Column("lease_expires_at", sa.Float),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.Column("result", sa.JSON),
    sa.Column("error_code", sa.String(64)),
    sa.Column("error_message", sa.Text),
    sa.Index("ix_reelforge_jobs_queue", "status", "created_at"),
    sa.Index("ix_reelforge_jobs_owner", "owner", "created_at"),
)
sa.Table(
    "reelforge_idempotency_keys",
    metadata,
    sa.Column("owner", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("job_id", sa.String(36), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_reelforge_idempotency_keys_age", "created_at"),
)
sa.Table(
    "reelforge_files",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("filename", sa.String(255), nullable=False),
    sa.Column("purpose", sa.String(64), nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float),
    sa.Index("ix_reelforge_files_owner", "owner", "created_at"),
    sa.Index("ix_reelforge_files_expiry", "expires_at"),
)
sa.Table(
    "reelforge_webhooks",
    metadata,
    sa.Column("job_id", sa.String(36), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("base_url", sa.Text, nullable=False),
    sa.Column("trusted", sa.Boolean, nullable=False),
)
sa.Table(
    "reelforge_webhook_deliveries",
    metadata,
    sa.Column("job_id", sa.String(36), primary_key=True),
    sa.Column("event", sa.String(16), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("base_url", sa.Text, nullable=False),
    sa.Column("trusted", sa.Boolean, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("lease_expires_at", sa.Float),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Column("last_error", sa.Text),
    sa.Index("ix_reelforge_webhook_deliveries_due", "state", "next_attempt_at"),
)


def create(url: str) -> None:
    """Make the tables as every process did at start before migrations: `create_all`."""
    engine = sa.create_engine(url)
    metadata.create_all(engine)
    engine.dispose()
