"""One program at a time creates or restores a network's wallet in a data dir.

Two `cairn wallet create` or `cairn restore` runs (or the app's wizard and one of them) on one
new data dir would each write their own seed and records and, failing, remove what they
thought was theirs — the other's wallet. So each holds `WalletLock` on `wallets/<network>.lock`
(beside the wallet folder, which a restore may set aside whole) while it checks that the room is
free, writes, and cleans up after itself; a second one is refused at once (`WalletBusy`) and
touches nothing.

The lock file is removed when the lock is released, and so are the folders taking it made, if
they are still empty: a creation or restore that did not happen leaves the data dir as it was.
A program that opened the file just before it was removed may lock a file no longer there: it
finds the path no longer names what it locked, and tries again.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from cairn.files import make_private_dir, take_lock
from cairn.usererrors import UserError

__all__ = ["WalletBusy", "WalletExists", "WalletLock"]

LOCK_SUFFIX = ".lock"
ATTEMPTS = 5  # the file replaced under us this often in a row: told as busy


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
    def take(cls, wallet_dir: Path) -> WalletLock:
        """The lock of the wallet folder `wallet_dir`; WalletBusy if another program holds it."""
        path = wallet_dir.with_name(wallet_dir.name + LOCK_SUFFIX)
        made = [p for p in reversed(path.parents) if not p.exists()]
        make_private_dir(path.parent)
        for _ in range(ATTEMPTS):
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            if not take_lock(fd):
                os.close(fd)
                break
            if _names(path, fd):
                return cls(path, fd, made)
            os.close(fd)  # removed or replaced since it was opened: take the one there now
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
