"""The keys and spend tables (SQLAlchemy Core), created by migration ``0004_keys_spend``.

``virtual_keys`` holds one row per virtual key: the SHA-256 of the key (never the key), its owner and limits, and
its lifetime spend (``spend``, advanced by the batched spend writer). ``spend_logs`` holds one row per metered model
call: tokens by kind and cost. Per-workspace totals are sums over ``spend_logs`` (indexed by workspace and time).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

virtual_keys = sa.Table(
    "virtual_keys",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("key_preview", sa.String(32), nullable=False),
    sa.Column("key_name", sa.String(255), nullable=True),
    sa.Column("workspace", sa.String(255), nullable=False),
    sa.Column("models", sa.JSON(), nullable=False),
    sa.Column("max_budget", sa.Float(), nullable=True),
    sa.Column("budget_duration", sa.String(16), nullable=True),
    sa.Column("rpm_limit", sa.Integer(), nullable=True),
    sa.Column("tpm_limit", sa.Integer(), nullable=True),
    sa.Column("expires", sa.DateTime(), nullable=True),
    sa.Column("metadata", sa.JSON(), nullable=False),
    sa.Column("blocked", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("spend", sa.Float(), nullable=False, server_default="0"),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
    sa.Index("ix_virtual_keys_workspace", "workspace", "created_at"),
)

spend_logs = sa.Table(
    "spend_logs",
    metadata,
    sa.Column("request_id", sa.String(64), primary_key=True),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("key_name", sa.String(255), nullable=True),
    sa.Column("workspace", sa.String(255), nullable=False),
    sa.Column("model", sa.String(255), nullable=False),
    sa.Column("deployment", sa.String(255), nullable=True),
    sa.Column("input_tokens", sa.Integer(), nullable=False),
    sa.Column("output_tokens", sa.Integer(), nullable=False),
    sa.Column("cache_creation_input_tokens", sa.Integer(), nullable=False),
    sa.Column("cache_read_input_tokens", sa.Integer(), nullable=False),
    sa.Column("cost", sa.Float(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Index("ix_spend_logs_key", "key_id", "created_at"),
    sa.Index("ix_spend_logs_workspace", "workspace", "created_at"),
    sa.Index("ix_spend_logs_created", "created_at"),
)
