"""The record store's file: made whole under a temporary name, refused when it cannot be one,
and sqlite3's errors told as the store's (SqliteStore opens it; sqlite.py)."""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import sqlite3
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from cairn.files import (
    fsync_dir,
    fsync_file,
    keep_private,
    make_private_dir,
    sqlite_sidecars,
    take_lock,
)
from cairn.storage.migrations import Migration, migrate
from cairn.storage.protocol import StoreCorruptError, StoreError, StoreNotWritable

__all__ = ["changes_waiting", "check_pages", "create_complete", "refuse_unusable", "translated"]

_CORRUPT_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
_NEW_SUFFIX = ".new"


@contextmanager
def translated(path: Path) -> Iterator[None]:
    """Map sqlite3's errors to the store's: corruption, or any other failure of the file."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and (code & 0xFF) in _CORRUPT_CODES:  # extended codes keep the base
            raise StoreCorruptError(f"{path} is damaged or not a record store") from exc
        if code == sqlite3.SQLITE_CANTOPEN and not os.access(path.parent, os.W_OK):
            raise StoreNotWritable(
                f"{path.parent} cannot be written (a read-only disk or folder), and the "
                "record store keeps its journal there, even to be read"
            ) from exc
        raise StoreError(f"{path}: {exc}") from exc


def create_complete(path: Path, journal: str, migrations: Sequence[Migration]) -> bool:
    """Create `path` as a complete empty store unless something is there; True if created.

    The file is built under a temporary name (0600 before SQLite opens it, schema in place,
    fsynced) and only then linked to `path`, which never exists half-made. So a store file
    that is empty or has no schema was never one of ours in the making: it is damage.
    """
    _discard_abandoned(path)
    if os.path.lexists(path):
        return False
    make_private_dir(path.parent)
    new = path.with_name(f".{path.name}.{secrets.token_hex(4)}{_NEW_SUFFIX}")
    claim = os.open(new, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
    try:
        # Held until the file is in place or gone: `_discard_abandoned` leaves it alone.
        take_lock(claim, blocking=True)
        with translated(path):
            conn = sqlite3.connect(new, isolation_level=None)
            try:
                # WAL is recorded in the file's header; closing folds the log into the file.
                conn.execute(f"PRAGMA journal_mode = {journal}")
                migrate(conn, new, migrations)
            finally:
                conn.close()
        fsync_file(new)
        return _link_new(new, path)
    finally:
        _unlink_with_sidecars(new)
        os.close(claim)


def _discard_abandoned(path: Path) -> None:
    """Remove new-store files of creators that died (a crash, a kill) before finishing."""
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*{_NEW_SUFFIX}"):
        try:
            fd = os.open(leftover, os.O_RDWR)
        except OSError:
            continue
        try:
            if take_lock(fd):
                _unlink_with_sidecars(leftover)
        finally:
            os.close(fd)


def _unlink_with_sidecars(path: Path) -> None:
    for leftover in (path, *sqlite_sidecars(path)):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def _link_new(new: Path, path: Path) -> bool:
    """Put the finished file at `path` unless another process put one there first."""
    try:
        os.link(new, path)
    except FileExistsError:
        return False  # a second Cairn created it a moment ago: open that one
    except OSError:
        # A file system without hard links: a rename, which only a racing creator could beat.
        if os.path.lexists(path):
            return False
        os.replace(new, path)
    fsync_dir(path.parent)
    return True


def refuse_unusable(path: Path) -> None:
    """Refuse a store file that cannot be one (a folder, zero bytes); tighten a wide mode."""
    try:
        info = path.stat()
    except OSError as exc:
        raise StoreError(f"{path} cannot be read: {exc.strerror}") from exc
    if stat.S_ISDIR(info.st_mode):
        raise StoreCorruptError(f"{path} is a folder, not a record store")
    if not stat.S_ISREG(info.st_mode):
        raise StoreCorruptError(f"{path} is not a regular file, so not a record store")
    if info.st_size == 0:
        # Never a store being created (see create_complete): its records are gone.
        raise StoreCorruptError(f"{path} is empty (0 bytes): the wallet's records are missing")
    keep_private(path)


def changes_waiting(path: Path) -> int | None:
    """How many changes in the store file at `path` wait for the backup (read only, nothing
    migrated); None when the file cannot be read as a store (missing, damaged, too old).

    With no WAL beside it, everything is in the file: it is read as immutable, which makes no
    side files (a read-only connection would leave a WAL and its index behind, and on a full
    disk they may not fit). With a WAL, whose side files are there already, it is read as
    SQLite reads it, the WAL included.
    """
    wal = sqlite_sidecars(path)[0]
    mode = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True)
    except (sqlite3.Error, OSError):
        return None
    try:
        return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def check_pages(conn: sqlite3.Connection, path: Path) -> None:
    """SQLite's quick check (every page, no index contents): milliseconds for a wallet."""
    rows = conn.execute("PRAGMA quick_check").fetchall()
    if [tuple(r) for r in rows] != [("ok",)]:
        detail = str(rows[0][0])[:120] if rows else "no answer"
        raise StoreCorruptError(f"{path} is damaged (SQLite's check: {detail})")
