"""Headless wallet commands on a data dir, for scripts and QA: labels, preferences, addresses.

    cairn wallet label set TYPE REF TEXT | get TYPE REF | list | import FILE
    cairn wallet prefs set NAME VALUE | get NAME | list
    cairn wallet receive
    cairn wallet send ADDRESS AMOUNT --fee-rate R [--memo TEXT] [--yes]
    cairn wallet history [--json]

Labels and preferences are written to the wallet's records as the app writes them (queued for
backup; `cairn sync` sends them). `receive` opens the wallet, reserves the next unused address
against the other devices on this seed (when a backup server is set and reachable) and prints it;
`send` shows a payment and sends it once confirmed (cairn.commands.send), then prints its txid.
`label import` merges a BIP-329 file (from Sparrow, Electrum or `label list`; `-` reads standard
input) and prints what it imported and skipped; `labels` is another name for `label`.
A txid or a bech32 address names the same label in upper or lower case; a base58 address is
taken as written. A label or preference that is not there is said on stderr (exit 13).
Exit codes: 0 done, 2 bad arguments (or an import that skipped lines: the valid ones are imported
all the same), 7 no wallet in this data dir, 13 no such label or preference, 141 the output could
not be written; `send --help` and `history --help` list theirs (4: the chain server cannot be
reached, 16: a payment not confirmed at its prompt).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from cairn.commands.arguments import CommandExit, Parser, read_input_bytes
from cairn.commands.history import add_history_parser, history_command
from cairn.commands.send import add_send_parser, back_up_now_or_later, send_command
from cairn.config import load_config, resolve_data_dir, wallet_dir
from cairn.events import EventBus
from cairn.exitcodes import (
    EXIT_NO_WALLET,
    EXIT_NOT_FOUND,
    EXIT_OUTPUT_CLOSED,
    EXIT_REFUSED,
    EXIT_USAGE,
)
from cairn.keys import Network
from cairn.localfaults import output_is_open, told_as_local_fault, write_output
from cairn.onboarding.validation import email_problem
from cairn.seedfile import seed_exists
from cairn.storage import SqliteStore
from cairn.usererrors import printable
from cairn.wallet.amounts import Unit
from cairn.wallet.errors import AddressNotReserved
from cairn.wallet.labels import (
    LABEL_TYPES,
    MAX_IMPORT_BYTES,
    LabelBook,
    LabelError,
    canonical_label_ref,
)
from cairn.wallet.preferences import (
    EMAIL_PREFERENCE,
    UNIT_PREFERENCE,
    Preferences,
    check_preference_value,
)

__all__ = ["SUBCOMMANDS", "main"]

SUBCOMMANDS = ("label", "labels", "prefs", "receive", "send", "history")
RECORDS_FILE = "records.sqlite"
MAX_LINES_NAMED = 100  # skipped lines named one by one on stderr; the rest are counted


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="cairn wallet", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    label = commands.add_parser(
        "label", aliases=["labels"], help="set, get, list or import BIP-329 labels"
    )
    label_actions = label.add_subparsers(dest="action", required=True)
    label_set = label_actions.add_parser("set", help="set (or, with an empty TEXT, remove) a label")
    label_set.add_argument("type", choices=LABEL_TYPES)
    label_set.add_argument("ref")
    label_set.add_argument("text")
    label_get = label_actions.add_parser("get", help="print one label")
    label_get.add_argument("type", choices=LABEL_TYPES)
    label_get.add_argument("ref")
    label_actions.add_parser("list", help="every label as BIP-329 JSON lines")
    label_import = label_actions.add_parser(
        "import", help="merge a BIP-329 file (Sparrow, Electrum, `label list`) into the labels"
    )
    label_import.add_argument("file", help="the BIP-329 JSONL file, or - for standard input")
    prefs = commands.add_parser("prefs", help="set, get or list preferences")
    prefs_actions = prefs.add_subparsers(dest="action", required=True)
    prefs_set = prefs_actions.add_parser("set", help="set (or, with an empty VALUE, remove) one")
    prefs_set.add_argument("name")
    prefs_set.add_argument("value")
    prefs_get = prefs_actions.add_parser("get", help="print one preference")
    prefs_get.add_argument("name")
    prefs_actions.add_parser("list", help="every preference as JSON")
    commands.add_parser("receive", help="reserve and print the next unused receive address")
    add_send_parser(commands)
    add_history_parser(commands)
    for sub in (
        label_set,
        label_get,
        label_import,
        prefs_set,
        prefs_get,
        commands.choices["receive"],
        commands.choices["send"],
        commands.choices["history"],
    ):
        _common(sub)
    for sub in (label_actions.choices["list"], prefs_actions.choices["list"]):
        _common(sub)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="data directory (as for the app)")
    parser.add_argument("--network", choices=[n.value for n in Network])


def main(argv: Sequence[str]) -> int:
    """`cairn wallet label|prefs|receive ...` (argv after `wallet`)."""
    args = build_parser().parse_args(list(argv))
    if _prints(args) and not output_is_open():
        # Checked before anything is opened: a payment sent or an address handed out that
        # could not be told would be lost to the script that asked for it.
        print("cairn: standard output is closed; nothing was done", file=sys.stderr)
        return EXIT_OUTPUT_CLOSED
    # A damaged store, config or seed file, or a full disk: one line and its exit code.
    return told_as_local_fault(lambda: _run(args))


def _prints(args: argparse.Namespace) -> bool:
    """Whether the command's answer goes to standard output (all but `set`)."""
    return getattr(args, "action", None) != "set"


def _run(args: argparse.Namespace) -> int:
    data_dir = resolve_data_dir(args.data_dir)
    config = load_config(data_dir)
    network = Network(args.network) if args.network else config.network
    wallet = wallet_dir(data_dir, network)
    records = wallet / RECORDS_FILE
    if not records.exists() or not seed_exists(wallet):
        print(f"cairn: no {network.value} wallet in {data_dir}", file=sys.stderr)
        return EXIT_NO_WALLET
    if args.command == "receive":
        return asyncio.run(_receive(data_dir))
    if args.command == "send":
        return asyncio.run(send_command(data_dir, args))
    if args.command == "history":
        return asyncio.run(history_command(data_dir, args))
    store = SqliteStore(records)
    try:
        if args.command in ("label", "labels"):
            return _label(LabelBook(store, EventBus()), args, network)
        return _prefs(Preferences(store, EventBus()), args)
    finally:
        store.close()


def _label(book: LabelBook, args: argparse.Namespace, network: Network) -> int:
    if args.action == "import":
        return _import_labels(book, args.file, network)
    if args.action == "list":
        write_output(book.export_jsonl(), end="")
        return 0
    try:
        ref = canonical_label_ref(args.type, args.ref)
        if args.action == "get":
            return _print_label(book, args.type, ref)
        book.set(args.type, ref, args.text or None, network)
    except LabelError as exc:
        print(f"cairn: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def _print_label(book: LabelBook, type_: str, ref: str) -> int:
    text = book.get(type_, ref)
    if text is None:
        print(f"cairn: no {type_} label for {ref}", file=sys.stderr)
        return EXIT_NOT_FOUND
    write_output(printable(text))
    return 0


def _import_labels(book: LabelBook, file: str, network: Network) -> int:
    try:
        if file == "-":
            data = read_input_bytes("the labels", MAX_IMPORT_BYTES + 1)
        else:
            with open(file, "rb") as handle:
                data = handle.read(MAX_IMPORT_BYTES + 1)
    except OSError as exc:
        print(f"cairn: cannot read {file}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    except CommandExit as exc:
        print(f"cairn: {exc}", file=sys.stderr)
        return exc.code
    try:
        result = book.import_jsonl(data, network)
    except LabelError as exc:
        print(f"cairn: {file} was not imported: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for error in result.errors[:MAX_LINES_NAMED]:
        print(f"cairn: {file}: line {error.line} skipped: {error.reason}", file=sys.stderr)
    if len(result.errors) > MAX_LINES_NAMED:
        more = len(result.errors) - MAX_LINES_NAMED
        print(f"cairn: {file}: {more:,} more lines skipped", file=sys.stderr)
    write_output(result.summary())
    return EXIT_USAGE if result.errors else 0


def checked_preference(name: str, value: str) -> str | None:
    """The value to store for `name` (None: remove it); ValueError for one the app would not
    understand. The preferences the app reads are checked as its settings check them."""
    check_preference_value(value)
    text = value.strip()
    if not text:
        return None
    if name == UNIT_PREFERENCE:
        units = {u.value.lower(): u.value for u in Unit}
        if text.lower() not in units:
            raise ValueError(f"unit is one of {', '.join(u.value for u in Unit)}")
        return units[text.lower()]
    if name == EMAIL_PREFERENCE:
        problem = email_problem(text)
        if problem is not None:
            raise ValueError(problem)
        return text
    return value


def _prefs(preferences: Preferences, args: argparse.Namespace) -> int:
    try:
        if args.action == "list":
            write_output(json.dumps(preferences.all(), sort_keys=True))
            return 0
        if args.action == "get":
            value = preferences.get(args.name)
            if value is None:
                print(f"cairn: no preference {args.name} is set", file=sys.stderr)
                return EXIT_NOT_FOUND
            write_output(printable(value))
            return 0
        preferences.set(args.name, checked_preference(args.name, args.value))
    except ValueError as exc:
        print(f"cairn: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0


async def _receive(data_dir: Path) -> int:
    from cairn.session import Session, SessionError

    session = await Session.open(data_dir)
    try:
        await session.open_existing()
        address = await session.wallet.next_receive_address()
        await back_up_now_or_later(session, "the address")
    except SessionError as exc:
        print(f"cairn: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except AddressNotReserved as exc:
        print(f"cairn: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    finally:
        await session.close()
    write_output(f"{address.address} {address.index}")
    return 0
