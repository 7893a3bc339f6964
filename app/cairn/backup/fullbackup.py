"""Full backup: compare every record with the server's copy, then upload what it lacks.

It runs when `local/backup/full_required` is set: after an upgrade from a format without
backups (`require_full_backup`), when the backup server changes, when the server lost or
rolled back our store, after a compaction or a new incarnation elsewhere, and once when this
device moves to protocol v2. The comparison (`SyncEngine.resync`) queues every record the
server lacks or holds in an older version; the upload drains that queue with progress. A run
cut short by a crash or a lost connection starts the comparison again, which finds what was
already uploaded and queues only the rest.

The flag is cleared only when the server holds everything (the outbox is empty) and the flag
still holds the token it started with (a requirement set meanwhile stays). Until then the
manifests this device writes name it as still filling the store (PROTOCOL.md 11.5): a restore
from a full backup cut off partway is told as incomplete, never as the whole wallet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NamedTuple

from cairn.backup.localstate import (
    AsyncStore,
    LocalBackupState,
    clear_server_state,
    full_backup_reason,
    require_full_backup,
)
from cairn.backup.status import BackupState, BackupStatus
from cairn.backup.sync import PushResult, SyncEngine

__all__ = [
    "FullBackupProgress",
    "FullBackupResult",
    "clear_server_state",
    "full_backup_reason",
    "require_full_backup",
    "run_full_backup",
]

log = logging.getLogger(__name__)


class FullBackupProgress(NamedTuple):
    """Records uploaded so far out of those the server lacked, and the bytes sent."""

    done: int
    total: int
    bytes_sent: int


class FullBackupResult(NamedTuple):
    records: int
    bytes_sent: int
    completed: bool  # False: changes are still pending; the flag stays set


ProgressCallback = Callable[[FullBackupProgress], None]


async def run_full_backup(
    store: AsyncStore,
    engine: SyncEngine,
    *,
    status: BackupStatus | None = None,
    progress: ProgressCallback | None = None,
) -> FullBackupResult:
    """Compare everything with the server, upload what it lacks; clear the flag if all is in.

    Raises BackupError when the server cannot take it now; the next run starts again.
    """
    local = LocalBackupState(store)
    flag = await local.full_flag()
    reason = await local.full_required()
    total = 0
    done = 0
    sent_bytes = 0

    def report() -> None:
        if status is not None:
            status.update(
                state=BackupState.FULL_BACKUP,
                full_backup_reason=reason,
                full_backup_done=done,
                full_backup_total=total,
            )
        if progress is not None:
            progress(FullBackupProgress(done, total, sent_bytes))

    report()
    await engine.resync()
    total = (await store.outbox_stats()).count
    log.info("full backup: %d records to upload", total)
    report()

    def on_sent(sent: PushResult) -> None:
        nonlocal done, sent_bytes
        done, sent_bytes = min(total, sent.records), sent.bytes_sent
        report()

    # Its batches name this device as still filling the store, so that a restore meanwhile
    # is told the backup is incomplete; once everything is up, one last manifest says it is
    # not (before the flag goes: a crash in between only sends that manifest again).
    requirement = await local.full_requirement()
    filling = requirement is None or requirement.fills_store
    result = await engine.push(on_sent, filling=filling)
    completed = (await store.outbox_stats()).count == 0
    if completed:
        await engine.end_filling()
    if completed and await engine.clear_full_requirement(flag):
        log.info("full backup complete: %d records uploaded", result.records)
    if status is not None:
        status.update(full_backup_reason=await local.full_required())
    return FullBackupResult(result.records, result.bytes_sent, completed)
