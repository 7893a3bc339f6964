"""The embedded backend: one SQLite file, durable when it answers (WAL, synchronous=FULL).

One process serves a SQLite file. Nonces live in the database (a restart forgets none); the
rate-limit window lives in memory, which is exact because there is only one instance.
"""

from __future__ import annotations

import asyncio
import functools
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
from cairn.server.sqlite_schema import migrate_file
from cairn.server.sqlite_worker import Checkpointer, GroupCommitWriter, ReaderPool, connect
from cairn.wire.messages import Batch, FeedItem, FeedPage, StoredObject, StoreInfo


def _insert_nonce(conn: sqlite3.Connection, claim: Claim) -> None:
    try:
        conn.execute(
            "INSERT INTO nonces (node_id, nonce, expires_at) VALUES (?, ?, ?)",
            (claim.node_id, claim.nonce, claim.nonce_expires),
        )
    except sqlite3.IntegrityError:
        raise Replayed("this request was seen before") from None


_STORE_ROW = (
    "SELECT generation, incarnation, erased, objects, bytes, compacted FROM stores "
    "WHERE node_id = ? AND store_id = ?"
)


def _store_row(conn: sqlite3.Connection, store: StoreRef) -> tuple[StoreRow, int] | None:
    """The store's row and its compaction point, or None when it never existed."""
    row = conn.execute(_STORE_ROW, (store.node_id, store.store_id)).fetchone()
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


# Chunks of keys stay under SQLite's bound-parameter limit.
KEYS_PER_QUERY = 500
_UPSERT_OBJECT = (
    "INSERT INTO objects (node_id, store_id, key, version, size, value, deleted, write_id, "
    "written_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (node_id, store_id, key) DO UPDATE SET version = excluded.version, "
    "size = excluded.size, value = excluded.value, deleted = excluded.deleted, "
    "write_id = excluded.write_id, written_at = excluded.written_at"
)
_UPSERT_STORE = (
    "INSERT INTO stores (node_id, store_id, generation, objects, bytes, incarnation, erased) "
    "VALUES (?, ?, ?, ?, ?, ?, 0) ON CONFLICT (node_id, store_id) DO UPDATE SET "
    "generation = excluded.generation, objects = excluded.objects, bytes = excluded.bytes, "
    "incarnation = excluded.incarnation, erased = 0"
)


@functools.lru_cache(maxsize=64)
def _stored_rows_query(count: int) -> str:
    """The rows of `count` keys of one store (one statement text per count, so it is reused)."""
    marks = ",".join("?" * count)
    return (
        "SELECT key, version, size, deleted, write_id FROM objects "  # noqa: S608 - placeholders only
        f"WHERE node_id = ? AND store_id = ? AND key IN ({marks})"
    )


def _apply(
    conn: sqlite3.Connection, store: StoreRef, batch: Batch, quota: int, now: int
) -> BatchApplied:
    found = _store_row(conn, store)
    row = found[0] if found is not None else StoreRow()
    keys = batch.keys
    ids = (store.node_id, store.store_id)
    stored: dict[str, Stored] = {}
    for start in range(0, len(keys), KEYS_PER_QUERY):
        chunk = keys[start : start + KEYS_PER_QUERY]
        query = _stored_rows_query(len(chunk))
        for key, version, size, deleted, write_id in conn.execute(query, (*ids, *chunk)):
            stored[key] = Stored(version, size, bool(deleted), write_id)
    plan = plan_batch(batch, stored, row, quota)
    generation, write_id = plan.generation, batch.write_id
    rows = [(*ids, p.key, generation, len(p.value), p.value, 0, write_id, now) for p in batch.puts]
    rows += [
        (*ids, d.key, generation, len(d.value), d.value, 1, write_id, now) for d in batch.deletes
    ]
    if len(rows) == 1:  # most batches: one statement, without executemany's iteration
        conn.execute(_UPSERT_OBJECT, rows[0])
    else:
        conn.executemany(_UPSERT_OBJECT, rows)
    conn.execute(_UPSERT_STORE, (*ids, generation, plan.objects, plan.bytes, batch.incarnation))
    return BatchApplied(generation=generation, versions=plan.versions)


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
