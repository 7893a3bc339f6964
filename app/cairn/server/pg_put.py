"""The PostgreSQL backend's batch PUT: its statement, its arguments, its answer, and the lanes
that send it, one batch at a time or several together (pg_lanes.py, `cairn_put_batches` in
schema_postgres.py)."""

from __future__ import annotations

import time
from typing import Any

import asyncpg

from cairn.server.backend import (
    BatchApplied,
    Claim,
    Conflict,
    QuotaExceeded,
    RateLimited,
    Replayed,
    StoreRef,
)
from cairn.server.batch import CONFLICT_DETAILS
from cairn.server.pg_lanes import Lanes
from cairn.server.ratelimit import retry_after
from cairn.wire.messages import Batch, StoreState
from cairn.wire.messages import Conflict as ConflictInfo

# PUTs in one grouped statement at most, lanes per instance at most: with 64 writers on two
# workers, 8 lanes of up to 16 answered 2,200-2,300 PUT/s where 18 lanes of one answered
# 1,500-1,700; 2 or 4 lanes of 16-64, and 12 or 16 lanes, did less well.
PUT_GROUP = 16
PUT_LANES = 8
# A batch carrying more than this in values goes alone: a full backup's megabytes would hold
# up the small PUTs of its group, and the group's statement would copy them once more.
GROUP_VALUE_BYTES = 64 * 1024

PUT_BATCH = (
    "SELECT * FROM cairn_put_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text[], "
    "$11::bigint[], $12::bytea[], $13::boolean[], $14, $15)"
)
_PUT_BATCHES = (
    "SELECT * FROM cairn_put_batches($1::text[], $2::text[], $3::text[], $4::bigint[], "
    "$5::bigint[], $6::integer[], $7::text[], $8::bigint[], $9::text[], $10::integer[], "
    "$11::text[], $12::bigint[], $13::bytea[], $14::boolean[], $15::bigint[], $16)"
)
# Where `put_arguments` puts what: nine scalars, then the item arrays, the quota and the time.
_SCALARS, _KEYS, _VERSIONS, _VALUES, _DELETED, _QUOTA, _NOW = 9, 9, 10, 11, 12, 13, 14


def put_arguments(
    store: StoreRef, batch: Batch, quota: int, claim: Claim | None
) -> tuple[Any, ...]:
    """`PUT_BATCH`'s arguments for one batch."""
    items = [(p.key, p.value, False) for p in batch.puts] + [
        (d.key, d.value, True) for d in batch.deletes
    ]
    return (
        store.node_id,
        store.store_id,
        None if claim is None else claim.nonce,
        0 if claim is None else claim.nonce_expires,
        0 if claim is None else claim.window_start,
        0 if claim is None else claim.rate_limit,
        batch.incarnation,
        batch.generation,
        batch.write_id,
        batch.keys,
        [p.version for p in batch.puts] + [d.version for d in batch.deletes],
        [i[1] for i in items],
        [i[2] for i in items],
        quota,
        int(time.time()),
    )


def put_batches(jobs: list[tuple[Any, ...]]) -> tuple[str, tuple[Any, ...]]:
    """Several batches' `put_arguments` as one `cairn_put_batches` call: the scalars one array
    each, every batch's items one after another, and how many are each batch's."""
    columns: list[list[Any]] = [[] for _ in range(_SCALARS)]
    counts: list[int] = []
    keys: list[str] = []
    versions: list[int] = []
    values: list[bytes] = []
    deleted: list[bool] = []
    quotas: list[int] = []
    for args in jobs:
        for column, value in zip(columns, args[:_SCALARS], strict=True):
            column.append(value)
        counts.append(len(args[_KEYS]))
        keys += args[_KEYS]
        versions += args[_VERSIONS]
        values += args[_VALUES]
        deleted += args[_DELETED]
        quotas.append(args[_QUOTA])
    return _PUT_BATCHES, (
        *columns,
        counts,
        keys,
        versions,
        values,
        deleted,
        quotas,
        jobs[0][_NOW],
    )


def put_lanes(pool: asyncpg.Pool, pool_size: int) -> Lanes:
    """Lanes for batch PUTs: fewer than the pool's connections, so that PUTs that come together
    commit together, and a few connections stay free for everything else."""
    return Lanes(
        pool,
        max(1, min(PUT_LANES, pool_size - max(1, pool_size // 8))),
        group=PUT_GROUP,
        combine=put_batches,
        # One batch per node, by node: what a PUT locks is its node's (pg_lanes.py).
        key=lambda args: args[0],
    )


def put_outcome(row: Any, batch: Batch, quota: int, claim: Claim | None) -> BatchApplied:
    """What `cairn_put_batch` answered for `batch`; raises its refusal."""
    outcome, generation, incarnation, erased, current, present, write_ids, used = row
    keys = batch.keys
    if outcome == "applied":
        return BatchApplied(generation=generation, versions=dict.fromkeys(keys, generation))
    if claim is not None:
        refusal = claim_refusal(outcome, claim)
        if refusal is not None:
            raise refusal
    if outcome == "quota":
        raise QuotaExceeded(used, quota)
    info = ConflictInfo(
        StoreState(generation, incarnation, bool(erased)),
        dict(zip(keys, current, strict=True)),
        {k: w for k, w, here in zip(keys, write_ids, present, strict=True) if here},
    )
    raise Conflict(info, CONFLICT_DETAILS[outcome])


def claim_refusal(outcome: str, claim: Claim) -> Replayed | RateLimited | None:
    """The refusal a claim's outcome stands for (`cairn_claim`), if it is one."""
    if outcome == "replayed":
        return Replayed("this request was seen before")
    if outcome == "rate_limited":
        return RateLimited(retry_after(claim.window_start, claim.window_seconds))
    return None
