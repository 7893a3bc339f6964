"""The SQLite group-commit writer: many callers, one commit, each answered on its own."""

from __future__ import annotations

import asyncio
import fcntl
import os
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


@pytest.mark.asyncio
async def test_writers_of_one_file_take_turns_on_its_lock_file(tmp_path: Path) -> None:
    """Another process's writer holding the lock keeps this one's group waiting, not failing."""
    path = tmp_path / "w.sqlite"
    make_table(path)
    writer = GroupCommitWriter(path)
    lock_path = tmp_path / "w.sqlite.writer-lock"
    assert lock_path.stat().st_mode & 0o777 == 0o600
    other = os.open(lock_path, os.O_RDWR)  # another open file: flock conflicts as across processes
    try:
        fcntl.flock(other, fcntl.LOCK_EX)
        job = asyncio.ensure_future(
            writer.run(lambda conn: conn.execute("SELECT count(*) FROM t").fetchone()[0])
        )
        await asyncio.sleep(0.2)  # time enough for a writer that ignored the lock to run it
        conn = connect(path)
        conn.execute("INSERT INTO t (k) VALUES (1)")  # the other writer's commit
        conn.close()
        fcntl.flock(other, fcntl.LOCK_UN)
        assert await job == 1  # it ran after the other writer, and saw its row
    finally:
        os.close(other)
        await asyncio.to_thread(writer.close)
