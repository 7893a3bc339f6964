"""Schema versions of the record store file, and the steps between them.

The version lives in ``PRAGMA user_version``. Before an existing file is migrated, an online copy
is made with sqlite3's backup API next to it (``<file>.v<old version>.bak``, mode 0600) and kept,
so a migration that goes wrong in a way the transaction cannot catch can still be undone by hand.
All steps of one upgrade run in one transaction: a failing step leaves the file as it was.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cairn.files import sqlite_online_copy
from cairn.storage.protocol import MigrationError, SchemaTooNewError


@dataclass(frozen=True)
class Migration:
    """One step: ``apply`` brings a file at ``version - 1`` to ``version`` inside a transaction."""

    version: int
    summary: str
    apply: Callable[[sqlite3.Connection], None]


def _create_v1(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE records (name TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL)")
    # AUTOINCREMENT: a seq is never reused, even after the newest entries are acknowledged, so
    # a snapshot's outbox_head keeps meaning "every change up to here".
    conn.execute(
        "CREATE TABLE outbox ("
        " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " name TEXT NOT NULL UNIQUE,"
        " op TEXT NOT NULL CHECK (op IN ('put', 'delete')))"
    )


def _outbox_times_v2(conn: sqlite3.Connection) -> None:
    # When each change was made: several devices settle concurrent edits by it.
    conn.execute("ALTER TABLE outbox ADD COLUMN at INTEGER NOT NULL DEFAULT 0")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "records and outbox", _create_v1),
    Migration(2, "outbox change times", _outbox_times_v2),
)


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the file (0 for a new, empty file)."""
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def backup_path(path: Path, version: int) -> Path:
    """Where the copy taken before migrating a file at ``version`` is kept."""
    return path.with_name(f"{path.name}.v{version}.bak")


def migrate(
    conn: sqlite3.Connection, path: Path, migrations: Sequence[Migration] = MIGRATIONS
) -> Path | None:
    """Bring the file to the newest version in ``migrations``; return the backup made, if any.

    ``conn`` must be in autocommit mode (``isolation_level=None``) with no open transaction.
    """
    if [step.version for step in migrations] != list(range(1, len(migrations) + 1)):
        raise ValueError("migrations must be numbered 1, 2, 3, ... in order")
    latest = len(migrations)
    if _check_version(conn, path, latest) == latest:
        return None
    # Hold the write lock from the copy to the commit, so no other process writes in between.
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = _check_version(conn, path, latest)
        saved = None
        if 0 < current < latest:
            saved = backup_path(path, current)
            sqlite_online_copy(path, saved)
        try:
            for step in migrations:
                if step.version > current:
                    step.apply(conn)
            conn.execute(f"PRAGMA user_version = {int(latest)}")
        except Exception as exc:
            raise MigrationError(
                f"could not upgrade {path.name} from schema version {current} to {latest}; "
                "the file is unchanged"
            ) from exc
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return saved


def _check_version(conn: sqlite3.Connection, path: Path, latest: int) -> int:
    current = schema_version(conn)
    if current > latest:
        raise SchemaTooNewError(
            f"{path.name} has schema version {current}; this Cairn knows up to {latest}. "
            "Open it with a newer Cairn."
        )
    return current
