"""The environments bridge (``/v1/environments/bridge*``): Claude Code ``remote-control`` and Claude Desktop Dispatch
register a worker machine as an environment.

* A bridge environment **is** a self-hosted environment (``config.type: self_hosted``) whose document carries a
  private ``_bridge`` object (machine name, directory, branch, repository, ``max_sessions``, ``metadata``). Sessions
  created on it are queued as work items by the runtime exactly as on any self-hosted environment: same queue,
  same leases, same ``poll`` / ``ack`` / ``heartbeat`` / ``stop`` (:mod:`gateway.storage.environment_work`).
* ``environment_secret`` is an **environment key** of that environment (:mod:`gateway.storage.environment_keys`):
  it authorises that environment's ``work/poll`` and the other environment-key calls, nothing else. Only its
  digest is stored, so a re-registration (same ``environment_id``) returns the same id with a new secret; the
  earlier secrets stay valid until the environment is deregistered.
* Deregistering archives the environment, stops its live items and deletes its keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import InvalidRequest, NotFound
from gateway.storage import environment_keys, environment_work, environments
from gateway.storage.store import Record, Store, new_id

KEY_NAME = "bridge environment_secret"
FIELDS = ("machine_name", "directory", "branch", "git_repo_url", "max_sessions", "metadata")


def is_bridge(environment: Record | None) -> bool:
    """Whether ``environment`` was registered through the bridge (its sessions' turns run on the worker)."""
    return environment is not None and isinstance(environment.doc.get("_bridge"), Mapping)


def _bridge_doc(body: Mapping[str, Any]) -> dict[str, Any]:
    return {k: body.get(k) for k in FIELDS if body.get(k) is not None}


async def register(store: Store, workspace: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """Register (or, with the ``environment_id`` of a live bridge environment, re-register) a worker machine."""
    bridge = _bridge_doc(body)
    given = body.get("environment_id")
    record = None
    if isinstance(given, str) and given.startswith(environments.KIND.prefix + "_"):
        record = await store.get(workspace, environments.KIND.type, given)
        if record is not None and (not is_bridge(record) or record.archived_at is not None):
            record = None
    # An id this gateway did not issue, an archived or a non-bridge environment: a fresh environment is handed
    # back, as after a gateway reset; the client compares the ids and registers its sessions again.

    if record is None:
        name = f"bridge {bridge.get('machine_name', '')}:{bridge.get('directory', '')} {new_id('b')[-8:]}"
        doc: dict[str, Any] = dict(
            name=name[:255],
            config={"type": "self_hosted"},
            metadata={"worker_type": str((bridge.get("metadata") or {}).get("worker_type", ""))[:512]},
            description="Registered by POST /v1/environments/bridge",
            scope=None,
            _bridge=bridge,
        )
        record = await environments.KIND.create(store, workspace, doc)
    else:

        def change(current: Record) -> dict[str, Any]:
            return {**current.doc, "_bridge": bridge}

        record = await environments.KIND.update(store, workspace, record.id, change)
    secret, _ = await environment_keys.mint_environment_key(store, record.id, name=KEY_NAME)
    return {"environment_id": record.id, "environment_secret": secret}


async def bridge_environment(store: Store, workspace: str, environment_id: str) -> Record:
    record = await store.get(workspace, environments.KIND.type, environment_id)
    if not is_bridge(record) or record is None:
        raise NotFound(f"bridge environment {environment_id!r} not found")
    return record


async def deregister(store: Store, workspace: str, environment_id: str) -> None:
    """Archive the environment: its live work stops, its secrets stop working."""
    await bridge_environment(store, workspace, environment_id)
    page = await environment_work.list_work(store, workspace, environment_id, limit=None, page_cursor=None)
    for item in page["data"]:
        if item.get("state") in (*environment_work.LIVE_STATES, "stopping"):
            await environment_work.stop_for_session(
                store, workspace, environment_id, str((item.get("data") or {}).get("id"))
            )
    await store.archive(workspace, environments.KIND.type, environment_id)
    await store.delete_children(workspace, environment_id, (environment_keys.ENVIRONMENT_KEY_TYPE,))


async def reconnect(store: Store, workspace: str, environment_id: str, session_id: str) -> str:
    """Offer an existing session to the (re-registered) environment again: returns its SDK session id; the caller
    queues it. The session moves to this environment if it was on another."""
    env = await bridge_environment(store, workspace, environment_id)
    if env.archived_at is not None:
        raise InvalidRequest(f"environment {environment_id!r} is deregistered")
    from gateway.storage import code_sessions, sessions

    record = await code_sessions.get(store, workspace, session_id)
    if record.archived_at is not None:
        raise InvalidRequest(f"session {session_id!r} is archived")
    old = str(record.doc.get("environment_id", ""))
    if old != environment_id:
        await environment_work.stop_for_session(store, workspace, old, record.id)

        def move(current: Record) -> dict[str, Any]:
            return {**current.doc, "environment_id": environment_id}

        await sessions.KIND.update(store, workspace, record.id, move)
    else:
        await environment_work.stop_for_session(store, workspace, environment_id, record.id)
    return record.id
