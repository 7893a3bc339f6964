"""SqliteStore: the record store in one SQLite file (WAL, synchronous=FULL, mode 0600)."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from operator import itemgetter
from pathlib import Path

from cairn.storage.migrations import MIGRATIONS, Migration, migrate, schema_version
from cairn.storage.protocol import (
    LOCAL_PREFIX,
    OutboxEntry,
    OutboxStats,
    Pending,
    PendingChanged,
    Snapshot,
    StoreClosedError,
    StoreCorruptError,
    StoreError,
    check_batch,
    check_limit,
    check_name,
    check_prefix,
    check_restored,
    check_seqs,
    check_synced,
    is_local,
)
from cairn.storage.sqlite_bulk import delete_outbox_entries, enqueue_many, upsert_many
from cairn.storage.sqlite_file import check_pages, create_complete, refuse_unusable, translated
from cairn.storage.walcheckpoint import NO_CHECKPOINTS, Checkpoints, checkpointer_for

_MAX_CODE_POINT = 0x10FFFF
# Another process (a second Cairn, the backup command) may hold the write lock for a moment.
BUSY_TIMEOUT_MS = 5000
# SQLite's page cache, in KiB (its default is 2 MiB). With 2 MiB, past about 20,000 records the
# random keys of the version records had each batch of a full backup read B-tree pages again:
# its cost per record grew 1.16-1.21x from 20,000 to 100,000 records, 1.04x with this. The cache
# fills only as pages are read, so a small wallet's store never holds this much.
CACHE_KIB = 16 * 1024


class SqliteStore:
    """A RecordStore in one SQLite file.

    Safe to call from any thread, one call at a time (calls are serialised by a lock); the
    AsyncRecordStore wrapper keeps every call on one worker thread.

    ``durable=False`` is for a staging file that its owner fills, checks, fsyncs and only then
    moves into place (a restore): transactions stay atomic, but through an in-memory journal and
    without syncing, so each page is written once instead of twice. A crash can leave such a
    file damaged: it must be thrown away, never opened as a wallet's store. Opened again
    normally, the file is switched to WAL like any other.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        migrations: Sequence[Migration] = MIGRATIONS,
        durable: bool = True,
    ) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        journal, sync = ("wal", "FULL") if durable else ("memory", "OFF")
        created = create_complete(self.path, journal, migrations)
        if not created:
            refuse_unusable(self.path)
        with translated(self.path):
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            try:
                if not created:
                    # Before anything writes to it: a damaged file is refused as it was found.
                    check_pages(conn, self.path)
                    if schema_version(conn) == 0:
                        # Ours are created with their schema: this is another program's file.
                        raise StoreCorruptError(
                            f"{self.path} is an SQLite file without the record store's schema, "
                            "not a Cairn wallet's records"
                        )
                mode = conn.execute(f"PRAGMA journal_mode = {journal}").fetchone()[0]
                if str(mode).lower() != journal:
                    raise StoreError(
                        f"{self.path}: SQLite refused journal mode {journal} (got {mode})"
                    )
                conn.execute(f"PRAGMA synchronous = {sync}")
                conn.execute("PRAGMA foreign_keys = ON")
                conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                self.migration_backup = migrate(conn, self.path, migrations)
                wal = checkpointer_for(self, conn, self.path) if durable else NO_CHECKPOINTS
                self._checkpoints: Checkpoints = wal
            except BaseException:
                conn.close()
                raise
        self._conn: sqlite3.Connection | None = conn

    def get(self, name: str) -> bytes | None:
        check_name(name)
        with self._reading() as conn:
            found = conn.execute("SELECT value FROM records WHERE name = ?", (name,)).fetchone()
        return None if found is None else bytes(found[0])

    def put(self, name: str, value: bytes) -> None:
        self.batch({name: value})

    def put_if(self, name: str, value: bytes, *, expect: bytes | None) -> bool:
        put_items, _ = check_batch({name: value}, ())
        with self._write() as conn:
            found = conn.execute("SELECT value FROM records WHERE name = ?", (name,)).fetchone()
            if (None if found is None else bytes(found[0])) != expect:
                return False
            _write_queued(conn, put_items, [])
        return True

    def delete(self, name: str) -> None:
        self.batch(deletes=(name,))

    def scan(self, prefix: str = "") -> list[tuple[str, bytes]]:
        check_prefix(prefix)
        upper = _prefix_end(prefix)
        args: tuple[str, ...]
        if upper is None:
            sql, args = "SELECT name, value FROM records WHERE name >= ?", (prefix,)
        else:
            sql = "SELECT name, value FROM records WHERE name >= ? AND name < ?"
            args = (prefix, upper)
        with self._reading() as conn:
            rows = conn.execute(sql + " ORDER BY name", args).fetchall()
        return [(str(n), bytes(v)) for n, v in rows]

    def count(self, prefix: str = "") -> int:
        """How many records have a name starting with ``prefix``, counted without reading them."""
        check_prefix(prefix)
        upper = _prefix_end(prefix)
        args: tuple[str, ...]
        if upper is None:
            sql, args = "SELECT count(*) FROM records WHERE name >= ?", (prefix,)
        else:
            sql = "SELECT count(*) FROM records WHERE name >= ? AND name < ?"
            args = (prefix, upper)
        with self._reading() as conn:
            return int(conn.execute(sql, args).fetchone()[0])

    def batch(self, puts: Mapping[str, bytes] | None = None, deletes: Iterable[str] = ()) -> None:
        put_items, delete_names = check_batch(puts, deletes)
        with self._write() as conn:
            _write_queued(conn, put_items, delete_names)

    def get_many(self, names: Iterable[str]) -> dict[str, bytes]:
        wanted = sorted({check_name(n) for n in names})
        found: dict[str, bytes] = {}
        with self._reading() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for name, value in conn.execute(
                    f"SELECT name, value FROM records WHERE name IN ({marks})",  # noqa: S608 - placeholders only
                    chunk,
                ):
                    found[str(name)] = bytes(value)
        return found

    def pending_for(self, names: Iterable[str]) -> dict[str, Pending]:
        wanted = sorted({check_name(n) for n in names})
        with self._reading() as conn:
            return _pending_for(conn, wanted)

    def apply_synced(
        self,
        puts: Mapping[str, bytes],
        deletes: Iterable[str],
        *,
        expect: Mapping[str, int | None],
        ack: Iterable[int] = (),
        queue: Mapping[str, bytes] | None = None,
        queued_at: int | None = None,
    ) -> None:
        """Apply another device's changes without queueing them, if the outbox is as expected.

        `queue`: records to write and queue for upload, recorded as changed at `queued_at` (ms
        since the epoch; None: now).
        """
        put_items, delete_names, expected, queued = check_synced(puts, deletes, expect, queue)
        acks = check_seqs(ack)
        with self._write() as conn:
            pending = _pending_for(conn, [n for n, _ in expected])
            for name, seq in expected:
                found = pending.get(name)
                if (found.seq if found is not None else None) != seq:
                    raise PendingChanged(f"{name!r} changed while its sync was being decided")
            delete_outbox_entries(conn, acks)
            if put_items:
                upsert_many(conn, put_items)
            conn.executemany("DELETE FROM records WHERE name = ?", [(n,) for n in delete_names])
            _write_queued(conn, queued, [], at=queued_at)

    def load_restored(self, records: Iterable[tuple[str, bytes]]) -> None:
        """Write records that came from the backup, in one transaction, queueing nothing.

        For a restore only: the server already holds these values, so an outbox entry would
        upload them again. Pending entries of other writes are left as they are.
        """
        items = check_restored(records)
        # In name order (names are unique: no need to compare values) the inserts walk the index.
        items.sort(key=itemgetter(0))
        with self._write() as conn:
            upsert_many(conn, items)

    def outbox_pending(self, limit: int = 500) -> list[OutboxEntry]:
        check_limit(limit)
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT seq, name, op FROM outbox ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [
            OutboxEntry(int(s), str(n), "delete" if op == "delete" else "put") for s, n, op in rows
        ]

    def outbox_ack(self, seqs: Iterable[int]) -> None:
        keys = check_seqs(seqs)
        with self._write() as conn:
            delete_outbox_entries(conn, keys)

    def outbox_stats(self) -> OutboxStats:
        with self._reading() as conn:
            count, size = conn.execute(
                "SELECT count(*), coalesce(sum(length(r.value)), 0)"
                " FROM outbox AS o LEFT JOIN records AS r ON r.name = o.name"
            ).fetchone()
        return OutboxStats(int(count), int(size))

    def snapshot(self) -> Snapshot:
        # local/ sorts as one contiguous range: skip it by range so the index does the work.
        local_end = _prefix_end(LOCAL_PREFIX)
        with self._reading() as conn:
            conn.execute("BEGIN")
            try:
                rows = conn.execute(
                    "SELECT name, value FROM records WHERE name < ? OR name >= ? ORDER BY name",
                    (LOCAL_PREFIX, local_end),
                ).fetchall()
                head = conn.execute(
                    "SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'outbox'"
                ).fetchone()[0]
            finally:
                conn.execute("COMMIT")
        return Snapshot([(str(n), bytes(v)) for n, v in rows], int(head))

    def check_integrity(self) -> None:
        """Raise StoreCorruptError unless ``PRAGMA integrity_check`` says ok."""
        with self._reading() as conn:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        if [tuple(r) for r in rows] != [("ok",)]:
            raise StoreCorruptError(f"{self.path} failed the integrity check: {rows[:5]}")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._checkpoints.close()
                self._conn.close()
                self._conn = None

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._open()
            with translated(self.path):
                yield conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._reading() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
                self._checkpoints.written()
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreClosedError
        return self._conn


def _now_ms() -> int:
    return int(time.time() * 1000)


def _write_queued(
    conn: sqlite3.Connection,
    put_items: list[tuple[str, bytes]],
    delete_names: list[str],
    *,
    at: int | None = None,
) -> None:
    now = _now_ms() if at is None else at
    queued = [(n, "put", now) for n, _ in put_items if not is_local(n)]
    if put_items:
        upsert_many(conn, put_items)
    for name in delete_names:
        gone = conn.execute("DELETE FROM records WHERE name = ?", (name,)).rowcount
        if gone and not is_local(name):
            queued.append((name, "delete", now))
    if queued:
        enqueue_many(conn, queued)


def _pending_for(conn: sqlite3.Connection, names: list[str]) -> dict[str, Pending]:
    found: dict[str, Pending] = {}
    for start in range(0, len(names), 500):
        chunk = names[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for name, seq, op, at in conn.execute(
            f"SELECT name, seq, op, at FROM outbox WHERE name IN ({marks})",  # noqa: S608 - placeholders only
            chunk,
        ):
            found[str(name)] = Pending(int(seq), "delete" if op == "delete" else "put", int(at))
    return found


def _prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (None: no bound).

    SQLite compares TEXT as UTF-8 bytes, which orders like Python's code-point order.
    """
    chars = list(prefix)
    while chars:
        last = ord(chars.pop()) + 1
        if last == 0xD800:  # surrogates cannot be stored; skip to the next real code point
            last = 0xE000
        if last <= _MAX_CODE_POINT:
            return "".join(chars) + chr(last)
    return None
