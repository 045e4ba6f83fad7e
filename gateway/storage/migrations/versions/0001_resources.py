"""Generic resources table and immutable version snapshots.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None

JSONDoc = sa.JSON()  # not JSONB: jsonb refuses "\u0000" in strings


def upgrade() -> None:
    op.create_table(
        "resources",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("workspace", sa.String(255), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("parent_id", sa.String(64), nullable=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("archived_at", sa.DateTime(), nullable=True),
        sa.Column("doc", JSONDoc, nullable=False),
    )
    op.create_index("ix_resources_listing", "resources", ["workspace", "type", "created_at", "id"])
    op.create_index("ix_resources_parent", "resources", ["parent_id"])
    op.create_table(
        "resource_versions",
        sa.Column("resource_id", sa.String(64), sa.ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("doc", JSONDoc, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("resource_versions")
    op.drop_index("ix_resources_parent", "resources")
    op.drop_index("ix_resources_listing", "resources")
    op.drop_table("resources")
