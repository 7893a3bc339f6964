"""The engine's bookkeeping, kept as `local/backup/...` records in the wallet's own store.

Names under `local/` never enter the outbox, so this state stays on the machine. Keeping it in
the record store (not a side file) means one SQLite transaction covers a batch's bookkeeping,
and a restore can write it into the staging store before the atomic switch.

This module is the one writer of these records: nothing else names or encodes them. A write
that stands alone goes through `LocalBackupState`; one that must share a transaction with
other records (a pulled page, an acknowledged batch, a resync, a restore's staging store) takes
its records from `bookkeeping_records` and `version_record`.

    local/backup/versions/<wire key>  server version of that live object (ASCII decimal)
    local/backup/manifest             JSON {version, objects, digest[, filling]}: the server's
                                      live set as this device knows it (version: the manifest's
                                      generation; filling: devices whose full backup is unfinished)
    local/backup/last_generation      the feed cursor: every change up to it is applied here
    local/backup/incarnation          JSON {id, previous, previous_generation}: this life of the store
    local/backup/protocol             "2" once this device has re-listed the store under protocol v2
    local/backup/full_required        JSON {reason, since, token, trust_server}: a full resync must run
    local/backup/sent_recent          JSON [write id, ...]: the newest batches this device sent
    local/backup/sent                 JSON [write id, ...]: older batches it sent (SentIds)
    local/backup/in_doubt             JSON {write_id, generation, seqs}: the last batch sent
                                      without an answer yet, the generation it would make and
                                      the outbox entries it carried (InDoubt)
    local/backup/clock                JSON [wall ms, counter]: the hybrid logical clock
    local/backup/notice               JSON {kind, reason, at}: a rollback or an erase elsewhere,
                                      shown until the user dismisses it
    local/backup/server_url           the server the versions above belong to
    local/backup/last_success         unix time of the last exchange the server acknowledged
    local/backup/last_failure         JSON {error, at}: the last round that failed, shown (by
                                      another process too) while no success came after it
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from cairn.backup.localrecords import (
    FullRequirement,
    Incarnation,
    InDoubt,
    ManifestState,
    Notice,
    SentIds,
    appended_sent,
)
from cairn.storage.protocol import (
    OutboxEntry,
    OutboxStats,
    Pending,
    RecordStore,
    Snapshot,
)

T = TypeVar("T")

__all__ = [
    "CLOCK",
    "FULL_REQUIRED",
    "INCARNATION",
    "IN_DOUBT",
    "LAST_GENERATION",
    "LAST_SUCCESS",
    "MANIFEST",
    "NOTICE",
    "PROTOCOL",
    "SENT",
    "SENT_RECENT",
    "SERVER_URL",
    "VERSIONS_PREFIX",
    "AsyncStore",
    "FullRequirement",
    "InDoubt",
    "Incarnation",
    "LocalBackupState",
    "ManifestState",
    "Notice",
    "RoundSummary",
    "SentIds",
    "bookkeeping_records",
    "clear_server_state",
    "full_backup_reason",
    "read_sent",
    "remember_sent",
    "require_full_backup",
    "version_name",
    "version_of",
    "version_record",
]

PREFIX = "local/backup/"
VERSIONS_PREFIX = PREFIX + "versions/"
MANIFEST = PREFIX + "manifest"
LAST_GENERATION = PREFIX + "last_generation"
INCARNATION = PREFIX + "incarnation"
PROTOCOL = PREFIX + "protocol"
FULL_REQUIRED = PREFIX + "full_required"
SENT = PREFIX + "sent"
SENT_RECENT = PREFIX + "sent_recent"
CLOCK = PREFIX + "clock"
IN_DOUBT = PREFIX + "in_doubt"
NOTICE = PREFIX + "notice"
SERVER_URL = PREFIX + "server_url"
LAST_SUCCESS = PREFIX + "last_success"
LAST_FAILURE = PREFIX + "last_failure"
CURRENT_PROTOCOL = b"2"
CONFLICTS_PREFIX = "conflicts/"  # not the engine's bookkeeping: records the user settles
# Names of v1 bookkeeping that v2 no longer keeps (removed when a store is re-listed).
LEGACY_NAMES = (PREFIX + "full_progress", PREFIX + "writer", PREFIX + "conflicts")


class AsyncStore(Protocol):
    """What the engine needs of AsyncRecordStore (MemoryStore or SqliteStore behind it)."""

    async def outbox_pending(self, limit: int = 500) -> list[OutboxEntry]: ...

    async def outbox_ack(self, seqs: Iterable[int]) -> None: ...

    async def outbox_stats(self) -> OutboxStats: ...

    async def snapshot(self) -> Snapshot: ...

    async def get(self, name: str) -> bytes | None: ...

    async def call(self, fn: Callable[[RecordStore], T]) -> T: ...

    async def get_many(self, names: Iterable[str]) -> dict[str, bytes]: ...

    async def pending_for(self, names: Iterable[str]) -> dict[str, Pending]: ...

    async def put(self, name: str, value: bytes) -> None: ...

    async def scan(self, prefix: str = "") -> list[tuple[str, bytes]]: ...

    async def batch(
        self, puts: Mapping[str, bytes] | None = None, deletes: Iterable[str] = ()
    ) -> None: ...

    async def apply_synced(
        self,
        puts: Mapping[str, bytes],
        deletes: Iterable[str],
        *,
        expect: Mapping[str, int | None],
        ack: Iterable[int] = (),
        queue: Mapping[str, bytes] | None = None,
        queued_at: int | None = None,
    ) -> None: ...


# Everything that describes the server's copy (not this device).
_SERVER_NAMES = (
    MANIFEST,
    LAST_GENERATION,
    INCARNATION,
    LAST_SUCCESS,
    LAST_FAILURE,
    SERVER_URL,
    SENT,
    SENT_RECENT,
    IN_DOUBT,
    *LEGACY_NAMES,
)


def version_name(object_key: str) -> str:
    return VERSIONS_PREFIX + object_key


def version_record(object_key: str, version: int) -> tuple[str, bytes]:
    """The record saying the server holds `object_key` at `version`."""
    return VERSIONS_PREFIX + object_key, str(version).encode()


def version_of(raw: bytes | None) -> int:
    """The server version a version record holds (0: the server does not hold the object)."""
    return _int(raw)


def bookkeeping_records(
    *,
    generation: int | None = None,
    manifest: ManifestState | None = None,
    incarnation: Incarnation | None = None,
    clock: bytes | None = None,
    server_url: str | None = None,
    synced_at: float | None = None,
    protocol_current: bool = False,
    in_doubt: InDoubt | None = None,
) -> dict[str, bytes]:
    """The records for what a write learnt about the server, to go in the caller's transaction.

    `generation`: the feed cursor; `clock`: the encoded hybrid logical clock; `synced_at`: when
    the server last acknowledged an exchange; `protocol_current`: this device's view was listed
    under the current protocol; `in_doubt`: a batch whose answer never came. (The write ids
    sent: `remember_sent`.)
    """
    records: dict[str, bytes] = {}
    if generation is not None:
        records[LAST_GENERATION] = str(generation).encode()
    if manifest is not None:
        records[MANIFEST] = manifest.encode()
    if incarnation is not None:
        records[INCARNATION] = incarnation.encode()
    if clock is not None:
        records[CLOCK] = clock
    if server_url is not None:
        records[SERVER_URL] = server_url.encode()
    if synced_at is not None:
        records[LAST_SUCCESS] = repr(synced_at).encode()
    if protocol_current:
        records[PROTOCOL] = CURRENT_PROTOCOL
    if in_doubt is not None:
        records[IN_DOUBT] = in_doubt.encode()
    return records


def remember_sent(store: RecordStore, write_ids: list[str]) -> dict[str, bytes]:
    """The records that add `write_ids` to the sent ones (SentIds), for the caller's
    transaction. On the store's thread: they are read there and then, so batches prepared ahead
    of each other's answers each add to what the one before wrote."""
    recent, older = appended_sent(store.get(SENT_RECENT), lambda: store.get(SENT), write_ids)
    return {SENT_RECENT: recent} if older is None else {SENT_RECENT: recent, SENT: older}


def read_sent(found: Mapping[str, bytes], *, with_older: bool) -> SentIds:
    """The sent write ids from their records as read (`with_older`: SENT was among them)."""
    return SentIds.decode(found.get(SENT_RECENT), found.get(SENT), with_older=with_older)


def _int(raw: bytes | None) -> int:
    return int(raw) if raw is not None else 0


def _json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(value), sort_keys=True).encode()


def full_flag(reason: str, *, trust_server: bool = False, new_incarnation: bool = True) -> bytes:
    # A random token makes every requirement distinct, so a full backup that finishes clears
    # only the requirement it started for, never one set while it ran.
    return _json(
        {
            "reason": reason,
            "since": int(time.time()),
            "token": os.urandom(8).hex(),
            "trust_server": trust_server,
            "new_incarnation": new_incarnation,
        }
    )


def decode_full_flag(raw: bytes | None) -> FullRequirement | None:
    if raw is None:
        return None
    data = json.loads(raw)
    return FullRequirement(
        str(data.get("reason", "required")),
        str(data.get("token", "")),
        bool(data.get("trust_server", False)),
        bool(data.get("new_incarnation", True)),
    )


@dataclass(frozen=True)
class RoundSummary:
    """What the status shows after a round, read in one go."""

    last_success: float | None
    full_required: str | None
    notice: Notice | None
    conflicts: int
    pending: OutboxStats


def read_summary(store: RecordStore) -> RoundSummary:
    """The round's summary, read on the store's thread (as part of a trip there)."""
    found = store.get_many([LAST_SUCCESS, FULL_REQUIRED, NOTICE])
    raw_success = found.get(LAST_SUCCESS)
    return RoundSummary(
        last_success=None if raw_success is None else float(raw_success),
        full_required=full_reason(found.get(FULL_REQUIRED)),
        notice=Notice.decode(found.get(NOTICE)),
        conflicts=len(store.scan(CONFLICTS_PREFIX)),
        pending=store.outbox_stats(),
    )


def full_reason(raw: bytes | None) -> str | None:
    """Why a full backup is required, from its flag record (None: it is not)."""
    requirement = decode_full_flag(raw)
    return None if requirement is None else requirement.reason


class LocalBackupState:
    """Typed access to the engine's `local/backup/` records through an async store."""

    def __init__(self, store: AsyncStore) -> None:
        self.store = store

    async def versions(self, object_keys: Iterable[str]) -> dict[str, int]:
        keys = list(object_keys)
        found = await self.store.get_many(version_name(k) for k in keys)
        return {k: version_of(found.get(version_name(k))) for k in keys}

    async def manifest(self) -> ManifestState:
        return ManifestState.decode(await self.store.get(MANIFEST))

    async def last_generation(self) -> int:
        return _int(await self.store.get(LAST_GENERATION))

    async def incarnation(self) -> Incarnation | None:
        return Incarnation.decode(await self.store.get(INCARNATION))

    async def full_requirement(self) -> FullRequirement | None:
        return decode_full_flag(await self.store.get(FULL_REQUIRED))

    async def full_required(self) -> str | None:
        """Why a full backup is required, or None if it is not."""
        return full_reason(await self.store.get(FULL_REQUIRED))

    async def last_success(self) -> float | None:
        raw = await self.store.get(LAST_SUCCESS)
        return None if raw is None else float(raw)

    async def remember_failure(self, error: str, at: float) -> None:
        """The round that failed at `at` and why, for a status read later or elsewhere."""
        await self.store.put(LAST_FAILURE, _json({"error": error, "at": at}))

    async def unanswered_failure(self) -> str | None:
        """Why the last round failed, if no exchange succeeded after it."""
        found = await self.store.get_many([LAST_FAILURE, LAST_SUCCESS])
        try:
            failure = json.loads(found[LAST_FAILURE])
            error, at = str(failure["error"]), float(failure["at"])
        except (KeyError, ValueError, TypeError):
            return None
        success = found.get(LAST_SUCCESS)
        return error if success is None or float(success) < at else None

    async def conflicts(self) -> int:
        return len(await self.store.scan(CONFLICTS_PREFIX))

    async def summary(self) -> RoundSummary:
        """Everything the status shows after a round, in one trip to the store's thread."""
        return await self.store.call(read_summary)

    async def pending(self) -> tuple[OutboxStats, float | None]:
        """The changes waiting to go up and when a round last succeeded, in one trip."""

        def read(store: RecordStore) -> tuple[OutboxStats, float | None]:
            raw = store.get(LAST_SUCCESS)
            return store.outbox_stats(), None if raw is None else float(raw)

        return await self.store.call(read)

    async def notice(self) -> Notice | None:
        return Notice.decode(await self.store.get(NOTICE))

    async def raise_notice(self, notice: Notice) -> None:
        await self.store.put(NOTICE, notice.encode())

    async def dismiss_notice(self) -> None:
        await self.store.batch(deletes=[NOTICE])

    async def set_incarnation(self, incarnation: Incarnation) -> None:
        await self.store.put(INCARNATION, incarnation.encode())

    async def remember_server(self, url: str) -> None:
        """The server the versions kept here belong to."""
        await self.store.put(SERVER_URL, url.encode())

    async def clear_full_flag(self) -> None:
        await self.store.batch(deletes=[FULL_REQUIRED])

    async def server_url(self) -> str | None:
        raw = await self.store.get(SERVER_URL)
        return None if raw is None else raw.decode()

    async def protocol_current(self) -> bool:
        return await self.store.get(PROTOCOL) == CURRENT_PROTOCOL

    async def require_full(
        self, reason: str, *, trust_server: bool = False, new_incarnation: bool = False
    ) -> None:
        flag = full_flag(reason, trust_server=trust_server, new_incarnation=new_incarnation)
        await self.store.batch({FULL_REQUIRED: flag})

    async def full_flag(self) -> bytes | None:
        return await self.store.get(FULL_REQUIRED)

    async def forget_versions(self) -> None:
        """Forget every object version and the manifest (the store began another life)."""
        names = [n for n, _ in await self.store.scan(VERSIONS_PREFIX)]
        await self.store.batch(deletes=[*names, MANIFEST])

    async def clear_server_state(self) -> None:
        """Forget every server version, the manifest, the generation and the incarnation."""
        names = [n for n, _ in await self.store.scan(VERSIONS_PREFIX)]
        await self.store.batch(deletes=[*names, *_SERVER_NAMES])


def require_full_backup(store: RecordStore, reason: str) -> None:
    """Mark the store so that the engine runs a full backup before anything else.

    For callers outside the event loop (the upgrade of a wallet from a format without backups).
    """
    store.batch({FULL_REQUIRED: full_flag(reason, new_incarnation=True)})


def full_backup_reason(store: RecordStore) -> str | None:
    """Why a full backup is required on this store, or None."""
    requirement = decode_full_flag(store.get(FULL_REQUIRED))
    return None if requirement is None else requirement.reason


def clear_server_state(store: RecordStore) -> None:
    """Forget every server version, the manifest and the generation (another server, or none).

    The device id and the conflicts stay: they describe this device, not the server.
    """
    names = [n for n, _ in store.scan(VERSIONS_PREFIX)]
    store.batch(deletes=[*names, *_SERVER_NAMES])
