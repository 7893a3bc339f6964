"""The SQLite backend moves its WAL into the database file in the background."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cairn.server.backend import StoreRef
from cairn.server.sqlite_backend import SqliteBackend
from cairn.wire.messages import Batch, PutItem

STORE = StoreRef("02" + "22" * 32, "regtest")


@pytest.mark.asyncio
async def test_committed_writes_reach_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "backupd.sqlite"
    backend = SqliteBackend(path)
    await backend.open()
    try:
        for i in range(20):
            put = PutItem(f"{i:064x}", 0, bytes([i]) * 100_000)
            batch = Batch("1" * 32, i, f"{i:032x}", (put,), ())
            await backend.apply_batch(STORE, batch, quota=1 << 30)
        # The checkpointer copies the WAL into the database file soon after the commits.
        async with asyncio.timeout(10):
            while path.stat().st_size < 2_000_000:
                await asyncio.sleep(0.1)
    finally:
        await backend.close()
    # A clean shutdown leaves an empty WAL behind.
    wal = tmp_path / "backupd.sqlite-wal"
    assert not wal.exists() or wal.stat().st_size == 0
