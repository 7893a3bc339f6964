"""RoundLock: one backup round at a time on one wallet, in this process and across processes.

The app, `cairn sync`, `cairn backup now` and `cairn wallet receive` may all run on one data
dir at once. Each has its own backup engine over the same record store: two rounds at once
would each read the bookkeeping, send, and record what the server took, and one could record
its answer over the other's (a manifest that no longer matches the server's objects). So a
round holds an advisory lock on a file beside the record store; another process's round waits
for it. Within a process an asyncio lock does the same for its own tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

from cairn.backup.errors import BackupError
from cairn.files import take_lock

LOCK_NAME = "backup.lock"
# How long a round waits for another process's round (a full backup of a large wallet takes
# a minute or more); after that it fails like any round the server cannot take now.
WAIT = 180.0
POLL = 0.05


class BackupBusy(BackupError):
    """Another Cairn process on this wallet kept backing up for longer than a round waits."""


class RoundLock:
    def __init__(self, path: Path | None = None, *, wait: float = WAIT) -> None:
        self.path = path  # None: this process only (a store with no file)
        self._wait = wait
        self._local = asyncio.Lock()

    @classmethod
    def beside(cls, records: Path) -> RoundLock:
        """The lock of the wallet whose record store is the file `records`."""
        return cls(records.with_name(LOCK_NAME))

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        async with self._local:
            fd = await self._take_file()
            try:
                yield
            finally:
                if fd is not None:
                    os.close(fd)  # closing the file releases its lock

    async def _take_file(self) -> int | None:
        if self.path is None:
            return None
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            # Chained: a command tells it as the data dir's fault (cairn.localfaults).
            raise BackupError(
                f"the wallet's backup lock {self.path} cannot be opened ({exc.strerror})"
            ) from exc
        deadline = time.monotonic() + self._wait
        try:
            while not take_lock(fd):
                if time.monotonic() >= deadline:
                    raise BackupBusy(
                        "another Cairn program on this wallet has been backing up for "
                        f"{self._wait:.0f} s; will try again"
                    )
                await asyncio.sleep(POLL)
            return fd
        except BaseException:
            os.close(fd)
            raise
