"""/metrics of a real server: build, process, store and database gauges on both backends."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cairn import __version__
from tests.support.backupd import BackupdFactory, BackupServer
from tests.support.signing import Node

A, B, C = "a" * 64, "b" * 64, "c" * 64


def scrape(server: BackupServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of one scrape, by (name, sorted labels)."""
    response = httpx.get(server.url + "/metrics", timeout=10)
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def put(server: BackupServer, node: Node, objects: dict[str, bytes]) -> None:
    target = node.path("/objects")
    body = node.batch({key: (0, value) for key, value in objects.items()})
    answer = httpx.put(server.url + target, content=body, headers=node.headers("PUT", target, body))
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_gauges_count_stores_objects_and_bytes(
    backupd_factory: BackupdFactory, backend: str
) -> None:
    server = backupd_factory(
        postgres=backend == "postgres", env={"CAIRN_BACKUPD_PG_POOL_SIZE": "5"}
    )
    empty = scrape(server)
    assert empty[("cairn_backupd_stores", ())] == 0
    assert empty[("cairn_backupd_objects", ())] == 0
    put(server, Node(), {A: b"x" * 100, B: b"y" * 20})
    put(server, Node(), {C: b"z" * 7})
    time.sleep(1.1)  # gauges are refreshed at most once a second
    samples = scrape(server)
    assert samples[("cairn_backupd_stores", ())] == 2
    assert samples[("cairn_backupd_objects", ())] == 3
    assert samples[("cairn_backupd_stored_bytes", ())] == 127
    size = samples[("cairn_backupd_database_size_bytes", ())]
    if backend == "sqlite":
        files = [Path(server.db), Path(server.db + "-wal")]
        on_disk = sum(f.stat().st_size for f in files if f.exists())
        # The checkpointer may move the WAL between the scrape and this stat.
        assert size > 0 and abs(size - on_disk) <= on_disk
        assert samples[("cairn_backupd_sqlite_queue_depth", (("worker", "writer"),))] >= 0
        assert samples[("cairn_backupd_sqlite_queue_depth", (("worker", "readers"),))] >= 0
    else:
        assert size > 1_000_000  # an empty PostgreSQL database is several MB
        pool = {
            state: samples[("cairn_backupd_pg_pool_connections", (("state", state),))]
            for state in ("in_use", "idle", "max")
        }
        assert pool["max"] == 5
        assert 1 <= pool["in_use"] + pool["idle"] <= 5
        assert pool["in_use"] >= 0


def test_build_and_process_metrics(backupd: BackupServer) -> None:
    samples = scrape(backupd)
    assert samples[("cairn_backupd_build_info", (("version", __version__),))] == 1
    assert samples[("process_cpu_seconds_total", ())] > 0
    resident = samples[("process_resident_memory_bytes", ())]
    assert 10 * 2**20 < resident < 4 * 2**30
    assert backupd.process is not None
    with open(f"/proc/{backupd.process.pid}/statm") as statm:
        pages = int(statm.read().split()[1])
    # Measured a moment apart, the two agree to within a few MB.
    assert abs(resident - pages * os.sysconf("SC_PAGE_SIZE")) < 32 * 2**20


def wait_for_gauge(
    server: BackupServer, key: tuple[str, tuple[tuple[str, str], ...]], seconds: float = 15
) -> float:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = scrape(server).get(key, 0)
        if value >= 1:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{key} never rose above 0")


def put_in_background(server: BackupServer, count: int) -> list[threading.Thread]:
    threads = [
        threading.Thread(target=put, args=(server, Node(), {A: b"queued"})) for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    return threads


def test_the_writer_queue_shows_writes_waiting_for_the_disk(backupd: BackupServer) -> None:
    # Another process holds SQLite's write lock: the writer thread waits on it with the first
    # batch and the next ones queue up behind it.
    blocker = sqlite3.connect(backupd.db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    key = ("cairn_backupd_sqlite_queue_depth", (("worker", "writer"),))
    writers: list[threading.Thread] = []
    try:
        # The writer takes every write queued when it starts a group: writes that all arrive
        # before it starts its first are in the group that waits, and none are queued. One
        # more at a time, until one arrives behind that group.
        while True:
            writers += put_in_background(backupd, 1)
            try:
                waiting = wait_for_gauge(backupd, key, seconds=2 if len(writers) < 6 else 15)
                break
            except AssertionError:
                if len(writers) >= 6:
                    raise
        # At most every write sent: usually one is in the writer's hands, waiting on the lock,
        # but the server's own once-a-minute clean-up may be the one there instead.
        assert 1 <= waiting <= len(writers)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    for thread in writers:
        thread.join(30)
    # Once every write is done the queue empties (the gauge is read about once a second).
    deadline = time.monotonic() + 15
    while scrape(backupd)[key] != 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert scrape(backupd)[key] == 0


@pytest.mark.postgres
@pytest.mark.asyncio
async def test_the_pool_gauge_shows_connections_in_use(backupd_factory: BackupdFactory) -> None:
    import asyncio

    import asyncpg

    server = backupd_factory(postgres=True)
    blocker = await asyncpg.connect(server.db)
    transaction = blocker.transaction()
    await transaction.start()
    # Every claim writes a nonce: with the table locked, each request holds its connection.
    await blocker.execute("LOCK TABLE nonces IN ACCESS EXCLUSIVE MODE")
    try:
        writers = put_in_background(server, 2)
        key = ("cairn_backupd_pg_pool_connections", (("state", "in_use"),))
        in_use = await asyncio.to_thread(wait_for_gauge, server, key)
        assert 1 <= in_use <= 2
    finally:
        await transaction.rollback()
        await blocker.close()
    for thread in writers:
        await asyncio.to_thread(thread.join, 30)
