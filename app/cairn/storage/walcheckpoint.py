"""WalCheckpointer: copies a store's committed WAL frames into its database file, off the commit path.

SQLite's automatic checkpoint runs inside the commit that crosses its threshold: every thousand
pages or so, one write of the wallet waits for the whole WAL to be copied and the database file
to be synced. A PASSIVE checkpoint from a connection of its own never blocks a writer, and the
WAL is reused from its start once the checkpoint has caught up. It runs shortly after a burst
of writes, so an idle wallet costs nothing.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading
import weakref
from collections.abc import Callable
from pathlib import Path

# Long enough for a burst of writes (a chain sync, a round of the backup) to end first.
DELAY = 0.5


class WalCheckpointer:
    """A thread that checkpoints the WAL a while after it was last told of a write."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], *, delay: float = DELAY) -> None:
        self._conn = connect()
        self._delay = delay
        self._written = threading.Event()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cairn-checkpointer", daemon=True)
        self._thread.start()

    def written(self) -> None:
        """A write committed (cheap: called after every commit)."""
        self._written.set()

    def close(self) -> None:
        """Stop the thread and close its connection; safe to call more than once."""
        self._closing.set()
        self._written.set()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _loop(self) -> None:
        try:
            while True:
                self._written.wait()
                if self._closing.wait(self._delay):
                    return
                self._written.clear()
                # `close` sets closing before written: a close that came after the wait timed
                # out is seen here (had it come after the clear, the next wait would return).
                if self._closing.is_set():
                    return
                # Busy only postpones the checkpoint to the next write's.
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            self._conn.close()


class NoCheckpoints:
    """For a store without a WAL (one written for a restore): nothing to do."""

    def written(self) -> None:
        pass

    def close(self) -> None:
        pass


NO_CHECKPOINTS = NoCheckpoints()
Checkpoints = WalCheckpointer | NoCheckpoints


def checkpointer_for(owner: object, conn: sqlite3.Connection, path: Path) -> WalCheckpointer:
    """Take `conn`'s checkpoints over; the thread stops with `owner` if it is never closed."""
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    checkpointer = WalCheckpointer(
        functools.partial(sqlite3.connect, path, isolation_level=None, check_same_thread=False)
    )
    weakref.finalize(owner, checkpointer.close)
    return checkpointer
