"""The engine's bookkeeping, kept as `local/backup/...` records in the wallet's own store.

Names under `local/` never enter the outbox, so this state stays on the machine. Keeping it in
the record store (not a side file) means one SQLite transaction covers a batch's bookkeeping,
and a restore can write it into the staging store before the atomic switch.

    local/backup/versions/<wire key>  server version of that object (ASCII decimal)
    local/backup/manifest             JSON {version, objects, digest}: the manifest we last wrote/saw
    local/backup/last_generation      highest store generation seen (ASCII decimal)
    local/backup/full_required        JSON {reason, since}: present = a full backup must run
    local/backup/full_progress        JSON {cursor}: last record name a full backup uploaded
    local/backup/writer               16 random bytes naming this device in record payloads
    local/backup/server_url           the server the versions above belong to
    local/backup/last_success         unix time of the last batch the server acknowledged
    local/backup/conflicts            JSON {count}: conflicts settled so far (shown in the status)
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cairn.storage.protocol import OutboxEntry, OutboxStats, RecordStore, Snapshot

__all__ = [
    "CONFLICTS",
    "FULL_PROGRESS",
    "FULL_REQUIRED",
    "LAST_GENERATION",
    "LAST_SUCCESS",
    "MANIFEST",
    "SERVER_URL",
    "VERSIONS_PREFIX",
    "WRITER",
    "AsyncStore",
    "LocalBackupState",
    "ManifestState",
    "clear_server_state",
    "full_backup_reason",
    "require_full_backup",
    "version_name",
]

PREFIX = "local/backup/"
VERSIONS_PREFIX = PREFIX + "versions/"
MANIFEST = PREFIX + "manifest"
LAST_GENERATION = PREFIX + "last_generation"
FULL_REQUIRED = PREFIX + "full_required"
FULL_PROGRESS = PREFIX + "full_progress"
WRITER = PREFIX + "writer"
SERVER_URL = PREFIX + "server_url"
LAST_SUCCESS = PREFIX + "last_success"
CONFLICTS = PREFIX + "conflicts"


class AsyncStore(Protocol):
    """What the engine needs of AsyncRecordStore (MemoryStore or SqliteStore behind it)."""

    async def outbox_pending(self, limit: int = 500) -> list[OutboxEntry]: ...

    async def outbox_ack(self, seqs: Iterable[int]) -> None: ...

    async def outbox_stats(self) -> OutboxStats: ...

    async def snapshot(self) -> Snapshot: ...

    async def get(self, name: str) -> bytes | None: ...

    async def put(self, name: str, value: bytes) -> None: ...

    async def scan(self, prefix: str = "") -> list[tuple[str, bytes]]: ...

    async def batch(
        self, puts: Mapping[str, bytes] | None = None, deletes: Iterable[str] = ()
    ) -> None: ...


@dataclass(frozen=True)
class ManifestState:
    """The manifest as this device last wrote or adopted it; version 0: none on the server."""

    version: int = 0
    objects: int = 0
    digest: int = 0

    def encode(self) -> bytes:
        return json.dumps(
            {"version": self.version, "objects": self.objects, "digest": f"{self.digest:064x}"}
        ).encode()

    @classmethod
    def decode(cls, raw: bytes | None) -> ManifestState:
        if raw is None:
            return cls()
        data = json.loads(raw)
        return cls(int(data["version"]), int(data["objects"]), int(data["digest"], 16))


# Everything that describes the server's copy (not this device).
_SERVER_NAMES = (MANIFEST, LAST_GENERATION, FULL_PROGRESS, LAST_SUCCESS, SERVER_URL)


def version_name(object_key: str) -> str:
    return VERSIONS_PREFIX + object_key


def _int(raw: bytes | None) -> int:
    return int(raw) if raw is not None else 0


def _json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(value), sort_keys=True).encode()


class LocalBackupState:
    """Typed access to the engine's `local/backup/` records through an async store."""

    def __init__(self, store: AsyncStore) -> None:
        self.store = store

    async def version(self, object_key: str) -> int:
        return _int(await self.store.get(version_name(object_key)))

    async def versions(self, object_keys: Iterable[str]) -> dict[str, int]:
        return {key: await self.version(key) for key in object_keys}

    async def manifest(self) -> ManifestState:
        return ManifestState.decode(await self.store.get(MANIFEST))

    async def last_generation(self) -> int:
        return _int(await self.store.get(LAST_GENERATION))

    async def writer(self) -> bytes:
        """This device's writer id, created on first use."""
        writer = await self.store.get(WRITER)
        if writer is None:
            writer = os.urandom(16)
            await self.store.put(WRITER, writer)
        return writer

    async def full_required(self) -> str | None:
        """Why a full backup is required, or None if it is not."""
        raw = await self.store.get(FULL_REQUIRED)
        return None if raw is None else str(json.loads(raw).get("reason", "required"))

    async def full_progress(self) -> str:
        raw = await self.store.get(FULL_PROGRESS)
        return "" if raw is None else str(json.loads(raw)["cursor"])

    async def last_success(self) -> float | None:
        raw = await self.store.get(LAST_SUCCESS)
        return None if raw is None else float(raw)

    async def conflicts(self) -> int:
        raw = await self.store.get(CONFLICTS)
        return 0 if raw is None else int(json.loads(raw)["count"])

    async def server_url(self) -> str | None:
        raw = await self.store.get(SERVER_URL)
        return None if raw is None else raw.decode()

    async def require_full(self, reason: str) -> None:
        """Set the flag; a new requirement restarts any half-done full backup from the top."""
        await self.store.batch({FULL_REQUIRED: _full_flag(reason)}, [FULL_PROGRESS])

    async def full_flag(self) -> bytes | None:
        return await self.store.get(FULL_REQUIRED)

    async def clear_server_state(self) -> None:
        """Forget every server version, the manifest and the generation (async form)."""
        names = [n for n, _ in await self.store.scan(VERSIONS_PREFIX)]
        await self.store.batch(deletes=[*names, *_SERVER_NAMES])


def require_full_backup(store: RecordStore, reason: str) -> None:
    """Mark the store so that the engine runs a full backup before anything else.

    For callers outside the event loop (the upgrade of a wallet from a format without backups).
    """
    store.batch({FULL_REQUIRED: _full_flag(reason)}, [FULL_PROGRESS])


def full_backup_reason(store: RecordStore) -> str | None:
    """Why a full backup is required on this store, or None."""
    raw = store.get(FULL_REQUIRED)
    return None if raw is None else str(json.loads(raw).get("reason", "required"))


def clear_server_state(store: RecordStore) -> None:
    """Forget every server version, the manifest and the generation (another server, or none).

    The writer id and the conflict count stay: they describe this device, not the server.
    """
    names = [n for n, _ in store.scan(VERSIONS_PREFIX)]
    store.batch(deletes=[*names, *_SERVER_NAMES])


def _full_flag(reason: str) -> bytes:
    # A random token makes every requirement distinct, so a full backup that finishes clears
    # only the requirement it started for, never one set while it ran.
    return _json({"reason": reason, "since": int(time.time()), "token": os.urandom(8).hex()})
