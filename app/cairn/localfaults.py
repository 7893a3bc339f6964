"""Faults of the local data dir, told as one line and an exit code instead of a traceback.

A damaged, unreadable or unwritable file under the data dir is the machine's fault, not
Cairn's: the user is told which file, what is wrong with it and what to do, and the command
exits with a documented code (cairn.exitcodes). Every entry point (the app's start, `cairn
backup`, `cairn restore`, `cairn wallet create`) asks `local_fault` about an error before it
treats it as a bug.

Standard output is not the data dir: a command writes its output with `write_output`, and an
output that cannot be written (closed, on a full disk, its reader gone) is told as such, with
its own exit code, never as a file of the data dir that could not be written.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass

from cairn.config import ConfigError
from cairn.exitcodes import EXIT_DAMAGED, EXIT_NOT_WRITTEN, EXIT_OUTPUT_CLOSED
from cairn.seedfile import SeedFileError
from cairn.storage import (
    MigrationError,
    SchemaTooNewError,
    StoreClosedError,
    StoreCorruptError,
    StoreError,
    StoreNotWritable,
)
from cairn.upgrade import UnknownFormatError, UpgradeError
from cairn.wallet.errors import RecordsNotOfThisSeed

RESTORE_ADVICE = (
    "restore the wallet with `cairn restore --force` (the damaged wallet is kept beside it)"
)
NOTHING_CHANGED = "nothing was changed"

_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_NOT_WRITABLE = frozenset({errno.EROFS, errno.EIO})
# A full tmpfs or disk also shows as an I/O error (SQLite's shared-memory file cannot grow).
_SQLITE_FULL = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR})
_SQLITE_NOT_WRITTEN = frozenset(
    {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
)


class OutputNotWritten(Exception):
    """Standard output could not be written, for ``reason``; ``str(error)`` says so, or says
    ``message`` instead (what a command had done that the output was to tell).

    ``quiet``: the reader went away (`| head`), which needs no message, as a program killed by
    SIGPIPE prints none.
    """

    def __init__(self, reason: str, *, quiet: bool = False, message: str = "") -> None:
        super().__init__(message or f"could not write to standard output: {reason}")
        self.reason = reason
        self.quiet = quiet


def output_is_open() -> bool:
    """False when the command was started with its standard output closed (`>&-`)."""
    return sys.stdout is not None


def write_output(text: str, *, end: str = "\n") -> None:
    """Write `text` on standard output and flush it: OutputNotWritten if it cannot be written."""
    if sys.stdout is None:
        raise OutputNotWritten("it is closed")
    try:
        if text or end:  # even an empty write reaches the file, and a full disk refuses it
            sys.stdout.write(text + end)
        sys.stdout.flush()
    except BrokenPipeError:
        raise OutputNotWritten("its reader closed it", quiet=True) from None
    except (OSError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) else None
        raise OutputNotWritten(reason or str(error) or type(error).__name__) from None


def tell_done(text: str, *, done: str) -> None:
    """`write_output(text)` after the command did what it was for: if standard output cannot
    take it, stderr says `done` ("the payment was sent (txid …)") rather than only that the
    output failed, so that nobody does it again."""
    try:
        write_output(text)
    except OutputNotWritten as exc:
        raise OutputNotWritten(
            exc.reason,
            message=f"{done}, but standard output could not be written: {exc.reason}",
        ) from None


@dataclass(frozen=True)
class LocalFault:
    """What to print (one line, without the program name) and the exit code."""

    code: int
    message: str


def told_as_local_fault(command: Callable[[], int], *, doing: str = "") -> int:
    """Run `command`; a fault of the data dir is one line on stderr and its exit code.

    `doing` says what failed when the command alone would not ("the wallet could not be
    upgraded"). Any other error is not the machine's fault and goes on up.
    """
    try:
        code = command()
        if output_is_open():
            write_output("", end="")  # what is still buffered, while a failure can be told
        return code
    except BrokenPipeError:
        return _output_closed()
    except OutputNotWritten as exc:
        if not exc.quiet:
            print(f"cairn: {exc}", file=sys.stderr)
        return _output_closed()
    except Exception as exc:
        fault = local_fault(exc)
        if fault is None:
            raise
        print(f"cairn: {doing + ': ' if doing else ''}{fault.message}", file=sys.stderr)
        return fault.code


def _output_closed() -> int:
    """The output could not be written (`cairn wallet label list | head`, a full disk): not a
    fault of the data dir. What is still buffered goes nowhere instead of failing again at
    exit."""
    if sys.stdout is None:
        return EXIT_OUTPUT_CLOSED
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_OUTPUT_CLOSED


def local_fault(error: BaseException) -> LocalFault | None:
    """The data dir's fault behind `error`, or None when `error` is not one (a bug, a server)."""
    for cause in _chain(error):
        fault = _fault_of(cause)
        if fault is not None:
            return LocalFault(fault.code, _one_line(fault.message))
    return None


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__
    return seen


def _fault_of(error: BaseException) -> LocalFault | None:
    if isinstance(error, ConfigError | SeedFileError | SchemaTooNewError):
        return LocalFault(EXIT_DAMAGED, str(error))
    if isinstance(error, UnknownFormatError | UpgradeError):
        return LocalFault(EXIT_DAMAGED, f"{error}; {NOTHING_CHANGED}")
    if isinstance(error, RecordsNotOfThisSeed):
        return LocalFault(
            EXIT_DAMAGED,
            f"{error}; {NOTHING_CHANGED} and nothing was backed up. If this wallet's seed file "
            "was replaced by another's, put its own back; or restore its recovery words into a "
            "new data dir",
        )
    if isinstance(error, StoreClosedError):
        return None  # using a closed store is our bug, not the machine's
    if isinstance(error, StoreNotWritable):
        return LocalFault(
            EXIT_NOT_WRITTEN,
            f"{error}. Open the data dir where it can be written (or copy it there), then try "
            f"again; {NOTHING_CHANGED}",
        )
    if isinstance(error, StoreCorruptError):
        return LocalFault(EXIT_DAMAGED, f"{error}; {NOTHING_CHANGED}. To recover, {RESTORE_ADVICE}")
    if isinstance(error, StoreError | MigrationError):
        return _store_fault(error)
    if isinstance(error, OSError):
        return _os_fault(error)
    return None


def _store_fault(error: StoreError) -> LocalFault:
    code = _sqlite_code(error)
    if code is None:
        return LocalFault(EXIT_DAMAGED, f"{error}; {NOTHING_CHANGED}")
    if code in _SQLITE_FULL:
        return LocalFault(
            EXIT_NOT_WRITTEN,
            f"{error}: the disk is full. Free some space and try again; {NOTHING_CHANGED}",
        )
    if code in _SQLITE_NOT_WRITTEN:
        return LocalFault(
            EXIT_NOT_WRITTEN,
            f"{error}. Check that the disk is writable and no other program holds the file, "
            f"then try again; {NOTHING_CHANGED}",
        )
    return LocalFault(
        EXIT_DAMAGED,
        f"{error}. Check the file's permissions, or {RESTORE_ADVICE}; {NOTHING_CHANGED}",
    )


def _sqlite_code(error: BaseException) -> int | None:
    for cause in _chain(error):
        if isinstance(cause, sqlite3.Error):
            code = getattr(cause, "sqlite_errorcode", None)
            return None if code is None else int(code) & 0xFF
    return None


def _os_fault(error: OSError) -> LocalFault:
    where = error.filename if error.filename is not None else "a file in the data dir"
    reason = error.strerror or type(error).__name__
    if error.errno in _NO_SPACE:
        return LocalFault(
            EXIT_NOT_WRITTEN,
            f"could not write {where}: {reason}. Free some space and try again; {NOTHING_CHANGED}",
        )
    if error.errno in _NOT_WRITABLE:
        return LocalFault(
            EXIT_NOT_WRITTEN,
            f"could not write {where}: {reason}. Check the disk and try again; {NOTHING_CHANGED}",
        )
    if error.errno in (errno.EACCES, errno.EPERM):
        return LocalFault(
            EXIT_DAMAGED,
            f"{where} cannot be read or written: {reason}. Give your user access to it "
            f"(owner and permissions) and try again; {NOTHING_CHANGED}",
        )
    if error.errno in (errno.EISDIR, errno.ENOTDIR):
        return LocalFault(
            EXIT_DAMAGED,
            f"{where}: {reason}: something else is where Cairn keeps a file or folder. Move it "
            f"away and try again; {NOTHING_CHANGED}",
        )
    return LocalFault(EXIT_DAMAGED, f"{where} cannot be used: {reason}; {NOTHING_CHANGED}")


def _one_line(text: str) -> str:
    return " ".join(text.split())
