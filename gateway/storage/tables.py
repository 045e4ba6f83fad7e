"""The tables (SQLAlchemy Core). Generic on purpose: every resource type reuses them."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# JSON, not JSONB: PostgreSQL's jsonb refuses "\u0000" in strings, which clients may legitimately send.
JSONDoc = sa.JSON()

resources = sa.Table(
    "resources",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("workspace", sa.String(255), nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("parent_id", sa.String(64), nullable=True),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
    sa.Column("archived_at", sa.DateTime(), nullable=True),
    sa.Column("doc", JSONDoc, nullable=False),
    sa.Index("ix_resources_listing", "workspace", "type", "created_at", "id"),
    sa.Index("ix_resources_parent", "parent_id"),
)

resource_versions = sa.Table(
    "resource_versions",
    metadata,
    sa.Column("resource_id", sa.String(64), sa.ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("doc", JSONDoc, nullable=False),
)

# Append-only event logs (session events): one row per event, ``seq`` increasing per stream without gaps, assigned
# at insert (a unique violation on (stream_id, seq) means a concurrent writer won: retry with the next number).
# ``type`` and ``thread_id`` are copies of the document's fields, for filtering in SQL.
events = sa.Table(
    "events",
    metadata,
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

# Session run leases (gateway.storage.session_runs): ``wanted`` counts the requests for a turn, ``done`` the highest
# request a finished run had seen; a run is due while wanted > done. ``owner`` holds the lease until ``lease_until``.
session_runs = sa.Table(
    "session_runs",
    metadata,
    sa.Column("session_id", sa.String(64), primary_key=True),
    sa.Column("workspace", sa.String(255), nullable=False),
    sa.Column("wanted", sa.Integer, nullable=False, server_default="0"),
    sa.Column("done", sa.Integer, nullable=False, server_default="0"),
    sa.Column("owner", sa.String(64), nullable=True),
    sa.Column("lease_until", sa.DateTime(), nullable=True),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
    sa.Index("ix_session_runs_due", "lease_until"),
)
