"""What every stored resource kind shares: its 404, fetch-or-404, archive/delete-or-404, the read-only-when-archived
rule, metadata patches and the common response fields. A resource module declares one ``Kind`` and builds its own
response shape on top of these."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.errors import InvalidRequest, NotFound
from gateway.storage.store import Record, Store, new_id, rfc3339

#: Body fields a client may send but the server owns.
SERVER_FIELDS = frozenset({"id", "type", "created_at", "updated_at", "archived_at"})


@dataclass(frozen=True)
class Kind:
    """One resource kind: ``type`` is the stored type (and the response's ``type``), ``prefix`` its id prefix,
    ``label`` how messages name it (default: ``type`` with spaces)."""

    type: str
    prefix: str
    label: str = ""
    versioned: bool = False

    @property
    def name(self) -> str:
        return self.label or self.type.replace("_", " ")

    def new_id(self) -> str:
        return new_id(self.prefix)

    def not_found(self, id_: str) -> NotFound:
        return NotFound(f"{self.name} {id_!r} not found")

    def read_only(self, id_: str) -> InvalidRequest:
        return InvalidRequest(f"{self.name} {id_!r} is archived and cannot be modified")

    async def create(
        self, store: Store, workspace: str, doc: Mapping[str, Any], *, parent_id: str | None = None
    ) -> Record:
        return await store.create(
            workspace, self.type, self.new_id(), doc, parent_id=parent_id, versioned=self.versioned
        )

    async def get(self, store: Store, workspace: str, id_: str, *, parent_id: str | None = None) -> Record:
        """The record, or this kind's 404 (also when it belongs to another parent or workspace)."""
        record = await store.get(workspace, self.type, id_)
        if record is None or (parent_id is not None and record.parent_id != parent_id):
            raise self.not_found(id_)
        return record

    async def get_live(self, store: Store, workspace: str, id_: str, *, parent_id: str | None = None) -> Record:
        """The record if it exists and is not archived: 404 when absent, 400 when archived."""
        record = await self.get(store, workspace, id_, parent_id=parent_id)
        if record.archived_at is not None:
            raise self.read_only(id_)
        return record

    async def update(
        self,
        store: Store,
        workspace: str,
        id_: str,
        change: Callable[[Record], Awaitable[Mapping[str, Any]] | Mapping[str, Any]],
        *,
        parent_id: str | None = None,
        allow_archived: bool = False,
    ) -> Record:
        """Apply ``change(current) -> new doc`` atomically; archived records refuse (400) unless ``allow_archived``."""

        async def mutate(current: Record) -> Mapping[str, Any]:
            if parent_id is not None and current.parent_id != parent_id:
                raise self.not_found(id_)
            if current.archived_at is not None and not allow_archived:
                raise self.read_only(id_)
            result = change(current)
            if isinstance(result, Mapping):
                return result
            return await result

        record = await store.update(workspace, self.type, id_, mutate, versioned=self.versioned)
        if record is None:
            raise self.not_found(id_)
        return record

    async def archive(self, store: Store, workspace: str, id_: str, *, parent_id: str | None = None) -> Record:
        await self.get(store, workspace, id_, parent_id=parent_id)
        record = await store.archive(workspace, self.type, id_)
        if record is None:
            raise self.not_found(id_)
        return record

    async def delete(self, store: Store, workspace: str, id_: str, *, parent_id: str | None = None) -> dict[str, Any]:
        """Remove the record: ``{id, type: "<type>_deleted"}``."""
        await self.get(store, workspace, id_, parent_id=parent_id)
        if not await store.delete(workspace, self.type, id_):
            raise self.not_found(id_)
        return {"id": id_, "type": f"{self.type}_deleted"}


def body_fields(body: Mapping[str, Any], *, drop: Iterable[str] = ()) -> dict[str, Any]:
    """The client-settable fields of a request body."""
    dropped = SERVER_FIELDS.union(drop)
    return {k: v for k, v in body.items() if k not in dropped}


def patch_metadata(current: Mapping[str, Any] | None, patch: Mapping[str, Any] | None) -> dict[str, Any]:
    """Metadata update semantics: keys in ``patch`` are set; a ``None`` or ``""`` value deletes the key."""
    out = dict(current or {})
    for key, value in (patch or {}).items():
        if value is None or value == "":
            out.pop(key, None)
        else:
            out[key] = value
    return out


def timestamps(record: Record, *, archived: bool = True) -> dict[str, Any]:
    """The common ``id``/``type``/``created_at``/``updated_at`` (and ``archived_at``) response fields."""
    out: dict[str, Any] = {
        "id": record.id,
        "type": record.type,
        "created_at": rfc3339(record.created_at),
        "updated_at": rfc3339(record.updated_at),
    }
    if archived:
        out["archived_at"] = rfc3339(record.archived_at)
    return out
