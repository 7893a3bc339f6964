"""AsyncRecordStore: a record store the asyncio (qasync) loop can await without blocking."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from cairn.storage.protocol import (
    OutboxEntry,
    OutboxStats,
    Pending,
    RecordStore,
    Snapshot,
    StoreClosedError,
)

T = TypeVar("T")


class AsyncRecordStore:
    """Runs every call of the wrapped store on one worker thread owned by this object.

    One thread per store keeps calls in the order they were made, as aiosqlite does; the loop
    only awaits the result.
    """

    def __init__(self, store: RecordStore) -> None:
        self._store = store
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cairn-store")
        self._closed = False

    @property
    def store(self) -> RecordStore:
        """The wrapped store, for synchronous callers that are already off the loop."""
        return self._store

    async def get(self, name: str) -> bytes | None:
        return await self._run(self._store.get, name)

    async def put(self, name: str, value: bytes) -> None:
        await self._run(self._store.put, name, value)

    async def delete(self, name: str) -> None:
        await self._run(self._store.delete, name)

    async def scan(self, prefix: str = "") -> list[tuple[str, bytes]]:
        return await self._run(self._store.scan, prefix)

    async def batch(
        self, puts: Mapping[str, bytes] | None = None, deletes: Iterable[str] = ()
    ) -> None:
        # Materialise the arguments now: the caller may mutate them while the worker runs.
        await self._run(self._store.batch, dict(puts or {}), list(deletes))

    async def load_restored(self, records: Iterable[tuple[str, bytes]]) -> None:
        """Write records that came from the backup, queueing nothing (for a restore only)."""
        await self._run(self._store.load_restored, list(records))

    async def get_many(self, names: Iterable[str]) -> dict[str, bytes]:
        return await self._run(self._store.get_many, list(names))

    async def pending_for(self, names: Iterable[str]) -> dict[str, Pending]:
        return await self._run(self._store.pending_for, list(names))

    async def apply_synced(
        self,
        puts: Mapping[str, bytes],
        deletes: Iterable[str],
        *,
        expect: Mapping[str, int | None],
        ack: Iterable[int] = (),
        queue: Mapping[str, bytes] | None = None,
    ) -> None:
        """Apply another device's changes if the outbox is as the caller saw it (PendingChanged)."""
        await self._run(
            functools.partial(
                self._store.apply_synced,
                dict(puts),
                list(deletes),
                expect=dict(expect),
                ack=list(ack),
                queue=dict(queue or {}),
            )
        )

    async def outbox_pending(self, limit: int = 500) -> list[OutboxEntry]:
        return await self._run(self._store.outbox_pending, limit)

    async def outbox_ack(self, seqs: Iterable[int]) -> None:
        await self._run(self._store.outbox_ack, list(seqs))

    async def outbox_stats(self) -> OutboxStats:
        return await self._run(self._store.outbox_stats)

    async def snapshot(self) -> Snapshot:
        return await self._run(self._store.snapshot)

    async def call(self, fn: Callable[[RecordStore], T]) -> T:
        """Run `fn` with the wrapped store on the worker: several calls, one trip to the thread
        (and nothing else queued on the store runs between them)."""
        return await self._run(fn, self._store)

    async def aclose(self) -> None:
        """Close the store on its worker, after every call already queued, then stop the worker."""
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.wrap_future(self._worker.submit(self._store.close))
        finally:
            self._worker.shutdown(wait=False)

    async def __aenter__(self) -> AsyncRecordStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _run(self, call: Callable[..., T], *args: object) -> T:
        if self._closed:
            raise StoreClosedError
        return await asyncio.wrap_future(self._worker.submit(call, *args))
