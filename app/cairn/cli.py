"""`cairn`: the desktop app, the demo, and the devnet/backup/restore/wallet tools.

cairn [--data-dir DIR] [--quit-when-ready] [--offscreen] [bitcoin:…]   open the app (with a
                                     payment link: in Send, or in the app already running)
cairn demo [...]                     the app against a local devnet and backup server
cairn devnet ...                     a simulated regtest chain (cairn.devnet.cli)
cairn backup ... | cairn restore ... backups from the command line (cairn.commands.backup)
cairn wallet create ...              a wallet without the GUI (scripts, smoke tests)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn import __version__, logredact
from cairn.commands.arguments import CommandExit, Parser, read_input
from cairn.exitcodes import (
    EXIT_BUSY,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    EXIT_WALLET_EXISTS,
    exit_code_table,
)

if TYPE_CHECKING:
    from cairn.session import Session

log = logging.getLogger("cairn")

DELEGATED = ("devnet", "backup", "restore", "sync")
# cairn.commands.wallet
WALLET_SUBCOMMANDS = ("label", "labels", "prefs", "receive", "send", "history")
WALLET_SUBCOMMAND_HELP = {
    "label": "set, get, list or import labels (BIP-329); `labels` is another name",
    "prefs": "set, get or list preferences",
    "receive": "reserve and print the next unused receive address",
    "send": "pay an address (shows the payment and asks before it is sent)",
    "history": "sync with the chain, then print the balance and every payment",
}
# The app's option that the other commands take too: given before the command, it is theirs.
SHARED_OPTION = "--data-dir"


def _app_options(parser: argparse.ArgumentParser, *, sub: bool = False) -> None:
    # On a subcommand, options left out must not overwrite those given before it.
    extra: dict[str, Any] = {"default": argparse.SUPPRESS} if sub else {}
    parser.add_argument(
        "--data-dir",
        **extra,
        help="where Cairn keeps its data (env CAIRN_DATA_DIR; default: the platform's user "
        "data dir)",
    )
    parser.add_argument(
        "--quit-when-ready",
        action="store_true",
        **extra,
        help="exit 0 as soon as the first window is ready (start-up smoke tests)",
    )
    parser.add_argument(
        "--offscreen",
        action="store_true",
        **extra,
        help="render without a display (QT_QPA_PLATFORM=offscreen), for tests",
    )
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        **(extra or {"default": "warning"}),
    )


class _Parser(Parser):
    """Takes a `bitcoin:` link anywhere on the command line (a desktop's link handler passes
    it as `cairn %u`) as ``payment_link``, so it never reads as an unknown subcommand."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        given = list(sys.argv[1:] if args is None else args)
        links = [a for a in given if a.lower().startswith("bitcoin:")]
        parsed, extras = super().parse_known_args([a for a in given if a not in links], namespace)
        parsed.payment_link = links[0] if links else getattr(parsed, "payment_link", None)
        return parsed, extras


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cairn",
        description="Cairn: a Bitcoin wallet that backs up every change and restores everything "
        "from twelve words.",
        epilog="Also: `cairn devnet ...`, `cairn backup ...`, `cairn restore ...` (see their "
        "--help).\n\nexit codes (the app, `wallet`, `backup` and `restore`):\n" + exit_code_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cairn {__version__}")
    _app_options(parser)
    commands = parser.add_subparsers(dest="command")
    demo = commands.add_parser(
        "demo",
        help="open the app against a local simulated chain and backup server (regtest)",
        description="Starts `cairn devnet` and `cairn-backupd` on loopback, opens the app against "
        "them, and stops them when the app exits. Data lives in <data dir>/demo.",
    )
    _app_options(demo, sub=True)
    wallet = commands.add_parser("wallet", help="wallet tools without the GUI")
    wallet_commands = wallet.add_subparsers(dest="wallet_command", required=True)
    create = wallet_commands.add_parser("create", help="create a wallet from recovery words")
    create.add_argument("--data-dir", help="data dir (as for the app)")
    create.add_argument(
        "--network", choices=["bitcoin", "testnet", "signet", "regtest"], default=None
    )
    create.add_argument(
        "--words-stdin", action="store_true", help="read the recovery words from standard input"
    )
    create.add_argument(
        "--no-backup", action="store_true", help="do not upload the first backup now"
    )
    # Parsed by cairn.commands.wallet (main() hands them over before this parser runs); here
    # so that `cairn wallet --help` lists them.
    for name, text in WALLET_SUBCOMMAND_HELP.items():
        wallet_commands.add_parser(name, help=text, add_help=False)
    return parser


def has_display() -> bool:
    if sys.platform != "linux":
        return True
    if os.environ.get("QT_QPA_PLATFORM", "").startswith(("offscreen", "minimal", "vnc")):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


NO_DISPLAY = (
    "cairn: no display found. Cairn is a desktop app and needs a graphical session "
    "(X11 or Wayland).\n"
    "  - On a desktop, run it from a terminal inside the session.\n"
    "  - Over SSH, use `ssh -X`, or run headless under a virtual display: "
    "`xvfb-run -a cairn ...` (apt-get install xvfb).\n"
    "  - For automated checks, add --offscreen."
)


def _run_gui(data_dir: Path, args: argparse.Namespace) -> int:
    if args.offscreen:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if not has_display():
        print(NO_DISPLAY, file=sys.stderr)
        return EXIT_USAGE
    # The app's imports make tens of thousands of objects that live as long as it does; the
    # collector's passes over them cost about a tenth of the start. run() freezes them and
    # turns it back on before the window opens.
    gc.disable()
    from cairn.ui.app import run

    return run(
        data_dir,
        quit_when_ready=args.quit_when_ready,
        payment_link=getattr(args, "payment_link", None),
    )


def _demo(args: argparse.Namespace) -> int:
    from cairn.config import resolve_data_dir
    from cairn.demo import DemoError, DemoServices, demo_config, stop_on_termination

    if args.offscreen:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if not has_display():
        print(NO_DISPLAY, file=sys.stderr)
        return 2
    data_dir = resolve_data_dir(args.data_dir) / "demo"
    print(f"cairn demo: data in {data_dir}", file=sys.stderr)
    try:
        # Ctrl+C or SIGTERM at any moment stop the app and both services, none left behind.
        with stop_on_termination(), DemoServices(data_dir) as services:
            demo_config(data_dir, services)
            print(
                f"cairn demo: devnet at {services.devnet_url}, "
                f"backup server at {services.backupd_url}",
                file=sys.stderr,
            )
            code = _run_gui(data_dir, args)
        print("cairn demo: stopped the app, the devnet and the backup server", file=sys.stderr)
        return code
    except DemoError as exc:
        print(f"cairn demo: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "cairn demo: interrupted; the devnet and the backup server are stopped", file=sys.stderr
        )
        return 130


def _wallet_create(args: argparse.Namespace) -> int:
    from cairn.config import resolve_data_dir
    from cairn.keys import InvalidMnemonic, validate_mnemonic

    if not args.words_stdin:
        print(
            "cairn wallet create: pass the words on standard input with --words-stdin",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        phrase = validate_mnemonic(read_input("the recovery words"))
    except CommandExit as exc:
        print(f"cairn: {exc}", file=sys.stderr)
        return exc.code
    except InvalidMnemonic as exc:
        # The words never go to the terminal: say where, not what.
        print(f"cairn: {exc.message_without_words}", file=sys.stderr)
        return EXIT_USAGE
    from cairn.localfaults import told_as_local_fault

    return told_as_local_fault(
        lambda: asyncio.run(_create_wallet(resolve_data_dir(args.data_dir), args, phrase))
    )


async def _create_wallet(data_dir: Path, args: argparse.Namespace, phrase: str) -> int:
    from cairn.backup.client import BackupUnreachable
    from cairn.keys import Network
    from cairn.session import Session, SessionError
    from cairn.walletlock import WalletBusy, WalletExists

    session = await Session.open(data_dir)
    saved = session.config
    if args.network:
        session.config = session.config.with_changes(network=Network(args.network))
        if session.config.chain_url is None:
            # Regtest has no public server: the devnet's default address.
            session.config = session.config.with_changes(esplora_url="http://127.0.0.1:3002")
    if session.has_wallet:
        return _wallet_exists(session)
    try:
        await session.create_wallet(phrase.split(), save_settings=session.config != saved)
        if not args.no_backup:
            await session.run_initial_backup()
    except WalletExists:  # another program created it since
        return _wallet_exists(session)
    except WalletBusy as exc:
        print(f"cairn: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except SessionError as exc:
        if not session.has_wallet:
            print(f"cairn: {exc}", file=sys.stderr)
            return EXIT_USAGE  # nothing was created: no chain server is set
        print(
            f"cairn: the wallet was created in {session.wallet_dir}, but its first backup "
            f"failed: {exc}",
            file=sys.stderr,
        )
        unreachable = isinstance(exc.__cause__, BackupUnreachable)
        return EXIT_UNREACHABLE if unreachable else EXIT_REFUSED
    finally:
        await session.close()
    from cairn.localfaults import tell_done

    made = f"created a {session.network} wallet in {session.wallet_dir}"
    tell_done(made, done=made)
    return EXIT_OK


def _wallet_exists(session: Session) -> int:
    print(
        f"cairn: a {session.network} wallet already exists in {session.wallet_dir}",
        file=sys.stderr,
    )
    return EXIT_WALLET_EXISTS


def _data_dir_argument(argv: Sequence[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--data-dir" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--data-dir="):
            return arg.split("=", 1)[1]
    return None


def _upgrade_before_headless_command(command: str, argv: Sequence[str]) -> int | None:
    """Bring a first-release wallet to the current format, as the app does on start.

    `cairn backup` and `cairn restore` must never act on a format-1 directory: a backup would
    not find the wallet, and a restore would land beside the old files. `restore --force` is
    the exception: it sets the whole wallet folder aside, whatever its format or damage, so
    the recovery works however broken the folder is. None when all is well, else the exit code.
    """
    from cairn.config import resolve_data_dir
    from cairn.upgrade import UpgradeResult, upgrade_data_dir

    if command == "restore" and "--force" in argv:
        return None
    from cairn.localfaults import told_as_local_fault

    results: list[UpgradeResult] = []

    def upgrade() -> int:
        results.extend(upgrade_data_dir(resolve_data_dir(_data_dir_argument(argv))))
        return EXIT_OK

    code = told_as_local_fault(upgrade, doing="the wallet could not be upgraded")
    if code != EXIT_OK:
        return code
    for result in results:
        if result.migrated:
            print(
                f"cairn: upgraded {result.wallet_dir} to the current format; "
                "a full backup is required",
                file=sys.stderr,
            )
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Before anything logs: store URLs carry the user's node id (see cairn.logredact).
    logredact.install()
    if argv[:1] == ["__restore-worker"]:
        # Internal: the restore's child process in a bundled app (see cairn.backup.restore_worker).
        from cairn.backup.restore_worker import main as restore_worker_main

        return restore_worker_main()
    argv = _shared_option_moved_after_the_command(argv)
    if argv[:1] == ["wallet"] and argv[1:2] and argv[1] in WALLET_SUBCOMMANDS:
        upgraded = _upgrade_before_headless_command("wallet", argv[1:])
        if upgraded is not None:
            return upgraded
        from cairn.commands.wallet import main as wallet_main

        return wallet_main(argv[1:])
    if argv and argv[0] in DELEGATED:
        command, rest = argv[0], argv[1:]
        if command == "devnet":
            from cairn.devnet.cli import main as devnet_main

            return devnet_main(rest)
        upgraded = _upgrade_before_headless_command(command, rest)
        if upgraded is not None:
            return upgraded
        from cairn.commands.backup import main as backup_main

        return backup_main(argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper() if hasattr(args, "log_level") else "WARNING",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command == "demo":
        return _demo(args)
    if args.command == "wallet":
        return _wallet_create(args)
    from cairn.config import resolve_data_dir

    return _run_gui(resolve_data_dir(args.data_dir), args)


def _shared_option_moved_after_the_command(argv: list[str]) -> list[str]:
    """`cairn --data-dir D backup now` as `cairn backup now --data-dir D` (and so for restore,
    sync and the wallet tools): they parse their own options, given after the command."""
    given: list[str] = []
    rest = argv
    while rest[:1] and (rest[0] == SHARED_OPTION or rest[0].startswith(SHARED_OPTION + "=")):
        take = 1 if "=" in rest[0] else 2
        given, rest = given + rest[:take], rest[take:]
    if given and rest[:1] and rest[0] in (*DELEGATED[1:], "wallet"):
        return [*rest, *given]
    return argv


if __name__ == "__main__":
    sys.exit(main())
