"""`cairn-backupd backup --to PATH`: an online copy of the SQLite database, private from byte one.

The copy is other people's (encrypted) data, like the database itself, so it is created mode
0600 before anything is written (`sqlite3 .backup` and `VACUUM INTO` create it with the umask,
usually 0644). SQLite's backup API copies the database in one step, which in WAL mode is one
read transaction: a consistent snapshot that never blocks the server's writer. The copy is a
self-contained file (rollback journal, no -wal beside it), fsynced, then renamed into place.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from urllib.parse import quote


def copy_database(source: Path, target: Path) -> int:
    """Copy the live database at `source` to `target` (replaced atomically); the page count."""
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.close(fd)
        pages = _backup(source, partial)
        with open(partial, "rb+") as copy:
            os.fsync(copy.fileno())
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return pages


def _backup(source: Path, partial: Path) -> int:
    # A URI with mode=rw never creates a database where none is.
    src = sqlite3.connect(f"file:{quote(str(source))}?mode=rw", uri=True)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)
            # The copied header says WAL; a backup file should stand alone.
            dst.execute("PRAGMA journal_mode=DELETE")
            return int(dst.execute("PRAGMA page_count").fetchone()[0])
        finally:
            dst.close()
    finally:
        src.close()
