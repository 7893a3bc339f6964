"""The exit codes of every `cairn` command, one table for the code, `--help` and the docs.

A leaf module (nothing imported), so `cairn --help` can print the table without loading the
backup engine. README.md lists the same codes; a test keeps the two in step.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_BUG = 1
EXIT_USAGE = 2
EXIT_NO_BACKUP = 3
EXIT_UNREACHABLE = 4
EXIT_CORRUPT = 5
EXIT_REFUSED = 6
EXIT_NO_WALLET = 7
EXIT_WALLET_EXISTS = 8
EXIT_PENDING = 9
EXIT_DAMAGED = 10
EXIT_NOT_WRITTEN = 11
EXIT_ERASED = 12
EXIT_NOT_FOUND = 13
EXIT_INCOMPLETE = 14
EXIT_BUSY = 15
EXIT_DECLINED = 16
# As a program killed by SIGPIPE reports itself to the shell (128 + 13).
EXIT_OUTPUT_CLOSED = 141

EXIT_CODES = {
    EXIT_OK: "done (restored, created, or everything backed up)",
    EXIT_BUG: "unexpected error (a bug: please report it)",
    EXIT_USAGE: "bad arguments (an address, amount or memo refused, not enough funds), bad "
    "recovery words, no display, or no backup server configured",
    EXIT_NO_BACKUP: "no backup for these words on this server",
    EXIT_UNREACHABLE: "the backup server or the chain server cannot be reached or did not answer "
    "in time (the message says what was done)",
    EXIT_CORRUPT: "the backup is damaged or was tampered with: refused",
    EXIT_REFUSED: "a server refused the request: the backup server (clock, quota or server "
    "problem) or the chain server (a payment it would not take)",
    EXIT_NO_WALLET: "no wallet in this data dir",
    EXIT_WALLET_EXISTS: "a wallet already exists there (restore: use --force to replace it)",
    EXIT_PENDING: "changes are still waiting to be backed up",
    EXIT_DAMAGED: "a file in the data dir is damaged, unreadable or from a newer Cairn: "
    "refused, nothing was changed (the message names the file and what to do)",
    EXIT_NOT_WRITTEN: "a file in the data dir could not be written (disk full, read-only): "
    "nothing was changed",
    EXIT_ERASED: "the backup was deleted from another device (`cairn backup start-again`)",
    EXIT_NOT_FOUND: "no such label or preference (`cairn wallet label get`, `prefs get`)",
    EXIT_INCOMPLETE: "the backup is incomplete: a device's full backup into it has not "
    "finished (restore: add --incomplete to restore what it holds); nothing was changed",
    EXIT_BUSY: "another Cairn program is creating or restoring this wallet right now: "
    "nothing was changed (try again when it is done)",
    EXIT_DECLINED: "the payment was not confirmed at its prompt (`wallet send`): nothing was sent",
    EXIT_OUTPUT_CLOSED: "the output could not be written: closed before all of it was written "
    "(`| head`), closed from the start, or on a full disk (the message says what was done)",
}


def exit_code_table(indent: str = "  ", codes: tuple[int, ...] | None = None) -> str:
    """The table as `--help` prints it, one code a line: every code, or those of `codes`."""
    shown = EXIT_CODES if codes is None else {code: EXIT_CODES[code] for code in codes}
    return "\n".join(f"{indent}{code:>3}  {text}" for code, text in shown.items())
