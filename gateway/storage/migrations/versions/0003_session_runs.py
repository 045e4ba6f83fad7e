"""Session run leases: which gateway process runs a session's turn, and whether a turn is wanted.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_runs",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("workspace", sa.String(255), nullable=False),
        sa.Column("wanted", sa.Integer, nullable=False, server_default="0"),
        sa.Column("done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_session_runs_due", "session_runs", ["lease_until"])


def downgrade() -> None:
    op.drop_index("ix_session_runs_due", table_name="session_runs")
    op.drop_table("session_runs")
