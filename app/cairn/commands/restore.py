"""`cairn restore`: a wallet from its recovery words and its backup (cairn.wallet_restore).

The words come from standard input or `--words-file`, never from the command line. A backup
that a device's full backup has not finished filling is refused (exit 14) unless `--incomplete`
says to restore what it holds.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cairn.backup.restore import RestoreOutcome, RestoreProgress, RestoreResult
from cairn.commands.arguments import CommandExit, decoded, read_input, stdin_is_terminal
from cairn.config import load_config, resolve_data_dir
from cairn.exitcodes import (
    EXIT_BUSY,
    EXIT_CORRUPT,
    EXIT_INCOMPLETE,
    EXIT_NO_BACKUP,
    EXIT_OK,
    EXIT_PENDING,
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    EXIT_WALLET_EXISTS,
)
from cairn.keys import InvalidMnemonic, Network, phrase_and_passphrase
from cairn.wallet_restore import (
    ChangesWouldBeLeftBehind,
    NoBackupServer,
    WalletBusy,
    WalletExists,
    check_room,
    checked_server,
    restore_wallet,
)

__all__ = ["restore_command"]

_RESTORE_EXIT = {
    RestoreOutcome.RESTORED: EXIT_OK,
    RestoreOutcome.NO_BACKUP: EXIT_NO_BACKUP,
    RestoreOutcome.UNREACHABLE: EXIT_UNREACHABLE,
    RestoreOutcome.CORRUPT: EXIT_CORRUPT,
    RestoreOutcome.FAILED: EXIT_REFUSED,
    RestoreOutcome.INCOMPLETE: EXIT_INCOMPLETE,
}


def _read_words(args: argparse.Namespace) -> tuple[str, str]:
    if args.words_file is not None:
        try:
            text = decoded(Path(args.words_file).read_bytes())
        except OSError as exc:
            raise CommandExit(EXIT_USAGE, f"cannot read the words file: {exc.strerror}") from None
    elif stdin_is_terminal():
        print("Type the recovery words, then Enter:", file=sys.stderr)
        text = read_input("the recovery words", line=True)
    else:
        text = read_input("the recovery words")
    try:
        phrase, passphrase, with_passphrase = phrase_and_passphrase(text)
    except InvalidMnemonic as exc:
        # The words themselves never go to the terminal or a log: say where, not what.
        raise CommandExit(EXIT_USAGE, exc.message_without_words) from None
    if with_passphrase:
        print("restore: the second line is taken as the BIP39 passphrase", file=sys.stderr)
    return phrase, passphrase


async def restore_command(args: argparse.Namespace) -> int:
    """`cairn restore`: the words from standard input or a file, then the one restore flow."""
    data_dir = resolve_data_dir(args.data_dir)
    config = load_config(data_dir)
    network = Network(args.network) if args.network else config.network
    try:
        # Asked before the words are read: no one types them for a restore that cannot run.
        checked_server(args.server or config.backup_server_url)
        check_room(data_dir, network, replace=args.force, leave_changes=args.leave_pending)
        phrase, passphrase = _read_words(args)
        done = await restore_wallet(
            data_dir,
            config,
            phrase,
            passphrase,
            network=network,
            server=args.server,
            replace=args.force,
            leave_changes=args.leave_pending,
            accept_incomplete=args.incomplete,
            progress=_restore_printer(),
        )
    except NoBackupServer as exc:
        raise CommandExit(EXIT_USAGE, str(exc)) from None
    except WalletBusy as exc:
        raise CommandExit(EXIT_BUSY, str(exc)) from None
    except WalletExists:
        raise CommandExit(
            EXIT_WALLET_EXISTS,
            f"a {network.value} wallet already exists in {data_dir}; to replace it, run the "
            "restore again with --force (the wallet it replaces is kept beside it)",
        ) from None
    except ChangesWouldBeLeftBehind as exc:
        raise CommandExit(
            EXIT_PENDING,
            f"the {network.value} wallet in {data_dir} has {exc.waiting} change(s) not backed "
            "up yet, which the restored wallet would not have; nothing was changed. Run "
            "`cairn backup now` first, or add --leave-pending to replace it anyway (its "
            "folder is kept beside the restored wallet)",
        ) from None
    _report_restore(done.result)
    if done.replaced is not None:
        print(f"restore: the replaced wallet is kept in {done.replaced}", file=sys.stderr)
    return _RESTORE_EXIT[done.result.outcome]


def _restore_printer() -> Callable[[RestoreProgress], None]:
    last = [0.0]

    def show(p: RestoreProgress) -> None:
        now = time.monotonic()
        if p.phase == "downloading" and now - last[0] < 0.5:
            return
        last[0] = now
        print(
            f"restore: {p.phase}: {p.done}/{p.total} objects, {p.bytes_received} bytes",
            file=sys.stderr,
        )

    return show


def _report_restore(result: RestoreResult) -> None:
    if result.outcome is RestoreOutcome.RESTORED:
        when = (
            time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(result.backup_time))
            if result.backup_time
            else "unknown"
        )
        print(f"restored {result.records} records ({result.bytes} bytes); backup as of {when}")
    elif result.outcome is RestoreOutcome.INCOMPLETE:
        print(
            f"restore refused: {result.detail}. Nothing was changed. Let that device finish "
            "its backup (start Cairn there, or run `cairn backup now`) and restore again, or "
            "add --incomplete to restore what the backup holds now"
        )
    else:
        print(f"restore {result.outcome.value}: {result.detail}")
