"""Restore a wallet's record store from the backup server, with the seed's keys alone.

    store info → stream the export → verify and decrypt every object → write into a staging
    SqliteStore next to the target → integrity check → atomic switch (os.replace, fsync dir)

Every object must decrypt under its own (store, key, version), carry a record name whose wire
key is the object's key, and the whole set must match the manifest's count and keyed digest
(payload.py): a missing, added, moved or replayed object makes the backup CORRUPT, and nothing
is switched into place. A crash at any point leaves the old file or no file; a staging file
left by a crash is removed by the next restore (or `discard_staging` at start-up).

The staging store also receives the engine's bookkeeping (every object's server version, the
manifest, the generation, a new writer id), so the uploader carries on with compare-and-swap
and a restored wallet never needs a full backup.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

from cairn.backup.client import ExportStream, RemoteBackupClient
from cairn.backup.errors import (
    BackupCorrupt,
    BackupError,
    BackupNotFound,
    BackupServerError,
    BackupUnauthorized,
    BackupUnreachable,
    RateLimited,
)
from cairn.backup.localstate import (
    VERSIONS_PREFIX,
    Incarnation,
    ManifestState,
    bookkeeping_records,
)
from cairn.backup.opening import ObjectOpener
from cairn.backup.staging import discard_staging, staging_path, switch_in
from cairn.files import fsync_file
from cairn.keys import BackupKeys
from cairn.storage import AsyncRecordStore, SqliteStore
from cairn.storage.device import DEVICE_ID_BYTES, DEVICE_RECORD
from cairn.wire import payload

__all__ = [
    "RestoreJob",
    "RestoreOutcome",
    "RestorePhase",
    "RestoreProgress",
    "RestoreResult",
    "discard_staging",
    "restore_store",
    "staging_path",
]

log = logging.getLogger(__name__)

# Records per staging transaction: large enough to amortise the commit, small enough that the
# worker writes one chunk while the loop decrypts the next.
CHUNK_RECORDS = 2000
REPORT_EVERY = 256  # objects between two progress reports
_MOD = 1 << 256


class RestoreOutcome(StrEnum):
    RESTORED = "restored"
    NO_BACKUP = "no_backup"  # nothing on this server for this seed (wrong words, other server)
    UNREACHABLE = "unreachable"  # retry, or continue without a backup if the user chooses
    CORRUPT = "corrupt"  # tampered or damaged: refused, nothing was changed
    FAILED = "failed"  # the server refused us (clock off by minutes, misconfigured server)
    # A device's full backup into it has not finished: it may lack records (PROTOCOL.md 11.8).
    # Nothing was changed; restored only when the user asks for it (`accept_incomplete`).
    INCOMPLETE = "incomplete"


class RestorePhase(StrEnum):
    CONNECTING = "connecting"
    DOWNLOADING = "downloading"
    VERIFYING = "verifying"
    SWITCHING = "switching"
    DONE = "done"


class RestoreProgress(NamedTuple):
    phase: RestorePhase
    done: int  # objects received so far
    total: int  # objects the server reported
    bytes_received: int
    bytes_total: int


@dataclass(frozen=True)
class RestoreJob:
    """What one restore is asked to do: which store of which server, into which file."""

    url: str
    store_id: str
    target: Path
    keys: BackupKeys = field(repr=False)
    accept_incomplete: bool = False  # the user chose to restore an incomplete backup


@dataclass(frozen=True)
class RestoreResult:
    outcome: RestoreOutcome
    detail: str = ""
    records: int = 0
    bytes: int = 0
    generation: int = 0
    backup_time: int | None = None  # when the restored state was last written (unix time)


ProgressCallback = Callable[[RestoreProgress], None]


async def restore_store(
    client: RemoteBackupClient,
    keys: BackupKeys,
    target: Path,
    *,
    progress: ProgressCallback | None = None,
    accept_incomplete: bool = False,
) -> RestoreResult:
    """Restore the record store at `target` from the server (replacing any file there).

    A backup whose manifest names a device as still filling it is INCOMPLETE, and nothing is
    changed, unless `accept_incomplete`: then what it holds is restored.
    """
    target = Path(target)
    discard_staging(target)
    report = progress or (lambda _p: None)
    report(RestoreProgress(RestorePhase.CONNECTING, 0, 0, 0, 0))
    try:
        info = await client.store_info()
    except BackupNotFound:
        if not await client.answers_as_a_backup_server():
            # Telling the user there is no backup would send them on without one.
            return RestoreResult(
                RestoreOutcome.UNREACHABLE,
                f"{client.base_url} does not answer as a Cairn backup server: check its address",
            )
        return RestoreResult(RestoreOutcome.NO_BACKUP, "no backup for these words on this server")
    except BackupUnauthorized as exc:
        return RestoreResult(RestoreOutcome.FAILED, _unauthorized(exc))
    except (BackupUnreachable, BackupServerError, RateLimited) as exc:
        return RestoreResult(RestoreOutcome.UNREACHABLE, str(exc))
    if info.state.erased:
        return RestoreResult(
            RestoreOutcome.NO_BACKUP, "the backup for these words was deleted from this server"
        )
    if info.objects == 0:
        return RestoreResult(RestoreOutcome.NO_BACKUP, "the backup on this server is empty")
    # The manifest is one of the objects; progress counts records.
    job = _Restore(
        client,
        keys,
        target,
        info.objects - 1,
        info.bytes,
        report=report,
        accept_incomplete=accept_incomplete,
    )
    try:
        result = await job.run(info.state.generation)
    except BackupNotFound:
        result = RestoreResult(RestoreOutcome.NO_BACKUP, "no backup for these words on this server")
    except BackupCorrupt as exc:
        log.warning("restore refused: %s", exc)
        result = RestoreResult(RestoreOutcome.CORRUPT, str(exc))
    except BackupUnauthorized as exc:
        result = RestoreResult(RestoreOutcome.FAILED, _unauthorized(exc))
    except (BackupUnreachable, BackupServerError, RateLimited) as exc:
        result = RestoreResult(RestoreOutcome.UNREACHABLE, str(exc))
    except BackupError as exc:
        result = RestoreResult(RestoreOutcome.FAILED, str(exc))
    finally:
        await job.close()
        if not job.switched:
            discard_staging(target)
    return result


def _incomplete(devices: int) -> str:
    whose = "a device's" if devices == 1 else f"{devices} devices'"
    return (
        f"the backup is incomplete: {whose} full backup into it has not finished, so it may "
        "lack records, labels or addresses that only that device holds"
    )


def _unauthorized(exc: BackupUnauthorized) -> str:
    if exc.code == "stale_timestamp":
        return "the backup server refused the request: this computer's clock is wrong"
    return f"the backup server refused the request ({exc.code or exc.status})"


class _Restore:
    """One restore run: stream, verify, stage, switch."""

    def __init__(
        self,
        client: RemoteBackupClient,
        keys: BackupKeys,
        target: Path,
        total: int,
        total_bytes: int,
        *,
        report: ProgressCallback,
        accept_incomplete: bool = False,
    ) -> None:
        self.accept_incomplete = accept_incomplete
        self.client = client
        self.keys = keys
        self.target = target
        self.total = total
        self.total_bytes = total_bytes
        self.report = report
        self.staging = staging_path(target)
        self.store: AsyncRecordStore | None = None
        self.switched = False
        self.writing: asyncio.Future[None] | None = None
        self.flushing: asyncio.Future[None] | None = None
        self.chunk: list[tuple[str, bytes]] = []  # opened, not yet handed to the staging store
        self.next_report = REPORT_EVERY

    async def close(self) -> None:
        for pending in (self.writing, self.flushing):
            if pending is not None:
                # A chunk still being written when the stream failed: let it finish (or fail).
                with contextlib.suppress(Exception):
                    await pending
        self.writing = self.flushing = None
        if self.store is not None:
            await self.store.aclose()
            self.store = None

    async def run(self, info_generation: int) -> RestoreResult:
        # Not durable while it fills: the file is checked and fsynced before the switch, and
        # thrown away if anything fails before it.
        self.store = store = AsyncRecordStore(SqliteStore(self.staging, durable=False))
        async with self.client.export() as stream:
            generation = stream.generation
            incarnation = stream.incarnation
            if generation < info_generation:
                raise BackupCorrupt("the server's export is older than its own store information")
            self.report(
                RestoreProgress(RestorePhase.DOWNLOADING, 0, self.total, 0, self.total_bytes)
            )
            opener = await self._open(stream, incarnation)
        if self.writing is not None:
            await self.writing
        count, received, digest = opener.count, opener.received, opener.digest % _MOD
        manifest = opener.manifest
        chunk = self.chunk
        self.report(RestoreProgress(RestorePhase.VERIFYING, count, self.total, received, received))
        if manifest is None:
            if count == 0:
                raise BackupNotFound("the backup is empty")
            raise BackupCorrupt("the backup has no manifest: it was not written by Cairn, or cut")
        if manifest.objects != count or manifest.digest != digest:
            raise BackupCorrupt(
                "the backup does not match its manifest: objects are missing, added or older "
                "than they should be (a replay)"
            )
        if manifest.filling and not self.accept_incomplete:
            return RestoreResult(
                RestoreOutcome.INCOMPLETE,
                _incomplete(len(manifest.filling)),
                count,
                received,
                generation,
                manifest.written_at,
            )
        chunk.extend(
            self._bookkeeping(
                # With the recent write ids, which the next batch carries on (PROTOCOL.md 11.5),
                # and no `filling`: restored by the user's choice, its next batch clears it.
                ManifestState(
                    opener.manifest_version,
                    count,
                    digest,
                    (),
                    payload.following(opener.manifest_write, manifest.recent_writes),
                ),
                generation,
                incarnation,
                manifest,
            ).items()
        )
        await store.load_restored(chunk)
        # The disk takes the last of the file while SQLite checks it (the check reads what
        # is in the page cache): the fsync before the switch then finds nothing left.
        if self.flushing is not None:
            await self.flushing
        self.flushing = asyncio.ensure_future(asyncio.to_thread(fsync_file, self.staging))
        await self._check_staging(store, count)
        self.report(RestoreProgress(RestorePhase.SWITCHING, count, self.total, received, received))
        await self.close()
        await asyncio.to_thread(switch_in, self.staging, self.target)
        self.switched = True
        self.report(RestoreProgress(RestorePhase.DONE, count, self.total, received, received))
        log.info("restore complete: %d records", count)
        return RestoreResult(
            RestoreOutcome.RESTORED,
            "",
            count,
            received,
            generation,
            manifest.written_at,
        )

    async def _open(self, stream: ExportStream, incarnation: str | None) -> ObjectOpener:
        opener = ObjectOpener.for_keys(self.keys, self.client.store_id, incarnation)
        # One network read at a time: its objects are verified and decrypted here while
        # the next read arrives and the worker thread writes the previous chunk.
        async for objects in stream.batches():
            opener.open(objects, self.chunk)
            await self._staged(opener.count, opener.received)
        return opener

    async def _staged(self, count: int, received: int) -> None:
        """Hand a full chunk to the staging store, and report progress now and then."""
        store = self.store
        assert store is not None
        if len(self.chunk) >= 2 * CHUNK_RECORDS:
            if self.writing is not None:
                await self.writing
            self.writing = asyncio.ensure_future(self._write(store, self.chunk))
            self.chunk = []
        if count >= self.next_report:
            self.next_report = count + REPORT_EVERY
            self.report(
                RestoreProgress(
                    RestorePhase.DOWNLOADING, count, self.total, received, self.total_bytes
                )
            )
            # Reads from a socket yield to the loop; this keeps it responsive with any transport.
            await asyncio.sleep(0)

    async def _write(self, store: AsyncRecordStore, chunk: list[tuple[str, bytes]]) -> None:
        await store.load_restored(chunk)
        if self.flushing is None or self.flushing.done():
            if self.flushing is not None:
                self.flushing.result()
            # The disk takes what is written while the download goes on, so the fsync before
            # the switch finds little left to write (on its own it was a sixth of a restore).
            self.flushing = asyncio.ensure_future(asyncio.to_thread(fsync_file, self.staging))

    def _bookkeeping(
        self,
        verified: ManifestState,
        generation: int,
        incarnation: str | None,
        follows: payload.Manifest,
    ) -> dict[str, bytes]:
        # The life it follows comes with it: the manifests this device writes name it too.
        life = (
            None
            if incarnation is None
            else Incarnation(incarnation, follows.previous_incarnation, follows.previous_generation)
        )
        records = bookkeeping_records(
            manifest=verified,
            generation=generation,
            server_url=self.client.base_url,
            synced_at=time.time(),
            incarnation=life,
            protocol_current=life is not None,
        )
        # A new device id: if the old machine still runs, the two are told apart.
        records[DEVICE_RECORD] = os.urandom(DEVICE_ID_BYTES)
        return records

    async def _check_staging(self, store: AsyncRecordStore, count: int) -> None:
        """SQLite's own integrity check, one version record per downloaded record, and nothing
        queued for upload (restored records were loaded as already backed up)."""
        sqlite_store = store.store
        assert isinstance(sqlite_store, SqliteStore)
        await asyncio.to_thread(sqlite_store.check_integrity)
        # Counted by SQLite: reading every version record back would grow with the store.
        versions = await asyncio.to_thread(sqlite_store.count, VERSIONS_PREFIX)
        if versions != count:
            raise BackupCorrupt("the staging store does not hold what was downloaded")
        if (await store.outbox_stats()).count:
            raise BackupError("the staging store has changes queued for upload; nothing switched")
