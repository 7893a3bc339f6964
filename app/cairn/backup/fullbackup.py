"""Full backup: every record from one consistent snapshot, resumable, with progress.

It runs when `local/backup/full_required` is set: after an upgrade from a format without
backups (`require_full_backup`), when the backup server changes, and when the server lost or
rolled back our store. Progress (the last record name uploaded) is kept in
`local/backup/full_progress`, so a full backup interrupted by a crash or a lost connection goes
on where it stopped; the records before the cursor that changed meanwhile are in the outbox.

The flag is cleared only when the server holds everything: the snapshot is uploaded AND the
outbox has no entry left from before the snapshot (`seq <= outbox_head`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import NamedTuple

from cairn.backup.localstate import (
    FULL_PROGRESS,
    FULL_REQUIRED,
    AsyncStore,
    LocalBackupState,
    clear_server_state,
    full_backup_reason,
    require_full_backup,
)
from cairn.backup.status import BackupState, BackupStatus
from cairn.backup.writer import BackupWriter, Change

__all__ = [
    "FullBackupProgress",
    "FullBackupResult",
    "clear_server_state",
    "full_backup_reason",
    "require_full_backup",
    "run_full_backup",
]

log = logging.getLogger(__name__)

MAX_BATCH_ITEMS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024


class FullBackupProgress(NamedTuple):
    """Records uploaded so far out of the snapshot's total, and the bytes sent."""

    done: int
    total: int
    bytes_sent: int


class FullBackupResult(NamedTuple):
    records: int
    bytes_sent: int
    completed: bool  # False: records written meanwhile are still pending; the flag stays set


ProgressCallback = Callable[[FullBackupProgress], None]


async def run_full_backup(
    store: AsyncStore,
    writer: BackupWriter,
    drain: Callable[[], Awaitable[int]],
    *,
    status: BackupStatus | None = None,
    progress: ProgressCallback | None = None,
    max_items: int = MAX_BATCH_ITEMS,
    max_bytes: int = MAX_BATCH_BYTES,
) -> FullBackupResult:
    """Upload every record of one snapshot, then drain the outbox; clear the flag if all is in.

    Raises BackupError when the server cannot take it now; the next run resumes.
    """
    local = LocalBackupState(store)
    flag = await local.full_flag()
    reason = await local.full_required()
    snapshot = await store.snapshot()
    cursor = await local.full_progress()
    remaining = [(n, v) for n, v in snapshot.records if n > cursor]
    total = len(snapshot.records)
    done = total - len(remaining)
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

    log.info("full backup: %d of %d records to upload", len(remaining), total)
    report()
    for chunk in _chunks(remaining, max_items, max_bytes):
        result = await writer.send([Change(name, value) for name, value in chunk])
        await store.put(FULL_PROGRESS, json.dumps({"cursor": chunk[-1][0]}).encode())
        done += len(chunk)
        sent_bytes += result.bytes_sent
        report()
    await drain()
    pending = await store.outbox_pending(1)
    completed = not pending or pending[0].seq > snapshot.outbox_head
    # Clear only the requirement this run started for; one set meanwhile stays.
    if completed and await local.full_flag() == flag:
        await store.batch(deletes=[FULL_REQUIRED, FULL_PROGRESS])
        log.info("full backup complete: %d records", total)
    if status is not None:
        status.update(full_backup_reason=await local.full_required())
    return FullBackupResult(total, sent_bytes, completed)


def _chunks(
    records: list[tuple[str, bytes]], max_items: int, max_bytes: int
) -> Iterator[list[tuple[str, bytes]]]:
    chunk: list[tuple[str, bytes]] = []
    size = 0
    for name, value in records:
        if chunk and (len(chunk) >= max_items or size + len(value) > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append((name, value))
        size += len(value)
    if chunk:
        yield chunk
