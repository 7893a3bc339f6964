"""The staging file of a restore: where it is, putting it in place, and removing what an
interrupted one left.

Apart from cairn.backup.restore so that opening a session (before the main window's first
frame) can clean up without loading the restore engine and its HTTP client.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from cairn.backup.errors import BackupError
from cairn.files import fsync_dir, fsync_file, remove_if_there, sqlite_sidecars


def staging_path(target: Path) -> Path:
    return target.with_name(target.name + ".restore-staging")


def discard_staging(target: Path) -> bool:
    """Remove what an interrupted restore left next to `target`; True if there was anything."""
    found = False
    staging = staging_path(target)
    for path in (staging, *sqlite_sidecars(staging)):
        found = remove_if_there(path) or found
    return found


def switch_in(staging: Path, target: Path) -> None:
    """Put the staged file in place of `target` atomically; a crash leaves one or the other."""
    for leftover in sqlite_sidecars(staging):
        if leftover.exists():
            # Something else holds the staging file open: not the backup's fault.
            raise BackupError("the staging store is still in use; nothing was switched")
    fsync_file(staging)
    if target.exists():
        # Fold the old file's WAL into it and drop the WAL, so no stale WAL can be replayed
        # onto the new file after the switch.
        conn = sqlite3.connect(target)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    for sidecar in sqlite_sidecars(target):
        with contextlib.suppress(FileNotFoundError):
            sidecar.unlink()
    os.replace(staging, target)
    fsync_dir(target.parent)
