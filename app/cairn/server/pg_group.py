"""Group commit for PostgreSQL: concurrent batches travel together, one call and one commit.

Each batch still gets exactly the rules of `cairn_apply_batch` (it is called once per batch,
inside `cairn_apply_batches`); grouping only shares the round trip, the transaction and the WAL
flush among the batches waiting at that moment, which is most of PostgreSQL's cost per request.
Batches are applied in (node, store) order, so groups from several instances take store locks in
the same order and cannot deadlock on them. A large batch travels alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from cairn.backup.protocol import DeleteItem, PutItem
from cairn.server.backend import Claim, StoreRef

MAX_GROUP = 64
GROUPED_BYTES = 4 * 1024 * 1024  # a group carries at most this many value bytes...
ALONE_BYTES = 256 * 1024  # ...and a batch larger than this is sent on its own

SINGLE_SQL = "SELECT * FROM cairn_apply_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
GROUP_SQL = (
    "SELECT * FROM cairn_apply_batches("
    "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
)


@dataclass
class PendingBatch:
    store: StoreRef
    puts: Sequence[PutItem]
    deletes: Sequence[DeleteItem]
    quota: int
    claim: Claim | None
    future: asyncio.Future[Any] = field(repr=False)

    @property
    def value_bytes(self) -> int:
        return sum(len(p.value) for p in self.puts)

    def single_args(self) -> tuple[Any, ...]:
        c = self.claim
        return (
            self.store.node_id,
            self.store.store_id,
            [p.key for p in self.puts],
            [p.version for p in self.puts],
            [p.value for p in self.puts],
            [d.key for d in self.deletes],
            [d.version for d in self.deletes],
            self.quota,
            c.nonce if c else None,
            c.nonce_expires if c else 0,
            c.window_start if c else 0,
            c.rate_limit if c else 0,
        )


def group_args(group: Sequence[PendingBatch]) -> tuple[list[Any], ...]:
    """The 16 array arguments of cairn_apply_batches; items are sliced out by start and count."""
    columns: tuple[list[Any], ...] = tuple([] for _ in range(16))
    (nodes, stores, quotas, nonces, expires, windows, limits) = columns[:7]
    (put_start, put_count, put_keys, put_versions, put_values) = columns[7:12]
    (del_start, del_count, del_keys, del_versions) = columns[12:]
    for pending in group:
        c = pending.claim
        nodes.append(pending.store.node_id)
        stores.append(pending.store.store_id)
        quotas.append(pending.quota)
        nonces.append(c.nonce if c else None)
        expires.append(c.nonce_expires if c else 0)
        windows.append(c.window_start if c else 0)
        limits.append(c.rate_limit if c else 0)
        put_start.append(len(put_keys) + 1)  # PostgreSQL arrays count from 1
        put_count.append(len(pending.puts))
        put_keys.extend(p.key for p in pending.puts)
        put_versions.extend(p.version for p in pending.puts)
        put_values.extend(p.value for p in pending.puts)
        del_start.append(len(del_keys) + 1)
        del_count.append(len(pending.deletes))
        del_keys.extend(d.key for d in pending.deletes)
        del_versions.extend(d.version for d in pending.deletes)
    return columns


def _deliver(
    future: asyncio.Future[Any], result: Any = None, error: BaseException | None = None
) -> None:
    if future.done():  # the request went away meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class BatchGrouper:
    """A few sender tasks; each takes every batch waiting and sends them as one group."""

    def __init__(self, pool: asyncpg.Pool, senders: int) -> None:
        self._pool = pool
        self._queue: asyncio.Queue[PendingBatch] = asyncio.Queue()
        self._tasks = [asyncio.create_task(self._send_forever()) for _ in range(senders)]

    async def apply(
        self,
        store: StoreRef,
        puts: Sequence[PutItem],
        deletes: Sequence[DeleteItem],
        quota: int,
        claim: Claim | None,
    ) -> Any:
        """The row cairn_apply_batch gives for this batch, once its group has committed."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        pending = PendingBatch(store, puts, deletes, quota, claim, future)
        if pending.value_bytes > ALONE_BYTES:
            return await self._pool.fetchrow(SINGLE_SQL, *pending.single_args())
        self._queue.put_nowait(pending)
        return await future

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        while not self._queue.empty():
            _deliver(self._queue.get_nowait().future, error=RuntimeError("the server is stopping"))

    def _take_group(self, first: PendingBatch) -> list[PendingBatch]:
        group, size = [first], first.value_bytes
        while len(group) < MAX_GROUP and not self._queue.empty():
            pending = self._queue.get_nowait()
            group.append(pending)
            size += pending.value_bytes
            if size >= GROUPED_BYTES:
                break
        # Stable: batches of one store keep the order in which they arrived.
        group.sort(key=lambda p: (p.store.node_id, p.store.store_id))
        return group

    async def _send_forever(self) -> None:
        while True:
            group = self._take_group(await self._queue.get())
            try:
                await self._send(group)
            except asyncio.CancelledError:
                for pending in group:
                    _deliver(pending.future, error=RuntimeError("the server is stopping"))
                raise

    async def _send(self, group: list[PendingBatch]) -> None:
        if len(group) == 1:
            await self._send_alone(group[0])
            return
        try:
            rows = await self._pool.fetch(GROUP_SQL, *group_args(group))
        except asyncpg.exceptions.DeadlockDetectedError:
            # Locks are taken in (node, store) order, so this takes a client reusing one nonce
            # for two stores; the group was rolled back, so apply its batches one by one.
            for pending in group:
                await self._send_alone(pending)
            return
        except Exception as exc:
            for pending in group:
                _deliver(pending.future, error=exc)
            return
        for row in rows:
            _deliver(group[row["idx"] - 1].future, row)

    async def _send_alone(self, pending: PendingBatch) -> None:
        try:
            row = await self._pool.fetchrow(SINGLE_SQL, *pending.single_args())
        except Exception as exc:
            _deliver(pending.future, error=exc)
        else:
            _deliver(pending.future, row)
