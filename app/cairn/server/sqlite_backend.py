"""The embedded backend: one SQLite file, durable when it answers (WAL, synchronous=FULL).

One server serves a SQLite file: one process, or the workers of `serve --workers N`, which
write through one writer process (sqlite_writes.py). Nonces live in the database (a restart
forgets none); the rate-limit windows live in the writer's memory, which is exact because
there is only one writer.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import time
from pathlib import Path

from cairn.server import sqlite_ops
from cairn.server.backend import (
    BackendError,
    BatchApplied,
    Claim,
    ObjectSummary,
    ResyncRequired,
    ServerStats,
    StoreRef,
    feed_cut,
)
from cairn.server.batch import StoreRow
from cairn.server.sqlite_export import SqliteExport
from cairn.server.sqlite_ops import store_row as _store_row
from cairn.server.sqlite_schema import migrate_file
from cairn.server.sqlite_worker import Checkpointer, ReaderPool, connect
from cairn.server.sqlite_writes import WRITER_GONE, LocalWrites, RemoteWrites, Writes
from cairn.wire.messages import Batch, FeedItem, FeedPage, StoredObject, StoreInfo

RATE_WINDOWS_KEPT = 3600  # seconds of rate-limit windows remembered (no window is longer)


def _info(row: StoreRow, compacted: int) -> StoreInfo:
    return StoreInfo(row.state, compacted, row.objects, row.bytes)


class SqliteBackend:
    def __init__(
        self, path: Path, *, readers: int = 2, writer_link: socket.socket | None = None
    ) -> None:
        """`writer_link`: a worker's link to the writer process, which then does the writes
        (and the checkpoints); without one, this process does them itself."""
        self.path = path
        self._readers_count = readers
        self._writer_link = writer_link
        self._writes: Writes | None = None
        self._readers: ReaderPool | None = None
        self._checkpointer: Checkpointer | None = None

    async def open(self) -> None:
        await asyncio.to_thread(migrate_file, self.path)
        if self._writer_link is None:
            self._writes = LocalWrites(self.path)
            self._checkpointer = Checkpointer(self.path)
        else:
            # A worker whose link ended has nothing to write through: it stops as on SIGTERM
            # (finishing its requests) and the supervisor starts another with a new link.
            self._writes = await RemoteWrites.connect(
                self._writer_link, lambda: os.kill(os.getpid(), signal.SIGTERM)
            )
        self._readers = ReaderPool(self.path, self._readers_count)

    async def close(self) -> None:
        writes, readers, checkpointer = self._writes, self._readers, self._checkpointer
        self._writes = self._readers = self._checkpointer = None
        if writes is not None:
            await writes.close()
        if readers is not None:
            await asyncio.to_thread(readers.close)
        if checkpointer is not None:
            await asyncio.to_thread(checkpointer.close)

    @property
    def is_open(self) -> bool:
        return self._writes is not None

    @property
    def writer(self) -> Writes:
        if self._writes is None:
            raise RuntimeError("the SQLite backend is not open")
        return self._writes

    @property
    def readers(self) -> ReaderPool:
        if self._readers is None:
            raise RuntimeError("the SQLite backend is not open")
        return self._readers

    async def ping(self) -> None:
        if isinstance(self._writes, RemoteWrites) and self._writes.gone:
            raise ConnectionError(WRITER_GONE)
        await self.readers.run(lambda conn: conn.execute("SELECT 1").fetchone())

    async def claim(self, claim: Claim) -> None:
        await self.writer.run(sqlite_ops.insert_nonce, claim, hit=claim)

    async def apply_batch(
        self, store: StoreRef, batch: Batch, *, quota: int, claim: Claim | None = None
    ) -> BatchApplied:
        outcome = await self.writer.run(
            sqlite_ops.apply_claimed_batch, store, batch, quota, int(time.time()), claim, hit=claim
        )
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
        return await self.writer.run(sqlite_ops.erase_store, store)

    async def compact(self, older_than: int) -> int:
        return await self.writer.run(sqlite_ops.compact, older_than)

    async def stats(self) -> ServerStats:
        def read(conn: sqlite3.Connection) -> ServerStats:
            row = conn.execute(
                "SELECT count(*), coalesce(sum(objects), 0), coalesce(sum(bytes), 0) FROM stores "
                "WHERE erased = 0"
            ).fetchone()
            return ServerStats(stores=row[0], objects=row[1], bytes=row[2])

        return await self.readers.run(read)

    async def purge_expired(self, now: int) -> None:
        await self.writer.forget_rates(now - RATE_WINDOWS_KEPT)
        await self.writer.run(sqlite_ops.purge_nonces, now)


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
