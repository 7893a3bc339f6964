"""Threads that own SQLite connections, so blocking calls stay off the event loop.

`GroupCommitWriter` is the single writer: it takes every queued write, runs each in its own
savepoint inside one transaction, commits once (WAL + synchronous=FULL, so the commit is on disk)
and only then answers each caller. Under concurrent load one fsync covers many requests.
`ReaderPool` runs reads on a few connections of their own; WAL lets them proceed during writes.
`Checkpointer` moves the WAL into the database file in the background.

Writers of several server processes on one file (`serve --workers N`) take turns on a lock file
beside it (`<db>.writer-lock`, flock) before each group: SQLite's own busy handler waits by
sleeping 1, 2, 5, ... 100 ms and retrying, so a writer that just missed the lock would sit out
whole groups of the other; a kernel lock hands over the moment it is released.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
MAX_GROUP = 512
WRITER_CACHE_KIB = 32 * 1024
FINAL_CHECKPOINT_WAIT_MS = 500


def connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: transactions are begun and ended explicitly, never implicitly.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


@dataclass
class _Job:
    fn: Callable[[sqlite3.Connection], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


def _answer(job: _Job, result: Any, error: BaseException | None) -> None:
    _answer_all([(job, result, error)])


def _deliver(outcomes: list[tuple[_Job, Any, BaseException | None]]) -> None:
    for job, result, error in outcomes:
        if job.future.done():  # the caller went away (cancelled)
            continue
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)


def _answer_all(outcomes: list[tuple[_Job, Any, BaseException | None]]) -> None:
    """Hand the outcomes to their event loops: one wake-up per loop, not one per job."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Job, Any, BaseException | None]]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, answers in by_loop.items():
        # A closed loop means nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_deliver, answers)


class _Worker:
    """Common shutdown and submission for the writer and the reader pool."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._closed = False

    @property
    def pending(self) -> int:
        """Jobs queued and not yet taken by a thread (for the metrics scrape)."""
        return self._queue.qsize()

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise RuntimeError("the SQLite backend is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Job(fn, future, loop))
        return await future

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()


class GroupCommitWriter(_Worker):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self._conn = connect_writer(path)
        self._lock = open_writer_lock(path)
        thread = threading.Thread(target=self._loop, name="cairn-backupd-writer", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _loop(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            jobs = [first]
            while len(jobs) < MAX_GROUP:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                jobs.append(nxt)
            outcomes = commit_group(self._conn, self._lock, [job.fn for job in jobs])
            _answer_all([(job, *outcome) for job, outcome in zip(jobs, outcomes, strict=True)])
        self._conn.close()
        os.close(self._lock)


Outcome = tuple[Any, BaseException | None]  # a job's result, or what it raised


def connect_writer(path: Path) -> sqlite3.Connection:
    """The connection of a group-commit writer (this module's thread, or writer_process.py)."""
    conn = connect(path)
    # Checkpoints run on the Checkpointer's thread, not inside a commit everyone waits for.
    conn.execute("PRAGMA wal_autocheckpoint=0")
    # New keys land all over the objects' primary-key index: with SQLite's default 2 MiB
    # page cache, a store of 100,000 objects made every batch read its index pages back
    # from the file (a full backup took 36 s instead of 29 s). The writer's cache only.
    conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
    return conn


def open_writer_lock(path: Path) -> int:
    """The lock file the writers of one database file take turns on (the module's comment)."""
    lock_path = path.with_name(path.name + ".writer-lock")
    return os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def commit_group(
    conn: sqlite3.Connection, lock: int, jobs: list[Callable[[sqlite3.Connection], Any]]
) -> list[Outcome]:
    """Run `jobs` in one transaction and commit it once, holding the writer lock throughout."""
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        return _commit_group(conn, jobs)
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)


def _commit_group(
    conn: sqlite3.Connection, jobs: list[Callable[[sqlite3.Connection], Any]]
) -> list[Outcome]:
    # Jobs report refusals as results; an exception is unexpected. So first run the group
    # straight through, and only when a job raises run it again with a savepoint per job.
    try:
        conn.execute("BEGIN IMMEDIATE")
        results = [job(conn) for job in jobs]
        conn.execute("COMMIT")
    except Exception:
        _rollback(conn)
        return _commit_one_by_one(conn, jobs)
    return [(result, None) for result in results]


def _commit_one_by_one(
    conn: sqlite3.Connection, jobs: list[Callable[[sqlite3.Connection], Any]]
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    try:
        conn.execute("BEGIN IMMEDIATE")
        for job in jobs:
            conn.execute("SAVEPOINT job")
            try:
                result = job(conn)
            except Exception as exc:
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                outcomes.append((None, exc))
            else:
                conn.execute("RELEASE job")
                outcomes.append((result, None))
        conn.execute("COMMIT")
    except Exception as exc:  # the commit itself failed: nothing in the group is durable
        _rollback(conn)
        return [(None, exc) for _ in jobs]
    return outcomes


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


class ReaderPool(_Worker):
    def __init__(self, path: Path, size: int = 2) -> None:
        super().__init__()
        for i in range(size):
            conn = connect(path)
            thread = threading.Thread(
                target=self._loop, args=(conn,), name=f"cairn-backupd-reader-{i}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _loop(self, conn: sqlite3.Connection) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                break
            try:
                result = job.fn(conn)
            except Exception as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                _answer(job, None, exc)
            else:
                _answer(job, result, None)
        conn.close()


class Checkpointer:
    """Copies committed WAL frames back into the database file, off the commit path.

    SQLite's automatic checkpoint would run inside the writer's commit and stall every request
    of that group for the length of a database-file fsync. A PASSIVE checkpoint from a
    connection of its own never blocks the writer; the WAL is reused once it has caught up.
    """

    def __init__(self, path: Path, interval: float = 0.5) -> None:
        self._conn = connect(path)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name="cairn-backupd-checkpointer", daemon=True
        )
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._checkpoint("PASSIVE")
        # The writer is gone: leave a small WAL behind. Another process on the same file (a
        # worker of `serve --workers`) may still be reading; then the WAL stays as it is
        # rather than this stop waiting out the whole busy timeout.
        self._conn.execute(f"PRAGMA busy_timeout={FINAL_CHECKPOINT_WAIT_MS}")
        self._checkpoint("TRUNCATE")
        self._conn.close()

    def _checkpoint(self, mode: str) -> None:
        # A busy database only postpones the checkpoint to the next round.
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
