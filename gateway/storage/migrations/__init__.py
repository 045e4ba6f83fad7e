"""Alembic migrations of the gateway's storage (run at start-up by :func:`gateway.storage.db.migrate`)."""
