"""The embedded backend: one SQLite file, durable when it answers (WAL, synchronous=FULL).

One process serves a SQLite file. Nonces live in the database (a restart forgets none); the
rate-limit window lives in memory, which is exact because there is only one instance.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from cairn.server.backend import (
    BackendError,
    BatchApplied,
    Claim,
    ObjectSummary,
    RateLimited,
    Replayed,
    ResyncRequired,
    ServerStats,
    StoreRef,
    feed_cut,
)
from cairn.server.batch import Stored, StoreRow, plan_batch
from cairn.server.ratelimit import FixedWindowCounter, retry_after
from cairn.server.sqlite_export import SqliteExport
from cairn.server.sqlite_worker import Checkpointer, GroupCommitWriter, ReaderPool, connect
from cairn.wire.messages import Batch, FeedItem, FeedPage, StoredObject, StoreInfo

SCHEMA_VERSION = 2
SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS stores (
    node_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    generation INTEGER NOT NULL,
    objects INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (node_id, store_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS objects (
    node_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    key TEXT NOT NULL,
    version INTEGER NOT NULL,
    size INTEGER NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (node_id, store_id, key)
);
CREATE TABLE IF NOT EXISTS nonces (
    node_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (node_id, nonce)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS nonces_expiry ON nonces (expires_at);
"""
# Protocol v2: versions are generations, deletes leave tombstones, stores have incarnations.
# Nothing already stored is renumbered: a v1 version never exceeds its store's generation, so
# every later write gets a higher version than any that exists.
MIGRATION_V2 = """
ALTER TABLE objects ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE objects ADD COLUMN write_id TEXT;
ALTER TABLE objects ADD COLUMN written_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX objects_feed ON objects (node_id, store_id, version, key);
CREATE INDEX objects_tombstones ON objects (deleted, written_at) WHERE deleted = 1;
ALTER TABLE stores ADD COLUMN incarnation TEXT;
ALTER TABLE stores ADD COLUMN erased INTEGER NOT NULL DEFAULT 0;
ALTER TABLE stores ADD COLUMN compacted INTEGER NOT NULL DEFAULT 0;
"""


def _statements(script: str) -> list[str]:
    return [statement for statement in script.split(";") if statement.strip()]


def migrate_file(path: Path) -> None:
    """Create or upgrade the schema of a SQLite database file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for statement in _statements(SCHEMA_V1):
            conn.execute(statement)
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        current = 1 if row is None else int(row[0])
        if current > SCHEMA_VERSION:
            raise RuntimeError(
                f"the database schema is version {current}, newer than this server ({SCHEMA_VERSION})"
            )
        if current < 2:
            for statement in _statements(MIGRATION_V2):
                conn.execute(statement)
        if row is None:
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        else:
            conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
        conn.execute("COMMIT")
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()
    path.chmod(0o600)


def _insert_nonce(conn: sqlite3.Connection, claim: Claim) -> None:
    try:
        conn.execute(
            "INSERT INTO nonces (node_id, nonce, expires_at) VALUES (?, ?, ?)",
            (claim.node_id, claim.nonce, claim.nonce_expires),
        )
    except sqlite3.IntegrityError:
        raise Replayed("this request was seen before") from None


_STORE_COLUMNS = "generation, incarnation, erased, objects, bytes, compacted"


def _store_row(conn: sqlite3.Connection, store: StoreRef) -> tuple[StoreRow, int] | None:
    """The store's row and its compaction point, or None when it never existed."""
    row = conn.execute(
        f"SELECT {_STORE_COLUMNS} FROM stores WHERE node_id = ? AND store_id = ?",  # noqa: S608 - constant
        (store.node_id, store.store_id),
    ).fetchone()
    if row is None:
        return None
    generation, incarnation, erased, objects, size, compacted = row
    return StoreRow(generation, incarnation, bool(erased), objects, size), compacted


def _info(row: StoreRow, compacted: int) -> StoreInfo:
    return StoreInfo(row.state, compacted, row.objects, row.bytes)


class SqliteBackend:
    def __init__(self, path: Path, *, readers: int = 2) -> None:
        self.path = path
        self._readers_count = readers
        self._writer: GroupCommitWriter | None = None
        self._readers: ReaderPool | None = None
        self._checkpointer: Checkpointer | None = None
        self._rate = FixedWindowCounter()

    async def open(self) -> None:
        await asyncio.to_thread(migrate_file, self.path)
        self._writer = GroupCommitWriter(self.path)
        self._readers = ReaderPool(self.path, self._readers_count)
        self._checkpointer = Checkpointer(self.path)

    async def close(self) -> None:
        writer, readers, checkpointer = self._writer, self._readers, self._checkpointer
        self._writer = self._readers = self._checkpointer = None
        if writer is not None:
            await asyncio.to_thread(writer.close)
        if readers is not None:
            await asyncio.to_thread(readers.close)
        if checkpointer is not None:
            await asyncio.to_thread(checkpointer.close)

    @property
    def is_open(self) -> bool:
        return self._writer is not None

    @property
    def writer(self) -> GroupCommitWriter:
        if self._writer is None:
            raise RuntimeError("the SQLite backend is not open")
        return self._writer

    @property
    def readers(self) -> ReaderPool:
        if self._readers is None:
            raise RuntimeError("the SQLite backend is not open")
        return self._readers

    async def ping(self) -> None:
        await self.readers.run(lambda conn: conn.execute("SELECT 1").fetchone())

    def _count_hit(self, claim: Claim) -> None:
        if claim.rate_limit <= 0:
            return
        hits = self._rate.hit(claim.node_id, claim.window_start)
        if hits > claim.rate_limit:
            raise RateLimited(retry_after(claim.window_start, claim.window_seconds))

    async def claim(self, claim: Claim) -> None:
        self._count_hit(claim)
        await self.writer.run(lambda conn: _insert_nonce(conn, claim))

    async def apply_batch(
        self, store: StoreRef, batch: Batch, *, quota: int, claim: Claim | None = None
    ) -> BatchApplied:
        if claim is not None:
            self._count_hit(claim)
        now = int(time.time())

        def apply(conn: sqlite3.Connection) -> BatchApplied | BackendError:
            if claim is not None:
                _insert_nonce(conn, claim)
            # Refusals are returned, not raised, so the nonce above is still committed.
            try:
                return _apply(conn, store, batch, quota, now)
            except BackendError as refusal:
                return refusal

        outcome = await self.writer.run(apply)
        if isinstance(outcome, BackendError):
            raise outcome
        return outcome

    async def get_object(self, store: StoreRef, key: str) -> StoredObject | None:
        def read(conn: sqlite3.Connection) -> StoredObject | None:
            row = conn.execute(
                "SELECT version, write_id, value FROM objects "
                "WHERE node_id = ? AND store_id = ? AND key = ? AND deleted = 0",
                (store.node_id, store.store_id, key),
            ).fetchone()
            return None if row is None else StoredObject(key, row[0], row[1], row[2])

        return await self.readers.run(read)

    async def list_objects(self, store: StoreRef, after: str, limit: int) -> list[ObjectSummary]:
        def read(conn: sqlite3.Connection) -> list[ObjectSummary]:
            rows = conn.execute(
                "SELECT key, version, size FROM objects "
                "WHERE node_id = ? AND store_id = ? AND key > ? AND deleted = 0 "
                "ORDER BY key LIMIT ?",
                (store.node_id, store.store_id, after, limit),
            ).fetchall()
            return [ObjectSummary(key=k, version=v, size=s) for k, v, s in rows]

        return await self.readers.run(read)

    async def changes(self, store: StoreRef, since: int, limit: int) -> FeedPage | None:
        def read(conn: sqlite3.Connection) -> FeedPage | None:
            conn.execute("BEGIN")  # the store row and the items from one snapshot
            try:
                return _changes(conn, store, since, limit)
            finally:
                conn.execute("COMMIT")

        return await self.readers.run(read)

    async def open_export(self, store: StoreRef) -> SqliteExport | None:
        def begin() -> SqliteExport | None:
            conn = connect(self.path)
            conn.execute("BEGIN")
            found = _store_row(conn, store)  # the first read fixes the snapshot
            if found is None:
                conn.execute("ROLLBACK")
                conn.close()
                return None
            return SqliteExport(conn, store, found[0])

        return await asyncio.to_thread(begin)

    async def store_info(self, store: StoreRef) -> StoreInfo | None:
        def read(conn: sqlite3.Connection) -> StoreInfo | None:
            found = _store_row(conn, store)
            return None if found is None else _info(*found)

        return await self.readers.run(read)

    async def delete_store(self, store: StoreRef) -> bool:
        def erase(conn: sqlite3.Connection) -> bool:
            args = (store.node_id, store.store_id)
            # The generation stays, so no version ever repeats; feeds from before must re-list.
            erased = conn.execute(
                "UPDATE stores SET incarnation = NULL, erased = 1, objects = 0, bytes = 0, "
                "compacted = generation WHERE node_id = ? AND store_id = ? AND erased = 0",
                args,
            ).rowcount
            conn.execute("DELETE FROM objects WHERE node_id = ? AND store_id = ?", args)
            return erased > 0

        return await self.writer.run(erase)

    async def compact(self, older_than: int) -> int:
        return await self.writer.run(lambda conn: _compact(conn, older_than))

    async def stats(self) -> ServerStats:
        def read(conn: sqlite3.Connection) -> ServerStats:
            row = conn.execute(
                "SELECT count(*), coalesce(sum(objects), 0), coalesce(sum(bytes), 0) FROM stores "
                "WHERE erased = 0"
            ).fetchone()
            return ServerStats(stores=row[0], objects=row[1], bytes=row[2])

        return await self.readers.run(read)

    async def purge_expired(self, now: int) -> None:
        self._rate.forget_before(now - 3600)
        await self.writer.run(
            lambda conn: conn.execute("DELETE FROM nonces WHERE expires_at < ?", (now,))
        )


def _apply(
    conn: sqlite3.Connection, store: StoreRef, batch: Batch, quota: int, now: int
) -> BatchApplied:
    found = _store_row(conn, store)
    row = found[0] if found is not None else StoreRow()
    keys = batch.keys
    stored: dict[str, Stored] = {}
    # Chunks stay under SQLite's bound-parameter limit.
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for key, version, size, deleted, write_id in conn.execute(
            f"SELECT key, version, size, deleted, write_id FROM objects WHERE node_id = ? AND store_id = ? AND key IN ({marks})",  # noqa: S608 - placeholders only
            (store.node_id, store.store_id, *chunk),
        ):
            stored[key] = Stored(version, size, bool(deleted), write_id)
    plan = plan_batch(batch, stored, row, quota)
    ids = (store.node_id, store.store_id)
    rows = [(*ids, p.key, plan.generation, len(p.value), p.value, 0) for p in batch.puts] + [
        (*ids, d.key, plan.generation, len(d.value), d.value, 1) for d in batch.deletes
    ]
    conn.executemany(
        "INSERT INTO objects (node_id, store_id, key, version, size, value, deleted, write_id, "
        "written_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (node_id, store_id, key) DO UPDATE SET version = excluded.version, "
        "size = excluded.size, value = excluded.value, deleted = excluded.deleted, "
        "write_id = excluded.write_id, written_at = excluded.written_at",
        [(*r, batch.write_id, now) for r in rows],
    )
    conn.execute(
        "INSERT INTO stores (node_id, store_id, generation, objects, bytes, incarnation, erased) "
        "VALUES (?, ?, ?, ?, ?, ?, 0) ON CONFLICT (node_id, store_id) DO UPDATE SET "
        "generation = excluded.generation, objects = excluded.objects, bytes = excluded.bytes, "
        "incarnation = excluded.incarnation, erased = 0",
        (*ids, plan.generation, plan.objects, plan.bytes, batch.incarnation),
    )
    return BatchApplied(generation=plan.generation, versions=plan.versions)


_FEED_COLUMNS = "key, version, deleted, write_id, value"


def _changes(conn: sqlite3.Connection, store: StoreRef, since: int, limit: int) -> FeedPage | None:
    found = _store_row(conn, store)
    if found is None:
        return None
    row, compacted = found
    if since < compacted:
        raise ResyncRequired(row.state, compacted)
    ids = (store.node_id, store.store_id)
    rows = conn.execute(
        f"SELECT {_FEED_COLUMNS} FROM objects WHERE node_id = ? AND store_id = ? AND version > ? "  # noqa: S608 - constant
        "ORDER BY version, key LIMIT ?",
        (*ids, since, limit + 1),
    ).fetchall()
    keep = feed_cut([r[1] for r in rows], limit)
    more = len(rows) > limit
    if keep == 0 and rows:
        rows = conn.execute(
            f"SELECT {_FEED_COLUMNS} FROM objects WHERE node_id = ? AND store_id = ? AND version = ? "  # noqa: S608 - constant
            "ORDER BY key",
            (*ids, rows[0][1]),
        ).fetchall()
    else:
        rows = rows[:keep]
    items = tuple(FeedItem(k, v, bool(d), w, val) for k, v, d, w, val in rows)
    return FeedPage(row.state, compacted, items, items[-1].version if more else None)


def _compact(conn: sqlite3.Connection, older_than: int) -> int:
    """Drop old tombstones; each store's compaction point moves past the newest one dropped."""
    dropped = conn.execute(
        "SELECT node_id, store_id, max(version), count(*), sum(size) FROM objects "
        "WHERE deleted = 1 AND written_at < ? GROUP BY node_id, store_id",
        (older_than,),
    ).fetchall()
    total = 0
    for node_id, store_id, newest, count, size in dropped:
        conn.execute(
            "DELETE FROM objects WHERE node_id = ? AND store_id = ? AND deleted = 1 "
            "AND version <= ?",
            (node_id, store_id, newest),
        )
        conn.execute(
            "UPDATE stores SET compacted = max(compacted, ?), bytes = bytes - ? "
            "WHERE node_id = ? AND store_id = ?",
            (newest, size, node_id, store_id),
        )
        total += count
    return total
