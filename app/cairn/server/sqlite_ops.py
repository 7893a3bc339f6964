"""The SQLite backend's writes, as functions of (connection, arguments).

Each runs inside the group-commit writer's transaction. They are module-level functions of
plain-data arguments so that the writer process of `serve --workers N` (writer_process.py) can
run them as well as the writer thread of a single process: what crosses between the processes
is a function's name and its arguments, never code.
"""

from __future__ import annotations

import functools
import hashlib
import sqlite3

from cairn.server.backend import (
    BackendError,
    BatchApplied,
    Claim,
    RateLimited,
    Replayed,
    StoreRef,
)
from cairn.server.batch import Stored, StoreRow, plan_batch
from cairn.server.ratelimit import FixedWindowCounter, retry_after
from cairn.wire.messages import Batch

_STORE_ROW = (
    "SELECT generation, incarnation, erased, objects, bytes, compacted FROM stores "
    "WHERE node_id = ? AND store_id = ?"
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


def count_hit(counter: FixedWindowCounter, claim: Claim | None) -> None:
    """One request against its node's window, before any write (a refusal uses no nonce).

    The counter lives with the writer, so every worker of one server counts into the same one.
    """
    if claim is None or claim.rate_limit <= 0:
        return
    if counter.hit(claim.node_id, claim.window_start) > claim.rate_limit:
        raise RateLimited(retry_after(claim.window_start, claim.window_seconds))


def store_row(conn: sqlite3.Connection, store: StoreRef) -> tuple[StoreRow, int] | None:
    """The store's row and its compaction point, or None when it never existed."""
    row = conn.execute(_STORE_ROW, (store.node_id, store.store_id)).fetchone()
    if row is None:
        return None
    generation, incarnation, erased, objects, size, compacted = row
    return StoreRow(generation, incarnation, bool(erased), objects, size), compacted


def nonce_digest(node_id: str, nonce: str) -> int:
    """The 64 bits a seen (node, nonce) is kept as (sqlite_schema.py says why).

    Two pairs share a digest with odds of about n²/2^65 among n nonces within their window
    (10^-7 for a million); nobody can aim at another node's nonce, which is random and unknown
    until its request arrives. The worst a shared digest does is one 401 `replayed` that the
    client answers by signing the request again.
    """
    digest = hashlib.blake2b(f"{node_id}\x00{nonce}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def insert_nonce(conn: sqlite3.Connection, claim: Claim) -> None:
    try:
        conn.execute(
            "INSERT INTO seen_nonces (digest, expires_at) VALUES (?, ?)",
            (nonce_digest(claim.node_id, claim.nonce), claim.nonce_expires),
        )
    except sqlite3.IntegrityError:
        raise Replayed("this request was seen before") from None


def apply_claimed_batch(  # noqa: PLR0917 - called with positional arguments by a writer
    conn: sqlite3.Connection,
    store: StoreRef,
    batch: Batch,
    quota: int,
    now: int,
    claim: Claim | None,
) -> BatchApplied | BackendError:
    """The nonce, then the batch; a refusal is returned, not raised, so the nonce commits."""
    if claim is not None:
        insert_nonce(conn, claim)
    try:
        return apply_batch(conn, store, batch, quota, now)
    except BackendError as refusal:
        return refusal


@functools.lru_cache(maxsize=64)
def _stored_rows_query(count: int) -> str:
    """The rows of `count` keys of one store (one statement text per count, so it is reused)."""
    marks = ",".join("?" * count)
    return (
        "SELECT key, version, size, deleted, write_id FROM objects "  # noqa: S608 - placeholders only
        f"WHERE node_id = ? AND store_id = ? AND key IN ({marks})"
    )


def apply_batch(
    conn: sqlite3.Connection, store: StoreRef, batch: Batch, quota: int, now: int
) -> BatchApplied:
    found = store_row(conn, store)
    row = found[0] if found is not None else StoreRow()
    keys = batch.keys
    ids = (store.node_id, store.store_id)
    stored: dict[str, Stored] = {}
    for start in range(0, len(keys), KEYS_PER_QUERY):
        chunk = keys[start : start + KEYS_PER_QUERY]
        query = _stored_rows_query(len(chunk))
        for key, version, size, deleted, write_id in conn.execute(query, (*ids, *chunk)):
            stored[key] = Stored(version, size, bool(deleted), write_id)
    plan = plan_batch(batch, stored, row, quota, erased_life=_erased_life(conn, store, row, batch))
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


def _erased_life(conn: sqlite3.Connection, store: StoreRef, row: StoreRow, batch: Batch) -> bool:
    """Whether a store without an incarnation had the batch's in a life that was erased."""
    if row.incarnation is not None or not row.erased:
        return False
    return (
        conn.execute(
            "SELECT 1 FROM erased_lives WHERE node_id = ? AND store_id = ? AND incarnation = ?",
            (store.node_id, store.store_id, batch.incarnation),
        ).fetchone()
        is not None
    )


def erase_store(conn: sqlite3.Connection, store: StoreRef) -> bool:
    args = (store.node_id, store.store_id)
    # The life's incarnation is remembered: no later batch may bring that life back.
    conn.execute(
        "INSERT OR IGNORE INTO erased_lives (node_id, store_id, incarnation) "
        "SELECT node_id, store_id, incarnation FROM stores WHERE node_id = ? AND store_id = ? "
        "AND erased = 0 AND incarnation IS NOT NULL",
        args,
    )
    # The generation stays, so no version ever repeats; feeds from before must re-list.
    erased = conn.execute(
        "UPDATE stores SET incarnation = NULL, erased = 1, objects = 0, bytes = 0, "
        "compacted = generation WHERE node_id = ? AND store_id = ? AND erased = 0",
        args,
    ).rowcount
    conn.execute("DELETE FROM objects WHERE node_id = ? AND store_id = ?", args)
    return erased > 0


def purge_nonces(conn: sqlite3.Connection, now: int) -> None:
    conn.execute("DELETE FROM seen_nonces WHERE expires_at < ?", (now,))


def compact(conn: sqlite3.Connection, older_than: int) -> int:
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
