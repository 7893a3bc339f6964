"""The scale-out backend: PostgreSQL through asyncpg, shared by any number of server instances.

Everything an instance must agree on lives in the database: objects, generations, nonces and
rate-limit windows. Each request is one round trip (see schema_postgres.py); asyncpg prepares
each statement once per connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from cairn.server.backend import (
    EXPORT_PAGE_ROWS,
    BatchApplied,
    Claim,
    ObjectSummary,
    ResyncRequired,
    ServerStats,
    StoreRef,
    export_page_end,
    feed_cut,
)
from cairn.server.batch import StoreRow
from cairn.server.paged_export import PagedExport
from cairn.server.pg_lanes import Lanes
from cairn.server.pg_put import (
    GROUP_VALUE_BYTES,
    PUT_BATCH,
    claim_refusal,
    put_arguments,
    put_lanes,
    put_outcome,
)
from cairn.server.schema_postgres import MIGRATION_LOCK, SCHEMA, SCHEMA_VERSION
from cairn.wire.messages import Batch, FeedItem, FeedPage, StoredObject, StoreInfo

RATE_WINDOW_RETENTION = 86400


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
        elif current < SCHEMA_VERSION:
            await conn.execute("UPDATE cairn_schema SET version = $1", SCHEMA_VERSION)


class StatelessConnection(asyncpg.Connection):  # type: ignore[misc]  # untyped library
    """A pooled connection released without the reset query (one round trip per request saved).

    The server keeps no session state: no SET, LISTEN, cursors or advisory locks outlive a
    request (migrations run on their own connection), and asyncpg still rolls back any open
    transaction on release.
    """

    def get_reset_query(self) -> str:
        return ""


class PostgresExport(PagedExport):
    """A REPEATABLE READ transaction on a pooled connection, read through a cursor."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        conn: asyncpg.Connection,
        tx: Any,
        store: StoreRef,
        row: StoreRow,
    ) -> None:
        self._pool = pool
        self._conn = conn
        self._tx = tx
        self._store = store
        self._row = row
        self._closed = False

    async def pages(self) -> AsyncIterator[list[StoredObject]]:
        ids = (self._store.node_id, self._store.store_id)
        after = ""
        while True:
            sizes = await self._conn.fetch(
                "SELECT key, size FROM objects WHERE node_id = $1 AND store_id = $2 AND key > $3 "
                "AND NOT deleted ORDER BY key LIMIT $4",
                *ids,
                after,
                EXPORT_PAGE_ROWS,
            )
            if not sizes:
                return
            rows = await self._conn.fetch(
                "SELECT key, version, write_id, value FROM objects "
                "WHERE node_id = $1 AND store_id = $2 AND key > $3 AND key <= $4 "
                "AND NOT deleted ORDER BY key",
                *ids,
                after,
                export_page_end([(r[0], r[1]) for r in sizes]),
            )
            yield [StoredObject(row[0], row[1], row[2], row[3]) for row in rows]
            after = rows[-1][0]

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._tx.rollback()
        finally:
            await self._pool.release(self._conn)


_STORE_COLUMNS = "generation, incarnation, erased, objects, bytes, compacted"
_FEED_COLUMNS = "key, version, deleted, write_id, value"


def _store_row(record: asyncpg.Record | None) -> tuple[StoreRow, int] | None:
    if record is None:
        return None
    generation, incarnation, erased, objects, size, compacted = record
    return StoreRow(generation, incarnation, bool(erased), objects, size), compacted


class PostgresBackend:
    def __init__(self, dsn: str, *, pool_size: int = 20) -> None:
        self.dsn = dsn
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._lanes: Lanes | None = None

    async def open(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        self._pool = await asyncpg.create_pool(
            self.dsn,
            # Every connection is opened at start: none is set up (a few ms of CPU each) while
            # requests wait for it.
            min_size=self.pool_size,
            # Nor closed for being idle: the inactivity timer would be set and cancelled on every
            # acquire and release.
            max_inactive_connection_lifetime=0,
            max_size=self.pool_size,
            connection_class=StatelessConnection,
            # Answered means durable, whatever the cluster's default for synchronous_commit.
            server_settings={"synchronous_commit": "on", "application_name": "cairn-backupd"},
        )
        # Batch PUTs, nearly every request of a busy server, go through lanes (pg_put.py).
        self._lanes = put_lanes(self._pool, self.pool_size)

    async def close(self) -> None:
        lanes, self._lanes = self._lanes, None
        if lanes is not None:
            await lanes.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @property
    def is_open(self) -> bool:
        return self._pool is not None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the PostgreSQL backend is not open")
        return self._pool

    async def ping(self) -> None:
        await self.pool.fetchval("SELECT 1")

    async def claim(self, claim: Claim) -> None:
        await self._claim(self.pool, claim)

    @staticmethod
    async def _claim(conn: asyncpg.Connection | asyncpg.Pool, claim: Claim) -> None:
        outcome = await conn.fetchval(
            "SELECT cairn_claim($1, $2, $3, $4, $5)",
            claim.node_id,
            claim.nonce,
            claim.nonce_expires,
            claim.window_start,
            claim.rate_limit,
        )
        refusal = claim_refusal(outcome, claim)
        if refusal is not None:
            raise refusal

    async def apply_batch(
        self, store: StoreRef, batch: Batch, *, quota: int, claim: Claim | None = None
    ) -> BatchApplied:
        """One statement (`cairn_put_batch`): one round trip and one commit per batch, or per
        group of batches that came together (`cairn_put_batches`, pg_put.py)."""
        if self._lanes is None:
            raise RuntimeError("the PostgreSQL backend is not open")
        row = await self._lanes.fetchrow(
            PUT_BATCH,
            *put_arguments(store, batch, quota, claim),
            alone=batch.value_bytes > GROUP_VALUE_BYTES,
        )
        assert row is not None
        return put_outcome(row, batch, quota, claim)

    async def get_object(self, store: StoreRef, key: str) -> StoredObject | None:
        row = await self.pool.fetchrow(
            "SELECT version, write_id, value FROM objects "
            "WHERE node_id = $1 AND store_id = $2 AND key = $3 AND NOT deleted",
            store.node_id,
            store.store_id,
            key,
        )
        return None if row is None else StoredObject(key, row[0], row[1], row[2])

    async def list_objects(self, store: StoreRef, after: str, limit: int) -> list[ObjectSummary]:
        rows = await self.pool.fetch(
            "SELECT key, version, size FROM objects "
            "WHERE node_id = $1 AND store_id = $2 AND key > $3 AND NOT deleted "
            "ORDER BY key LIMIT $4",
            store.node_id,
            store.store_id,
            after,
            limit,
        )
        return [ObjectSummary(key=r[0], version=r[1], size=r[2]) for r in rows]

    async def changes(self, store: StoreRef, since: int, limit: int) -> FeedPage | None:
        ids = (store.node_id, store.store_id)
        async with (
            self.pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            found = _store_row(
                await conn.fetchrow(
                    f"SELECT {_STORE_COLUMNS} FROM stores WHERE node_id = $1 AND store_id = $2",  # noqa: S608 - constant
                    *ids,
                )
            )
            if found is None:
                return None
            row, compacted = found
            if since < compacted:
                raise ResyncRequired(row.state, compacted)
            rows = await conn.fetch(
                f"SELECT {_FEED_COLUMNS} FROM objects WHERE node_id = $1 AND store_id = $2 "  # noqa: S608 - constant
                "AND version > $3 ORDER BY version, key LIMIT $4",
                *ids,
                since,
                limit + 1,
            )
            keep = feed_cut([r[1] for r in rows], limit)
            more = len(rows) > limit
            if keep == 0 and rows:
                rows = await conn.fetch(
                    f"SELECT {_FEED_COLUMNS} FROM objects WHERE node_id = $1 AND store_id = $2 "  # noqa: S608 - constant
                    "AND version = $3 ORDER BY key",
                    *ids,
                    rows[0][1],
                )
            else:
                rows = rows[:keep]
        items = tuple(FeedItem(r[0], r[1], bool(r[2]), r[3], r[4]) for r in rows)
        return FeedPage(row.state, compacted, items, items[-1].version if more else None)

    async def open_export(self, store: StoreRef) -> PostgresExport | None:
        conn = await self.pool.acquire()
        try:
            tx = conn.transaction(isolation="repeatable_read", readonly=True)
            await tx.start()
            found = _store_row(
                await conn.fetchrow(
                    f"SELECT {_STORE_COLUMNS} FROM stores WHERE node_id = $1 AND store_id = $2",  # noqa: S608 - constant
                    store.node_id,
                    store.store_id,
                )
            )
            if found is None:
                await tx.rollback()
                await self.pool.release(conn)
                return None
        except BaseException:
            await self.pool.release(conn)
            raise
        return PostgresExport(self.pool, conn, tx, store, found[0])

    async def store_info(self, store: StoreRef) -> StoreInfo | None:
        found = _store_row(
            await self.pool.fetchrow(
                f"SELECT {_STORE_COLUMNS} FROM stores WHERE node_id = $1 AND store_id = $2",  # noqa: S608 - constant
                store.node_id,
                store.store_id,
            )
        )
        if found is None:
            return None
        row, compacted = found
        return StoreInfo(row.state, compacted, row.objects, row.bytes)

    async def delete_store(self, store: StoreRef) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            # The life's incarnation is remembered: no later batch may bring that life back.
            # Its row locked first, so no batch interleaves. The generation stays, so no
            # version ever repeats; feeds from before must re-list.
            await conn.execute(
                "WITH life AS (SELECT incarnation FROM stores WHERE node_id = $1 "
                "AND store_id = $2 AND NOT erased FOR UPDATE) "
                "INSERT INTO erased_lives (node_id, store_id, incarnation) "
                "SELECT $1, $2, incarnation FROM life WHERE incarnation IS NOT NULL "
                "ON CONFLICT DO NOTHING",
                store.node_id,
                store.store_id,
            )
            erased = await conn.fetchval(
                "WITH u AS (UPDATE stores SET incarnation = NULL, erased = true, objects = 0, "
                "bytes = 0, compacted = generation WHERE node_id = $1 AND store_id = $2 "
                "AND NOT erased RETURNING 1) SELECT count(*) FROM u",
                store.node_id,
                store.store_id,
            )
            await conn.execute(
                "DELETE FROM objects WHERE node_id = $1 AND store_id = $2",
                store.node_id,
                store.store_id,
            )
        return bool(erased)

    async def compact(self, older_than: int) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            dropped = await conn.fetch(
                "SELECT node_id, store_id, max(version), count(*), sum(size) FROM objects "
                "WHERE deleted AND written_at < $1 GROUP BY node_id, store_id "
                # Store rows locked in the order the lanes' groups lock them (pg_lanes.py).
                "ORDER BY node_id, store_id",
                older_than,
            )
            for node_id, store_id, newest, _count, size in dropped:
                await conn.execute(
                    "UPDATE stores SET compacted = greatest(compacted, $3), bytes = bytes - $4 "
                    "WHERE node_id = $1 AND store_id = $2",
                    node_id,
                    store_id,
                    newest,
                    size,
                )
                await conn.execute(
                    "DELETE FROM objects WHERE node_id = $1 AND store_id = $2 AND deleted "
                    "AND version <= $3",
                    node_id,
                    store_id,
                    newest,
                )
        return sum(int(r[3]) for r in dropped)

    async def stats(self) -> ServerStats:
        row = await self.pool.fetchrow(
            "SELECT count(*), coalesce(sum(objects), 0)::bigint, coalesce(sum(bytes), 0)::bigint "
            "FROM stores WHERE NOT erased"
        )
        assert row is not None
        return ServerStats(stores=row[0], objects=row[1], bytes=row[2])

    async def purge_expired(self, now: int) -> None:
        await self.pool.execute("DELETE FROM nonces WHERE expires_at < $1", now)
        await self.pool.execute(
            "DELETE FROM rate_windows WHERE window_start < $1", now - RATE_WINDOW_RETENTION
        )
