"""Headless backup commands for QA and scripting: `cairn backup ...`, `cairn sync`, `cairn restore`.

They work on a data dir (`--data-dir`, else $CAIRN_DATA_DIR, else the platform's) without the
GUI. The recovery words are read from standard input or `--words-file`, never from the command
line, where every other user of the machine could read them. Exit codes (distinct per outcome):
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from cairn.backup.client import BackupError, BackupUnreachable, RateLimited
from cairn.backup.conflicts import list_conflicts, resolve_conflict
from cairn.backup.errors import BackupCorrupt, BackupErased
from cairn.backup.fullbackup import FullBackupProgress
from cairn.backup.roundlock import RoundLock
from cairn.backup.service import BackupService
from cairn.commands.arguments import CommandExit, Parser
from cairn.commands.restore import restore_command
from cairn.config import load_config, resolve_data_dir, wallet_dir
from cairn.exitcodes import (
    EXIT_CODES,
    EXIT_CORRUPT,
    EXIT_ERASED,
    EXIT_NO_WALLET,
    EXIT_OK,
    EXIT_PENDING,
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    exit_code_table,
)
from cairn.keys import (
    Network,
    derive_backup_keys,
    mnemonic_to_seed,
)
from cairn.localfaults import local_fault, told_as_local_fault
from cairn.seedfile import load_seed, seed_exists
from cairn.serverurl import server_url_problem
from cairn.storage import AsyncRecordStore, RecordStore, SqliteStore
from cairn.wallet.errors import RecordsNotOfThisSeed
from cairn.wallet.persistence import records_of_another_seed

__all__ = ["EXIT_CODES", "main"]

RECORDS_FILE = "records.sqlite"

__doc__ = (__doc__ or "") + "\n".join(f"    {k}  {v}" for k, v in EXIT_CODES.items()) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="cairn",
        description="Back up and restore a Cairn wallet without the GUI.",
        epilog="exit codes:\n" + exit_code_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    backup = commands.add_parser("backup", help="show the backup status or back up now")
    actions = backup.add_subparsers(dest="action", required=True)
    for name, text in (
        ("status", "what is backed up, what is pending, the last error"),
        (
            "now",
            "pull what other devices wrote, run a full backup if one is required, then "
            "upload every pending change",
        ),
        ("conflicts", "list the records two devices changed at once, with every value kept"),
        ("dismiss", "dismiss the notice of a rollback or of an erase elsewhere"),
        ("start-again", "after the backup was deleted from another device: back up here again"),
    ):
        action = actions.add_parser(name, help=text)
        _common(action)
        action.add_argument("--json", action="store_true", help="machine-readable output")
    resolve = actions.add_parser(
        "resolve", help="settle a conflict: keep one of its values (see `backup conflicts`)"
    )
    _common(resolve)
    resolve.add_argument("name", help="the record name the conflict is about")
    resolve.add_argument(
        "--keep", type=int, required=True, help="the number of the value to keep (from 1)"
    )
    resolve.add_argument("--json", action="store_true", help="machine-readable output")
    sync = commands.add_parser(
        "sync",
        help="pull what other devices wrote, merge, push once; exit 0 only if nothing is left",
    )
    _common(sync)
    sync.add_argument("--json", action="store_true", help="machine-readable output")
    restore = commands.add_parser("restore", help="restore the wallet from its recovery words")
    _common(restore)
    restore.add_argument(
        "--words-file",
        type=Path,
        help="file with the recovery words (first line, or one word a line) and an optional "
        "BIP39 passphrase (second line, exactly as typed); default: standard input",
    )
    restore.add_argument("--server", help="backup server URL (default: from config.json)")
    restore.add_argument("--force", action="store_true", help="replace an existing wallet")
    restore.add_argument(
        "--leave-pending",
        action="store_true",
        help="with --force: replace it even though it has changes not backed up yet "
        "(they stay only in the folder it is moved to)",
    )
    restore.add_argument(
        "--incomplete",
        action="store_true",
        help="restore even a backup that a device's full backup has not finished filling "
        "(it may lack records that device holds)",
    )
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", help="data directory (default: $CAIRN_DATA_DIR or the platform's)"
    )
    parser.add_argument(
        "--network", choices=[n.value for n in Network], help="default: from config.json"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`cairn backup status|now ...` or `cairn restore ...` (argv without the program name)."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))

    def run() -> int:
        try:
            if args.command == "restore":
                return asyncio.run(restore_command(args))
            if args.command == "sync":
                args.action = "now"
            return asyncio.run(_backup(args))
        except CommandExit as exc:
            print(f"cairn: {exc}", file=sys.stderr)
            return exc.code

    # A damaged, unreadable or full data dir: one line naming the file, never a traceback.
    return told_as_local_fault(run)


# --- backup status / now -----------------------------------------------------------------


async def _backup(args: argparse.Namespace) -> int:
    data_dir = resolve_data_dir(args.data_dir)
    config = load_config(data_dir)
    network = Network(args.network) if args.network else config.network
    wallet = wallet_dir(data_dir, network)
    records = wallet / RECORDS_FILE
    if not records.exists() or not seed_exists(wallet):
        raise CommandExit(EXIT_NO_WALLET, f"no {network.value} wallet in {data_dir}")
    if not config.backup_server_url:
        raise CommandExit(EXIT_USAGE, "no backup server is configured in config.json")
    problem = server_url_problem(config.backup_server_url)
    if problem is not None:
        raise CommandExit(
            EXIT_USAGE,
            f"the backup server {config.backup_server_url!r} in config.json is refused: "
            f"{problem} Change it in Settings or in config.json",
        )
    phrase, passphrase = load_seed(wallet)  # a damaged seed file: see told_as_local_fault in main()
    seed = mnemonic_to_seed(phrase, passphrase)
    store = AsyncRecordStore(SqliteStore(records))
    try:
        _refuse_records_of_another_seed(store.store, seed, network, records)
    except BaseException:
        await store.aclose()
        raise
    keys = derive_backup_keys(seed)
    service = BackupService(
        store,
        keys,
        network.value,
        config.backup_server_url,
        invite=config.backup_invite,
        round_lock=RoundLock.beside(records),
    )
    try:
        await service.prepare()
        if args.action == "now":
            return await _backup_now(service, as_json=args.json)
        if args.action in ("conflicts", "resolve"):
            return await _conflicts(service, args)
        if args.action == "dismiss":
            await service.dismiss_notice()
        elif args.action == "start-again":
            await service.start_again()
            return await _backup_now(service, as_json=args.json)
        return _print_status(service, as_json=args.json)
    finally:
        await service.stop()
        await store.aclose()


def _refuse_records_of_another_seed(
    store: RecordStore, seed: bytes, network: Network, records: Path
) -> None:
    # The wallet refuses such records when it opens; the backup runs without opening it, and
    # would upload one wallet's records into the backup of another seed (a swapped seed file).
    problem = records_of_another_seed(store, seed, network)
    if problem is not None:
        raise RecordsNotOfThisSeed(f"{records}: {problem}")


async def _backup_now(service: BackupService, *, as_json: bool) -> int:
    service.set_progress(_full_progress_printer(sys.stderr))
    started = time.monotonic()
    code, error = EXIT_OK, None
    try:
        sent = await service.backup_now()
    except (BackupUnreachable, RateLimited) as exc:
        sent, code, error = 0, EXIT_UNREACHABLE, str(exc)
    except BackupCorrupt as exc:
        sent, code, error = 0, EXIT_CORRUPT, str(exc)
    except BackupErased as exc:
        sent, code, error = 0, EXIT_ERASED, str(exc)
    except BackupError as exc:
        if local_fault(exc) is not None:
            raise  # the data dir's, not the server's: one line and its code (main)
        sent, code, error = 0, EXIT_REFUSED, str(exc)
    status = service.status.current
    if code == EXIT_OK and (status.pending_changes or status.full_backup_reason):
        code = EXIT_PENDING
    if as_json:
        report = _status_json(service)
        report.update(sent=sent, seconds=round(time.monotonic() - started, 3), error=error)
        print(json.dumps(report, sort_keys=True))
    else:
        if error:
            print(f"backup failed: {error}")
        else:
            print(f"backed up {sent} record(s) in {time.monotonic() - started:.2f} s")
        _print_status(service, as_json=False)
    return code


def _print_status(service: BackupService, *, as_json: bool) -> int:
    if as_json:
        print(json.dumps(_status_json(service), sort_keys=True))
        return EXIT_OK
    s = service.status.current
    last = (
        time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(s.last_success))
        if s.last_success
        else "never"
    )
    print(f"server:          {s.server_url}")
    print(f"state:           {s.state.value}")
    print(f"last backup:     {last}")
    # Values as stored here; what goes up is sealed (encrypted, maybe compressed), so the
    # bytes a backup reports sending differ from these.
    print(
        f"pending:         {s.pending_changes} change(s), {s.pending_bytes} bytes of record values"
    )
    print(
        f"full backup:     {'required: ' + s.full_backup_reason if s.full_backup_reason else 'not required'}"
    )
    print(f"conflicts kept:  {s.conflicts}")
    if s.notice:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(s.notice_at or 0))
        print(f"notice:          {s.notice} ({when}; `cairn backup dismiss` to clear)")
    if s.last_error:
        print(f"last error:      {s.last_error}")
    return EXIT_OK


def _status_json(service: BackupService) -> dict[str, object]:
    s = service.status.current
    return {
        "server": s.server_url,
        "state": s.state.value,
        "last_success": s.last_success,
        "pending_changes": s.pending_changes,
        "pending_bytes": s.pending_bytes,
        "full_backup_required": s.full_backup_reason,
        "conflicts": s.conflicts,
        "last_error": s.last_error,
        "rollback_detected": s.rollback_detected,
        "notice": s.notice,
        "notice_kind": s.notice_kind,
        "notice_at": s.notice_at,
    }


async def _conflicts(service: BackupService, args: argparse.Namespace) -> int:
    conflicts = await list_conflicts(service.store)
    if args.action == "resolve":
        found = next((c for c in conflicts if c.name == args.name), None)
        if found is None:
            raise CommandExit(EXIT_USAGE, "there is no conflict about that record")
        if not 1 <= args.keep <= len(found.candidates):
            raise CommandExit(EXIT_USAGE, f"--keep must be from 1 to {len(found.candidates)}")
        await resolve_conflict(service.store, found, args.keep - 1)
        await _backup_now(service, as_json=args.json)
        return EXIT_OK
    if args.json:
        print(json.dumps([c.to_json() for c in conflicts], sort_keys=True))
        return EXIT_OK
    if not conflicts:
        print("no conflicts")
    for conflict in conflicts:
        print(f"{conflict.name}:")
        for number, candidate in enumerate(conflict.candidates, start=1):
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(candidate.clock[0] / 1000))
            value = "(deleted)" if candidate.value is None else _shown(candidate.value)
            print(f"  {number}. {value}  — device {candidate.device.hex()[:8]}, {when}")
    return EXIT_OK


def _shown(value: bytes) -> str:
    text = value.decode("utf-8", "replace")
    return text if len(text) <= 80 else text[:77] + "..."


def _full_progress_printer(out: TextIO) -> Callable[[FullBackupProgress], None]:
    compared = [False]  # the first report comes before the comparison, the next after it

    def show(p: FullBackupProgress) -> None:
        if p.total == 0:
            done = "the server has every record already"
            text = done if compared[0] else "comparing every record with the server"
            compared[0] = True
            print(f"full backup: {text}", file=out)
            return
        compared[0] = True
        print(
            f"full backup: {p.done}/{p.total} records, {p.bytes_sent} bytes sealed and sent",
            file=out,
        )

    return show


if __name__ == "__main__":
    sys.exit(main())
