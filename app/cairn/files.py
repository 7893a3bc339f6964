"""Durable file writes shared by every package: a crash leaves the old file or the new one.

A leaf module (standard library only), so the record store, the seed file, the config and the
upgrade all write files the same way, and take the same advisory locks (`take_lock`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import sqlite3
from pathlib import Path


def sqlite_sidecars(path: Path) -> tuple[Path, Path, Path]:
    """The files SQLite keeps beside the database at `path`: its WAL, its shared memory and
    its rollback journal."""
    return (
        path.with_name(path.name + "-wal"),
        path.with_name(path.name + "-shm"),
        path.with_name(path.name + "-journal"),
    )


def take_lock(fd: int, *, blocking: bool = False) -> bool:
    """An exclusive advisory lock on the open file `fd`, released when `fd` is closed; False
    if another process holds it (only when not `blocking`: then it waits for it)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def remove_if_there(path: Path) -> bool:
    """Remove the file at `path` if there is one; True if there was.

    Looked for first: on a read-only file system unlink fails with EROFS even for a file that
    is not there, and clearing leftovers that are not there must not stop a data dir on one.
    """
    if not os.path.lexists(path):
        return False
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def write_file_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Temp file created with `mode` before any data, fsync, rename over `path`, fsync the dir.

    An OSError (a full disk, say) names `path`, so the message says which file was not
    written; `path` is then as it was.
    """
    make_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        fsync_dir(path.parent)
    except OSError as exc:
        if exc.errno is not None and (exc.filename is None or Path(exc.filename) == tmp):
            exc.filename = str(path)
        raise


def make_private_dir(directory: Path) -> None:
    """Create `directory` and any missing parents as 0700: wallet data is for its user only.

    Folders that already exist keep their mode (the user may have chosen it); new ones are
    set to 0700 whatever the umask.
    """
    missing: list[Path] = []
    for path in (directory, *directory.parents):
        if path.exists():
            break
        missing.append(path)
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue  # another process made it a moment ago
        os.chmod(path, 0o700)
    if not directory.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(directory))


def keep_private(path: Path, mode: int = 0o600) -> None:
    """Take away what group and others may do with `path` (a wallet file, 0600; its folder,
    0700), if anything: a secret made readable to others by a copy, an archive or a chmod is
    private again the next time Cairn opens it. Nothing happens where the user may not change
    the mode."""
    with contextlib.suppress(OSError):
        if os.stat(path).st_mode & 0o077:
            os.chmod(path, mode)


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new file in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sqlite_online_copy(source: Path, target: Path) -> None:
    """Copy the SQLite database at `source` to `target` (0600) with sqlite3's backup API.

    The copy reads through its own connection (in WAL mode a reader does not wait for a writer,
    so a caller may hold the write lock meanwhile). It is made under a temporary name, fsynced,
    then renamed: `target` is absent, the previous copy, or a complete new one.
    """
    partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    os.close(os.open(partial, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600))
    try:
        reader = sqlite3.connect(source)
        try:
            copy = sqlite3.connect(partial)
            try:
                reader.backup(copy)
            finally:
                copy.close()
        finally:
            reader.close()
        fsync_file(partial)
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    fsync_dir(target.parent)
