"""AsyncRecordStore: the loop keeps running while the store works on its own thread."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest

from cairn.storage import (
    AsyncRecordStore,
    MemoryStore,
    OutboxStats,
    RecordStore,
    SqliteStore,
    StoreClosedError,
)


class Heartbeat:
    """Measures the longest gap between ticks of a task that wakes every millisecond."""

    def __init__(self) -> None:
        self.max_gap = 0.0
        self.ticks = 0

    async def run(self, stop: asyncio.Event) -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            self.max_gap = max(self.max_gap, now - last)
            self.ticks += 1
            last = now


async def write_while_beating(store: AsyncRecordStore, records: dict[str, bytes]) -> Heartbeat:
    heartbeat = Heartbeat()
    stop = asyncio.Event()
    beating = asyncio.create_task(heartbeat.run(stop))
    await asyncio.sleep(0.01)
    await store.batch(records)
    snap = await store.snapshot()
    stop.set()
    await beating
    assert len(snap.records) == len(records)
    return heartbeat


@pytest.mark.asyncio
async def test_loop_keeps_ticking_during_a_large_batch_write(tmp_path: Path) -> None:
    records = {f"wallet/changeset/{i:06}": os.urandom(256) for i in range(20_000)}
    gaps: list[float] = []
    async with AsyncRecordStore(SqliteStore(tmp_path / "records.sqlite")) as store:
        # Writing the batch on the loop stalls it for about 80 ms on every attempt. Other
        # processes on a busy machine can also stall it now and then, so one quiet attempt
        # out of three is the evidence asked for.
        for _ in range(3):
            heartbeat = await write_while_beating(store, records)
            assert heartbeat.ticks > 10
            gaps.append(heartbeat.max_gap)
            if heartbeat.max_gap < 0.050:
                break
        assert (await store.outbox_stats()) == OutboxStats(20_000, 20_000 * 256)
    assert min(gaps) < 0.050, f"the loop stalled for {[round(g * 1000) for g in gaps]} ms"


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_every_method_answers_like_the_wrapped_store(kind: str, tmp_path: Path) -> None:
    inner: RecordStore = MemoryStore() if kind == "memory" else SqliteStore(tmp_path / "r.sqlite")
    store = AsyncRecordStore(inner)
    assert store.store is inner
    await store.put("prefs/email", b"a@example.org")
    await store.batch({"labels/a": b"1", "labels/b": b"2", "local/x": b"3"}, deletes=["none"])
    await store.delete("labels/a")
    assert await store.get("prefs/email") == b"a@example.org"
    assert await store.get("labels/a") is None
    assert await store.scan("labels/") == [("labels/b", b"2")]
    entries = await store.outbox_pending(limit=2)
    assert [(e.name, e.op) for e in entries] == [("prefs/email", "put"), ("labels/b", "put")]
    await store.outbox_ack(e.seq for e in entries)
    assert await store.outbox_stats() == OutboxStats(1, 0)
    await store.load_restored(iter([("labels/c", b"4")]))
    assert await store.get("labels/c") == b"4"
    assert await store.outbox_stats() == OutboxStats(1, 0)
    snap = await store.snapshot()
    assert snap.records == inner.snapshot().records
    await store.aclose()
    await store.aclose()
    with pytest.raises(StoreClosedError):
        await store.get("prefs/email")
    with pytest.raises(StoreClosedError):
        inner.get("prefs/email")


@pytest.mark.asyncio
async def test_calls_run_in_order_on_one_worker_thread(tmp_path: Path) -> None:
    threads: set[int] = set()

    class Recording(MemoryStore):
        def put(self, name: str, value: bytes) -> None:
            threads.add(threading.get_ident())
            super().put(name, value)

    store = AsyncRecordStore(Recording())
    # Fired without awaiting in between: the worker must still apply them in call order.
    await asyncio.gather(*(store.put("counter", str(i).encode()) for i in range(200)))
    assert await store.get("counter") == b"199"
    assert len(threads) == 1
    assert threading.get_ident() not in threads
    await store.aclose()


@pytest.mark.asyncio
async def test_errors_reach_the_awaiting_caller(tmp_path: Path) -> None:
    async with AsyncRecordStore(SqliteStore(tmp_path / "r.sqlite")) as store:
        with pytest.raises(ValueError, match="record name"):
            await store.put("", b"x")
        with pytest.raises(ValueError, match="record value"):
            await store.batch({"a": b"1", "b": "text"})  # type: ignore[dict-item]
        assert await store.scan() == []
