"""The SQLite group-commit writer: many callers, one commit, each answered on its own."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from cairn.server.sqlite_worker import GroupCommitWriter, connect


def make_table(path: Path) -> None:
    conn = connect(path)
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    conn.close()


@pytest.mark.asyncio
async def test_a_failing_job_is_rolled_back_alone(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite"
    make_table(path)
    writer = GroupCommitWriter(path)

    def insert(k: int) -> Callable[[sqlite3.Connection], int]:
        def job(conn: sqlite3.Connection) -> int:
            conn.execute("INSERT INTO t (k) VALUES (?)", (k,))
            if k == 13:
                raise ValueError("unexpected")
            return k

        return job

    try:
        results = await asyncio.gather(
            *(writer.run(insert(k)) for k in range(30)),
            return_exceptions=True,
        )
    finally:
        await asyncio.to_thread(writer.close)
    assert isinstance(results[13], ValueError)
    assert [r for i, r in enumerate(results) if i != 13] == [k for k in range(30) if k != 13]
    conn = connect(path)
    stored = [row[0] for row in conn.execute("SELECT k FROM t ORDER BY k")]
    conn.close()
    assert stored == [k for k in range(30) if k != 13]


@pytest.mark.asyncio
async def test_a_closed_writer_refuses_work(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite"
    make_table(path)
    writer = GroupCommitWriter(path)
    await asyncio.to_thread(writer.close)
    with pytest.raises(RuntimeError, match="closed"):
        await writer.run(lambda conn: None)
