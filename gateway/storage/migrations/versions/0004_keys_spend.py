"""Virtual keys (hash only) and the spend log (tokens by kind and cost per metered model call).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "virtual_keys",
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
    )
    op.create_index("ix_virtual_keys_workspace", "virtual_keys", ["workspace", "created_at"])
    op.create_table(
        "spend_logs",
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
    )
    op.create_index("ix_spend_logs_key", "spend_logs", ["key_id", "created_at"])
    op.create_index("ix_spend_logs_workspace", "spend_logs", ["workspace", "created_at"])
    op.create_index("ix_spend_logs_created", "spend_logs", ["created_at"])


def downgrade() -> None:
    op.drop_table("spend_logs")
    op.drop_index("ix_virtual_keys_workspace", table_name="virtual_keys")
    op.drop_table("virtual_keys")
