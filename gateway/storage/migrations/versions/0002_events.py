"""Append-only event logs (session events), ordered per stream by ``seq``.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None

JSONDoc = sa.JSON()  # not JSONB: jsonb refuses "\u0000" in strings


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("workspace", sa.String(255), nullable=False),
        sa.Column("stream_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("thread_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("doc", JSONDoc, nullable=False),
        sa.UniqueConstraint("stream_id", "seq", name="uq_events_stream_seq"),
    )


def downgrade() -> None:
    op.drop_table("events")
