"""The gateway's own storage: SQLAlchemy 2 (async) on SQLite (embedded default) or PostgreSQL, migrated by Alembic
at start-up.

Every custom resource is a row of one generic table (id, workspace, type, parent, version, timestamps, a JSON
document); versioned resources keep immutable snapshots in a second table. :class:`~gateway.storage.store.Store`
is the only code that issues SQL; :mod:`gateway.storage.agents` and :mod:`gateway.storage.environments` hold the API
semantics; handlers stay thin.
"""

from gateway.storage.config import StorageConfig, parse_storage
from gateway.storage.service import STATE, storage_service
from gateway.storage.store import Record, Store

__all__ = ["STATE", "Record", "StorageConfig", "Store", "parse_storage", "storage_service"]
