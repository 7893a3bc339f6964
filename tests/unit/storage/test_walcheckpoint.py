"""The store's WAL is copied into its database file by a thread of its own, not by a commit."""

from __future__ import annotations

import gc
import sqlite3
import threading
import time
from pathlib import Path

from cairn.storage import SqliteStore

VALUE = b"v" * 3000  # about a page each


def checkpointers() -> int:
    return sum(t.name == "cairn-checkpointer" and t.is_alive() for t in threading.enumerate())


def wait_until(condition: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.02)
    return False


def test_a_commit_never_checkpoints_and_the_thread_catches_up(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    store = SqliteStore(path)
    try:
        assert store._conn is not None
        assert store._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        before = path.stat().st_size
        for i in range(1500):  # past SQLite's own threshold of 1000 pages
            store.put(f"wallet/r/{i:05d}", VALUE)
        # The database file itself comes to hold the records while the store stays open.
        assert wait_until(lambda: path.stat().st_size >= before + 1500 * 3000)
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as reader:
            assert reader.execute("SELECT count(*) FROM records").fetchone()[0] >= 1500
        assert store.get("wallet/r/01499") == VALUE
    finally:
        store.close()
    reopened = SqliteStore(path)
    try:
        assert reopened.get("wallet/r/00000") == VALUE
    finally:
        reopened.close()


def test_the_thread_stops_when_the_store_closes_or_is_dropped(tmp_path: Path) -> None:
    running = checkpointers()
    store = SqliteStore(tmp_path / "a.sqlite")
    assert checkpointers() == running + 1
    store.put("wallet/x", b"1")
    store.close()
    store.close()  # twice is harmless
    assert checkpointers() == running
    dropped = SqliteStore(tmp_path / "b.sqlite")
    dropped.put("wallet/x", b"1")
    del dropped
    gc.collect()
    assert wait_until(lambda: checkpointers() == running)


def test_a_store_written_for_a_restore_has_no_checkpointer(tmp_path: Path) -> None:
    running = checkpointers()
    store = SqliteStore(tmp_path / "staged.sqlite", durable=False)
    try:
        store.put("wallet/x", b"1")
        assert checkpointers() == running
    finally:
        store.close()


def test_a_close_that_meets_the_thread_between_its_wait_and_its_clear_still_stops_it(
    tmp_path: Path,
) -> None:
    from cairn.storage.walcheckpoint import WalCheckpointer

    path = tmp_path / "c.sqlite"
    checkpointer = WalCheckpointer(lambda: sqlite3.connect(path, check_same_thread=False), delay=0)

    class CloseArrivesFirst(threading.Event):
        """The close happens just as the thread's wait has timed out: before its clear."""

        def clear(self) -> None:
            checkpointer._closing.set()
            checkpointer._written.set()
            super().clear()

    waiting_on = checkpointer._written  # the thread waits on this one already
    checkpointer._written = CloseArrivesFirst()
    try:
        waiting_on.set()  # a write: the thread wakes, its wait times out, it clears
        checkpointer._thread.join(5)
        assert not checkpointer._thread.is_alive(), "the close was lost: the thread waits on"
    finally:
        checkpointer.close()
