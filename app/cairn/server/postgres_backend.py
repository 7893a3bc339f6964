"""The scale-out backend: PostgreSQL through asyncpg, shared by any number of server instances.

Everything an instance must agree on lives in the database: objects, generations, nonces and
rate-limit windows. Each request is one round trip (see schema_postgres.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg

from cairn.backup.protocol import DeleteItem, PutItem
from cairn.server.backend import (
    EXPORT_PAGE_ROWS,
    BatchApplied,
    Claim,
    Conflict,
    ObjectSummary,
    QuotaExceeded,
    RateLimited,
    Replayed,
    ServerStats,
    StoredObject,
    StoreInfo,
    StoreRef,
    export_page_end,
)
from cairn.server.pg_group import BatchGrouper
from cairn.server.ratelimit import retry_after
from cairn.server.schema_postgres import MIGRATION_LOCK, SCHEMA, SCHEMA_VERSION

RATE_WINDOW_RETENTION = 86400


def _claim_refusal(outcome: str, claim: Claim) -> Replayed | RateLimited | None:
    if outcome == "replayed":
        return Replayed("this request was seen before")
    if outcome == "rate_limited":
        return RateLimited(retry_after(claim.window_start, claim.window_seconds))
    return None


async def migrate(conn: asyncpg.Connection) -> None:
    """Create or upgrade the schema; instances starting together take turns on a lock."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        exists = await conn.fetchval("SELECT to_regclass('cairn_schema') IS NOT NULL")
        current = await conn.fetchval("SELECT max(version) FROM cairn_schema") if exists else None
        if current is not None and current > SCHEMA_VERSION:
            raise RuntimeError(
                f"the database schema is version {current}, newer than this server ({SCHEMA_VERSION})"
            )
        await conn.execute(SCHEMA)
        if current is None:
            await conn.execute("INSERT INTO cairn_schema (version) VALUES ($1)", SCHEMA_VERSION)


class StatelessConnection(asyncpg.Connection):  # type: ignore[misc]  # untyped library
    """A pooled connection released without the reset query (one round trip per request saved).

    The server keeps no session state: no SET, LISTEN, cursors or advisory locks outlive a
    request (migrations run on their own connection), and asyncpg still rolls back any open
    transaction on release.
    """

    def get_reset_query(self) -> str:
        return ""


class PostgresExport:
    """A REPEATABLE READ transaction on a pooled connection, read through a cursor."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        conn: asyncpg.Connection,
        tx: Any,
        store: StoreRef,
        generation: int,
    ) -> None:
        self._pool = pool
        self._conn = conn
        self._tx = tx
        self._store = store
        self._generation = generation
        self._closed = False

    @property
    def generation(self) -> int:
        return self._generation

    async def objects(self) -> AsyncIterator[StoredObject]:
        ids = (self._store.node_id, self._store.store_id)
        after = ""
        while True:
            sizes = await self._conn.fetch(
                "SELECT key, size FROM objects WHERE node_id = $1 AND store_id = $2 AND key > $3 "
                "ORDER BY key LIMIT $4",
                *ids,
                after,
                EXPORT_PAGE_ROWS,
            )
            if not sizes:
                return
            rows = await self._conn.fetch(
                "SELECT key, version, value FROM objects "
                "WHERE node_id = $1 AND store_id = $2 AND key > $3 AND key <= $4 ORDER BY key",
                *ids,
                after,
                export_page_end([(r[0], r[1]) for r in sizes]),
            )
            for row in rows:
                yield StoredObject(key=row[0], version=row[1], value=row[2])
            after = rows[-1][0]

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._tx.rollback()
        finally:
            await self._pool.release(self._conn)


class PostgresBackend:
    def __init__(self, dsn: str, *, pool_size: int = 20) -> None:
        self.dsn = dsn
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._grouper: BatchGrouper | None = None

    async def open(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        self._pool = await asyncpg.create_pool(
            self.dsn,
            min_size=min(2, self.pool_size),
            max_size=self.pool_size,
            connection_class=StatelessConnection,
            # Answered means durable, whatever the cluster's default for synchronous_commit.
            server_settings={"synchronous_commit": "on", "application_name": "cairn-backupd"},
        )
        # A few senders: while one group commits, the next one gathers.
        self._grouper = BatchGrouper(self._pool, senders=max(1, min(8, self.pool_size // 2)))

    async def close(self) -> None:
        grouper, self._grouper = self._grouper, None
        if grouper is not None:
            await grouper.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @property
    def grouper(self) -> BatchGrouper:
        if self._grouper is None:
            raise RuntimeError("the PostgreSQL backend is not open")
        return self._grouper

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the PostgreSQL backend is not open")
        return self._pool

    async def ping(self) -> None:
        await self.pool.fetchval("SELECT 1")

    async def claim(self, claim: Claim) -> None:
        outcome = await self.pool.fetchval(
            "SELECT cairn_claim($1, $2, $3, $4, $5)",
            claim.node_id,
            claim.nonce,
            claim.nonce_expires,
            claim.window_start,
            claim.rate_limit,
        )
        refusal = _claim_refusal(outcome, claim)
        if refusal is not None:
            raise refusal

    async def apply_batch(
        self,
        store: StoreRef,
        puts: Sequence[PutItem],
        deletes: Sequence[DeleteItem],
        *,
        quota: int,
        claim: Claim | None = None,
    ) -> BatchApplied:
        row = await self.grouper.apply(store, puts, deletes, quota, claim)
        assert row is not None
        outcome: str = row["outcome"]
        if claim is not None:
            refusal = _claim_refusal(outcome, claim)
            if refusal is not None:
                raise refusal
        if outcome == "conflict":
            raise Conflict(dict(zip(row["cur_keys"], row["cur_versions"], strict=True)))
        if outcome == "quota_exceeded":
            raise QuotaExceeded(row["used"], quota)
        if outcome != "ok":
            raise RuntimeError(f"unexpected batch outcome {outcome!r}")
        versions = {p.key: p.version + 1 for p in puts}
        versions.update({d.key: 0 for d in deletes})
        return BatchApplied(generation=row["generation"], versions=versions)

    async def get_object(self, store: StoreRef, key: str) -> StoredObject | None:
        row = await self.pool.fetchrow(
            "SELECT version, value FROM objects WHERE node_id = $1 AND store_id = $2 AND key = $3",
            store.node_id,
            store.store_id,
            key,
        )
        return None if row is None else StoredObject(key=key, version=row[0], value=row[1])

    async def list_objects(self, store: StoreRef, after: str, limit: int) -> list[ObjectSummary]:
        rows = await self.pool.fetch(
            "SELECT key, version, size FROM objects "
            "WHERE node_id = $1 AND store_id = $2 AND key > $3 ORDER BY key LIMIT $4",
            store.node_id,
            store.store_id,
            after,
            limit,
        )
        return [ObjectSummary(key=r[0], version=r[1], size=r[2]) for r in rows]

    async def open_export(self, store: StoreRef) -> PostgresExport | None:
        conn = await self.pool.acquire()
        try:
            tx = conn.transaction(isolation="repeatable_read", readonly=True)
            await tx.start()
            generation = await conn.fetchval(
                "SELECT generation FROM stores WHERE node_id = $1 AND store_id = $2",
                store.node_id,
                store.store_id,
            )
            if generation is None:
                await tx.rollback()
                await self.pool.release(conn)
                return None
        except BaseException:
            await self.pool.release(conn)
            raise
        return PostgresExport(self.pool, conn, tx, store, generation)

    async def store_info(self, store: StoreRef) -> StoreInfo | None:
        row = await self.pool.fetchrow(
            "SELECT generation, objects, bytes FROM stores WHERE node_id = $1 AND store_id = $2",
            store.node_id,
            store.store_id,
        )
        return None if row is None else StoreInfo(generation=row[0], objects=row[1], bytes=row[2])

    async def delete_store(self, store: StoreRef) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            # Deleting the store row first takes its lock, so no batch interleaves.
            deleted = await conn.fetchval(
                "WITH d AS (DELETE FROM stores WHERE node_id = $1 AND store_id = $2 RETURNING 1) "
                "SELECT count(*) FROM d",
                store.node_id,
                store.store_id,
            )
            await conn.execute(
                "DELETE FROM objects WHERE node_id = $1 AND store_id = $2",
                store.node_id,
                store.store_id,
            )
        return bool(deleted)

    async def stats(self) -> ServerStats:
        row = await self.pool.fetchrow(
            "SELECT count(*), coalesce(sum(objects), 0)::bigint, coalesce(sum(bytes), 0)::bigint "
            "FROM stores"
        )
        assert row is not None
        return ServerStats(stores=row[0], objects=row[1], bytes=row[2])

    async def purge_expired(self, now: int) -> None:
        await self.pool.execute("DELETE FROM nonces WHERE expires_at < $1", now)
        await self.pool.execute(
            "DELETE FROM rate_windows WHERE window_start < $1", now - RATE_WINDOW_RETENTION
        )
