"""One program at a time creates or restores a network's wallet in a data dir.

Two `cairn wallet create` or `cairn restore` runs (or the app's wizard and one of them) on one
new data dir would each write their own seed and records and, failing, remove what they
thought was theirs — the other's wallet. So each holds `WalletLock` on `wallets/<network>.lock`
(beside the wallet folder, which a restore may set aside whole) while it checks that the room is
free, writes, and cleans up after itself; a second one is refused at once (`WalletBusy`) and
touches nothing. Every start also takes the lock for a moment, to clear what a crashed creation
or restore left (cairn.upgrade.migrate, cairn.session) and skips that when the lock is held; so
a creation or restore waits a little (`CREATOR_WAIT`) for a lock held that briefly before it
calls the other program a creator too.

The lock file is removed when the lock is released, and so are the folders taking it made, if
they are still empty: a creation or restore that did not happen leaves the data dir as it was.
A program that opened the file just before it was removed may lock a file no longer there: it
finds the path no longer names what it locked, and tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

from cairn.files import make_private_dir, take_lock
from cairn.usererrors import UserError

__all__ = ["CREATOR_WAIT", "WalletBusy", "WalletExists", "WalletLock", "take_for_making"]

LOCK_SUFFIX = ".lock"
ATTEMPTS = 5  # the file replaced under us this often in a row: told as busy
# Seconds a creation or restore waits for the lock: far longer than a start's clean-up holds
# it (milliseconds), far shorter than another creation or restore does.
CREATOR_WAIT = 2.0
RETRY_EVERY = 0.05


class WalletBusy(UserError):
    """Another Cairn program is creating or restoring this wallet right now."""


class WalletExists(UserError):
    """A wallet is already there and replacing it was not asked for."""


class WalletLock:
    """Held while a wallet folder is created or restored; `take` refuses if another holds it."""

    def __init__(self, path: Path, fd: int, made: list[Path]) -> None:
        self.path = path
        self._fd: int | None = fd
        self._made = made  # folders taking the lock created, outermost first

    @classmethod
    def take(cls, wallet_dir: Path, *, wait: float = 0.0) -> WalletLock:
        """The lock of the wallet folder `wallet_dir`; WalletBusy if another program still
        holds it after `wait` seconds."""
        path = wallet_dir.with_name(wallet_dir.name + LOCK_SUFFIX)
        made = [p for p in reversed(path.parents) if not p.exists()]
        deadline = time.monotonic() + wait
        replaced = 0
        while replaced < ATTEMPTS:
            try:
                make_private_dir(path.parent)
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except FileNotFoundError:  # its folder removed meanwhile by a holder letting go
                replaced += 1
                continue
            if not take_lock(fd):
                os.close(fd)
                if time.monotonic() >= deadline:
                    break
                time.sleep(RETRY_EVERY)
                continue
            if _names(path, fd):
                return cls(path, fd, made)
            os.close(fd)  # removed or replaced since it was opened: take the one there now
            replaced += 1
        _remove_empty(made)
        raise WalletBusy(
            f"Another Cairn program is creating or restoring the {wallet_dir.name} wallet in "
            f"{wallet_dir.parent.parent} right now; nothing was changed. Let it finish, then "
            "try again."
        )

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            if _names(self.path, self._fd):
                self.path.unlink()
        finally:
            os.close(self._fd)  # closing the file releases its lock
            self._fd = None
        _remove_empty(self._made)

    def __enter__(self) -> WalletLock:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def _names(path: Path, fd: int) -> bool:
    """Whether `path` is the file open as `fd`."""
    try:
        there = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (there.st_dev, there.st_ino) == (mine.st_dev, mine.st_ino)


def _remove_empty(folders: list[Path]) -> None:
    for folder in reversed(folders):
        with contextlib.suppress(OSError):  # not empty: something was put there meanwhile
            folder.rmdir()


async def take_for_making(wallet_dir: Path) -> WalletLock:
    """`WalletLock.take` for a creation or restore (waiting up to `CREATOR_WAIT`), off the
    event loop; a lock taken after the waiter was cancelled is released, not left held."""
    taking = asyncio.ensure_future(
        asyncio.to_thread(WalletLock.take, wallet_dir, wait=CREATOR_WAIT)
    )
    try:
        return await asyncio.shield(taking)
    except asyncio.CancelledError:
        taking.add_done_callback(_release_taken)
        raise


def _release_taken(taking: asyncio.Future[WalletLock]) -> None:
    if not taking.cancelled() and taking.exception() is None:
        taking.result().release()
