"""The embedded backend: one SQLite file, durable when it answers (WAL, synchronous=FULL).

One process serves a SQLite file. Nonces live in the database (a restart forgets none); the
rate-limit window lives in memory, which is exact because there is only one instance.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from cairn.backup.protocol import DeleteItem, PutItem
from cairn.server.backend import (
    EXPORT_PAGE_ROWS,
    BackendError,
    BatchApplied,
    Claim,
    ObjectSummary,
    RateLimited,
    Replayed,
    ServerStats,
    StoredObject,
    StoreInfo,
    StoreRef,
    export_page_end,
)
from cairn.server.batch import Stored, plan_batch
from cairn.server.ratelimit import FixedWindowCounter, retry_after
from cairn.server.sqlite_worker import Checkpointer, GroupCommitWriter, ReaderPool, connect

SCHEMA_VERSION = 1
SCHEMA = """
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


def migrate_file(path: Path) -> None:
    """Create or upgrade the schema of a SQLite database file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        if row is None:
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        elif row[0] > SCHEMA_VERSION:
            raise RuntimeError(
                f"the database schema is version {row[0]}, newer than this server ({SCHEMA_VERSION})"
            )
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


def _store_info(conn: sqlite3.Connection, store: StoreRef) -> StoreInfo | None:
    row = conn.execute(
        "SELECT generation, objects, bytes FROM stores WHERE node_id = ? AND store_id = ?",
        (store.node_id, store.store_id),
    ).fetchone()
    return None if row is None else StoreInfo(generation=row[0], objects=row[1], bytes=row[2])


class SqliteExport:
    """A read transaction held open on its own connection: a snapshot, read a page at a time."""

    def __init__(self, conn: sqlite3.Connection, store: StoreRef, generation: int) -> None:
        self._conn = conn
        self._store = store
        self._generation = generation

    @property
    def generation(self) -> int:
        return self._generation

    async def objects(self) -> AsyncIterator[StoredObject]:
        after = ""
        while True:
            page = await asyncio.to_thread(self._page, after)
            if not page:
                return
            for obj in page:
                yield obj
            after = page[-1].key

    def _page(self, after: str) -> list[StoredObject]:
        ids = (self._store.node_id, self._store.store_id)
        sizes = self._conn.execute(
            "SELECT key, size FROM objects WHERE node_id = ? AND store_id = ? AND key > ? "
            "ORDER BY key LIMIT ?",
            (*ids, after, EXPORT_PAGE_ROWS),
        ).fetchall()
        if not sizes:
            return []
        rows = self._conn.execute(
            "SELECT key, version, value FROM objects "
            "WHERE node_id = ? AND store_id = ? AND key > ? AND key <= ? ORDER BY key",
            (*ids, after, export_page_end(sizes)),
        ).fetchall()
        return [StoredObject(key=k, version=v, value=val) for k, v, val in rows]

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
        self._conn.close()


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
        self,
        store: StoreRef,
        puts: Sequence[PutItem],
        deletes: Sequence[DeleteItem],
        *,
        quota: int,
        claim: Claim | None = None,
    ) -> BatchApplied:
        if claim is not None:
            self._count_hit(claim)

        def apply(conn: sqlite3.Connection) -> BatchApplied | BackendError:
            if claim is not None:
                _insert_nonce(conn, claim)
            # Refusals are returned, not raised, so the nonce above is still committed.
            try:
                return _apply(conn, store, puts, deletes, quota)
            except BackendError as refusal:
                return refusal

        outcome = await self.writer.run(apply)
        if isinstance(outcome, BackendError):
            raise outcome
        return outcome

    async def get_object(self, store: StoreRef, key: str) -> StoredObject | None:
        def read(conn: sqlite3.Connection) -> StoredObject | None:
            row = conn.execute(
                "SELECT version, value FROM objects WHERE node_id = ? AND store_id = ? AND key = ?",
                (store.node_id, store.store_id, key),
            ).fetchone()
            return None if row is None else StoredObject(key=key, version=row[0], value=row[1])

        return await self.readers.run(read)

    async def list_objects(self, store: StoreRef, after: str, limit: int) -> list[ObjectSummary]:
        def read(conn: sqlite3.Connection) -> list[ObjectSummary]:
            rows = conn.execute(
                "SELECT key, version, size FROM objects "
                "WHERE node_id = ? AND store_id = ? AND key > ? ORDER BY key LIMIT ?",
                (store.node_id, store.store_id, after, limit),
            ).fetchall()
            return [ObjectSummary(key=k, version=v, size=s) for k, v, s in rows]

        return await self.readers.run(read)

    async def open_export(self, store: StoreRef) -> SqliteExport | None:
        def begin() -> SqliteExport | None:
            conn = connect(self.path)
            conn.execute("BEGIN")
            info = _store_info(conn, store)  # the first read fixes the snapshot
            if info is None:
                conn.execute("ROLLBACK")
                conn.close()
                return None
            return SqliteExport(conn, store, info.generation)

        return await asyncio.to_thread(begin)

    async def store_info(self, store: StoreRef) -> StoreInfo | None:
        return await self.readers.run(lambda conn: _store_info(conn, store))

    async def delete_store(self, store: StoreRef) -> bool:
        def erase(conn: sqlite3.Connection) -> bool:
            args = (store.node_id, store.store_id)
            deleted = conn.execute(
                "DELETE FROM stores WHERE node_id = ? AND store_id = ?", args
            ).rowcount
            conn.execute("DELETE FROM objects WHERE node_id = ? AND store_id = ?", args)
            return deleted > 0

        return await self.writer.run(erase)

    async def stats(self) -> ServerStats:
        def read(conn: sqlite3.Connection) -> ServerStats:
            row = conn.execute(
                "SELECT count(*), coalesce(sum(objects), 0), coalesce(sum(bytes), 0) FROM stores"
            ).fetchone()
            return ServerStats(stores=row[0], objects=row[1], bytes=row[2])

        return await self.readers.run(read)

    async def purge_expired(self, now: int) -> None:
        self._rate.forget_before(now - 3600)
        await self.writer.run(
            lambda conn: conn.execute("DELETE FROM nonces WHERE expires_at < ?", (now,))
        )


def _apply(
    conn: sqlite3.Connection,
    store: StoreRef,
    puts: Sequence[PutItem],
    deletes: Sequence[DeleteItem],
    quota: int,
) -> BatchApplied:
    info = _store_info(conn, store) or StoreInfo(generation=0, objects=0, bytes=0)
    keys = [p.key for p in puts] + [d.key for d in deletes]
    stored: dict[str, Stored] = {}
    # Chunks stay under SQLite's bound-parameter limit.
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for key, version, size in conn.execute(
            f"SELECT key, version, size FROM objects WHERE node_id = ? AND store_id = ? AND key IN ({marks})",  # noqa: S608 - placeholders only
            (store.node_id, store.store_id, *chunk),
        ):
            stored[key] = Stored(version=version, size=size)
    plan = plan_batch(puts, deletes, stored, info, quota)
    ids = (store.node_id, store.store_id)
    if deletes:
        conn.executemany(
            "DELETE FROM objects WHERE node_id = ? AND store_id = ? AND key = ?",
            [(*ids, d.key) for d in deletes],
        )
    if puts:
        conn.executemany(
            "INSERT INTO objects (node_id, store_id, key, version, size, value) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (node_id, store_id, key) DO UPDATE SET "
            "version = excluded.version, size = excluded.size, value = excluded.value",
            [(*ids, p.key, p.version + 1, len(p.value), p.value) for p in puts],
        )
    conn.execute(
        "INSERT INTO stores (node_id, store_id, generation, objects, bytes) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (node_id, store_id) DO UPDATE SET "
        "generation = excluded.generation, objects = excluded.objects, bytes = excluded.bytes",
        (*ids, plan.generation, plan.objects, plan.bytes),
    )
    return BatchApplied(generation=plan.generation, versions=plan.versions)
