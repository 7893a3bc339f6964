"""BackupWriter: sends record changes to the server with compare-and-swap, never blindly.

Every batch carries the versions this device last saw and a new manifest (payload.py) under the
manifest's own last-seen version, so the server applies all of it or none. On 409 the writer
looks at each object that moved and settles it by one rule, then tries again:

* the server's copy was written by this device, or holds the same value: it is our own earlier
  write (a crash before we recorded the answer, or a rollback) — adopt its version;
* otherwise another device on the same seed wrote it: keep the server's value as the record
  `conflicts/<name>/<version>` (stored locally and backed up like any record), count it in the
  status, then write our value on top. Neither device's write is lost and the user can see it.

The manifest is settled the same way: adopt the server's manifest (its digest covers the other
device's objects) and apply this batch's changes on top of it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cairn.backup import envelope, payload
from cairn.backup.client import (
    BackupConflict,
    BackupError,
    BackupNotFound,
    DeleteItem,
    PutItem,
    RemoteBackupClient,
)
from cairn.backup.localstate import (
    CONFLICTS,
    LAST_GENERATION,
    LAST_SUCCESS,
    MANIFEST,
    AsyncStore,
    LocalBackupState,
    ManifestState,
    version_name,
)
from cairn.backup.protocol import wire_key
from cairn.keys import BackupKeys
from cairn.storage.protocol import MAX_NAME_BYTES

__all__ = [
    "BackupCorrupt",
    "BackupWriter",
    "Change",
    "ConflictNotice",
    "SendResult",
]

log = logging.getLogger(__name__)

CONFLICT_PREFIX = "conflicts/"
# Each round settles every object that moved; more rounds mean another device keeps writing
# the same names this very second. Give up for now and let the uploader retry later.
MAX_CONFLICT_ROUNDS = 8
# Batches larger than this are sealed on a worker thread (about a millisecond of work here).
SEAL_ON_LOOP_BYTES = 64 * 1024


class BackupCorrupt(BackupError):
    """An object on the server does not decrypt or does not match its key: tampered or damaged."""


@dataclass(frozen=True)
class Change:
    """One record to send: its current value, or None for a deletion."""

    name: str
    value: bytes | None


@dataclass(frozen=True)
class ConflictNotice:
    """Another device had written `name`; its value was kept as `kept_as`."""

    name: str
    server_version: int
    kept_as: str


@dataclass(frozen=True)
class SendResult:
    """What one successful send did."""

    generation: int
    objects: int
    bytes_sent: int
    conflicts: tuple[ConflictNotice, ...]


class BackupWriter:
    """Compare-and-swap batches plus the manifest, with the bookkeeping in `local/backup/`."""

    def __init__(
        self,
        store: AsyncStore,
        client: RemoteBackupClient,
        keys: BackupKeys,
        *,
        on_rollback: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.client = client
        self.local = LocalBackupState(store)
        self._data_key = keys.data_key
        self._name_key = keys.key_name_key
        self._mac_key = payload.manifest_key(keys.key_name_key)
        self._manifest_key = payload.manifest_wire_key(keys.key_name_key)
        self._store_id = client.store_id
        self._on_rollback = on_rollback
        self._clock = clock

    def wire_key(self, name: str) -> str:
        return wire_key(self._name_key, name)

    async def send(self, changes: Sequence[Change]) -> SendResult:
        """Make the server hold exactly these values (or deletions), settling any conflict."""
        by_key = {self.wire_key(c.name): c for c in changes}
        if len(by_key) != len(changes):
            raise ValueError("a record name appears twice in one send")
        notices: list[ConflictNotice] = []
        writer = await self.local.writer()
        for _ in range(MAX_CONFLICT_ROUNDS):
            known = await self.local.versions(by_key)
            manifest = await self.local.manifest()
            if sum(len(c.value or b"") for c in changes) > SEAL_ON_LOOP_BYTES:
                # Compressing and sealing megabytes takes tens of milliseconds: off the loop.
                puts, deletes, new_manifest = await asyncio.to_thread(
                    self._build, by_key, known, manifest, writer
                )
            else:
                puts, deletes, new_manifest = self._build(by_key, known, manifest, writer)
            if len(puts) == 1 and not deletes:
                # Only deletions of objects the server never had: nothing to send.
                return SendResult(await self.local.last_generation(), 0, 0, tuple(notices))
            try:
                result = await self.client.put_batch(puts, deletes)
            except BackupConflict as conflict:
                notices += await self._settle(conflict.current, by_key, known, manifest)
                continue
            await self._record(result.generation, puts, deletes, new_manifest)
            return SendResult(
                result.generation,
                len(puts) + len(deletes) - 1,
                sum(len(p.value) for p in puts),
                tuple(notices),
            )
        raise BackupConflict("another device keeps writing the same records; will retry", {})

    # -- building a batch ---------------------------------------------------------------------

    def _build(
        self,
        by_key: dict[str, Change],
        known: dict[str, int],
        manifest: ManifestState,
        writer: bytes,
    ) -> tuple[list[PutItem], list[DeleteItem], ManifestState]:
        puts: list[PutItem] = []
        deletes: list[DeleteItem] = []
        removed: list[tuple[str, int]] = []
        added: list[tuple[str, int]] = []
        objects = manifest.objects
        for key, change in by_key.items():
            version = known[key]
            if change.value is None:
                if version == 0:
                    continue  # never reached the server: nothing to delete
                deletes.append(DeleteItem(key, version))
                removed.append((key, version))
                objects -= 1
                continue
            body = payload.encode_record(change.name, writer, change.value)
            blob = envelope.seal(self._data_key, self._store_id, key, version + 1, body)
            puts.append(PutItem(key, version, blob))
            if version:
                removed.append((key, version))
            else:
                objects += 1
            added.append((key, version + 1))
        digest = payload.digest_remove(manifest.digest, self._mac_key, removed)
        digest = payload.digest_add(digest, self._mac_key, added)
        new_manifest = ManifestState(manifest.version + 1, objects, digest)
        body = payload.encode_manifest(
            payload.Manifest(objects, digest, int(self._clock()), writer)
        )
        blob = envelope.seal(
            self._data_key, self._store_id, self._manifest_key, new_manifest.version, body
        )
        puts.append(PutItem(self._manifest_key, manifest.version, blob))
        return puts, deletes, new_manifest

    async def _record(
        self,
        generation: int,
        puts: list[PutItem],
        deletes: list[DeleteItem],
        manifest: ManifestState,
    ) -> None:
        """Write down what the server acknowledged, in one local transaction."""
        last = await self.local.last_generation()
        if generation <= last:
            await self._rollback(f"store generation went back from {last} to {generation}")
        updates = {
            version_name(p.key): str(p.version + 1).encode()
            for p in puts
            if p.key != self._manifest_key
        }
        updates[MANIFEST] = manifest.encode()
        updates[LAST_GENERATION] = str(generation).encode()
        updates[LAST_SUCCESS] = repr(self._clock()).encode()
        await self.store.batch(updates, [version_name(d.key) for d in deletes])

    async def _rollback(self, reason: str) -> None:
        """The server lost or rolled back data: everything must be uploaded again."""
        log.warning("backup server rollback detected: %s", reason)
        await self.local.require_full(f"the backup server went back in time: {reason}")
        if self._on_rollback is not None:
            self._on_rollback(reason)

    # -- settling a conflict ------------------------------------------------------------------

    async def _settle(
        self,
        current: dict[str, int],
        by_key: dict[str, Change],
        known: dict[str, int],
        manifest: ManifestState,
    ) -> list[ConflictNotice]:
        notices: list[ConflictNotice] = []
        adopted: dict[str, bytes] = {}
        dropped: list[str] = []
        kept: dict[str, bytes] = {}
        for key, server_version in current.items():
            if key == self._manifest_key:
                if server_version != manifest.version:
                    adopted[MANIFEST] = (
                        await self._adopt_manifest(server_version, manifest)
                    ).encode()
                continue
            change = by_key.get(key)
            if change is None or server_version == known.get(key, 0):
                continue
            if server_version == 0:
                dropped.append(version_name(key))
                continue
            notice, keep = await self._settle_record(key, change, known.get(key, 0))
            if notice is not None and keep is not None:
                notices.append(notice)
                kept[notice.kept_as] = keep
            adopted[version_name(key)] = str(server_version).encode()
        if kept:
            count = await self.local.conflicts() + len(notices)
            adopted[CONFLICTS] = f'{{"count": {count}}}'.encode()
        # The server's values from other devices go in first, in the same transaction as the
        # adopted versions: once we overwrite them on the server they exist only here.
        await self.store.batch({**kept, **adopted}, dropped)
        return notices

    async def _settle_record(
        self, key: str, change: Change, known: int
    ) -> tuple[ConflictNotice | None, bytes | None]:
        try:
            stored = await self.client.get_object(key)
        except BackupNotFound:
            return None, None
        record = self._open_record(key, stored.version, stored.value)
        if record.name != change.name:
            raise BackupCorrupt("an object on the server does not belong under its key")
        if stored.version < known:
            await self._rollback("the server holds an older version of an object than we wrote")
        ours = await self.local.writer()
        if record.writer == ours or record.value == change.value:
            return None, None
        kept_as = conflict_name(change.name, stored.version, key)
        log.info(
            "backup conflict settled: kept another device's value (version %d)", stored.version
        )
        return ConflictNotice(change.name, stored.version, kept_as), record.value

    async def _adopt_manifest(self, server_version: int, manifest: ManifestState) -> ManifestState:
        if server_version < manifest.version:
            await self._rollback(
                f"the store manifest went back from version {manifest.version} to {server_version}"
            )
        if server_version == 0:
            return ManifestState()
        try:
            stored = await self.client.get_object(self._manifest_key)
        except BackupNotFound:
            return ManifestState()
        try:
            body = envelope.unseal(
                self._data_key, self._store_id, self._manifest_key, stored.version, stored.value
            )
            remote = payload.decode_manifest(body)
        except (envelope.DecryptionError, payload.PayloadError) as exc:
            raise BackupCorrupt(f"the store manifest on the server is damaged: {exc}") from None
        return ManifestState(stored.version, remote.objects, remote.digest)

    def _open_record(self, key: str, version: int, blob: bytes) -> payload.Record:
        try:
            body = envelope.unseal(self._data_key, self._store_id, key, version, blob)
            return payload.decode_record(body)
        except (envelope.DecryptionError, payload.PayloadError) as exc:
            raise BackupCorrupt(f"an object on the server is damaged or forged: {exc}") from None


def conflict_name(name: str, version: int, key: str) -> str:
    """Where another device's value of `name` is kept; falls back to the key for long names."""
    candidate = f"{CONFLICT_PREFIX}{name}/{version}"
    if len(candidate.encode("utf-8")) <= MAX_NAME_BYTES:
        return candidate
    return f"{CONFLICT_PREFIX}{key}/{version}"
