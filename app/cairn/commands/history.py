"""`cairn wallet history [--json]`: the balance and every payment, as the app's Activity shows them.

The wallet is brought up to date with the chain first (and with the other devices' labels, by
a sync with the backup server when one is set). Text output is one line a payment, newest
first; `--json` prints one object with the balance and the payments, amounts in satoshis.
When the chain server cannot be reached, what the wallet last knew is printed and the exit
code is 4.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.exitcodes import (
    EXIT_DAMAGED,
    EXIT_NO_WALLET,
    EXIT_NOT_WRITTEN,
    EXIT_OK,
    EXIT_OUTPUT_CLOSED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    exit_code_table,
)
from cairn.localfaults import write_output
from cairn.usererrors import printable
from cairn.wallet.amounts import Unit, format_amount

if TYPE_CHECKING:
    from cairn.wallet.history import Balance, HistoryItem

__all__ = ["add_history_parser", "history_command"]

EXIT_CODES_OF_HISTORY = (
    EXIT_OK,
    EXIT_USAGE,
    EXIT_UNREACHABLE,
    EXIT_NO_WALLET,
    EXIT_DAMAGED,
    EXIT_NOT_WRITTEN,
    EXIT_OUTPUT_CLOSED,
)


def add_history_parser(commands: argparse._SubParsersAction[Any]) -> None:
    history = commands.add_parser(
        "history",
        help="sync with the chain, then print the balance and every payment",
        description="Sync with the backup server and the chain, then print the balance and "
        "every payment, newest first. When the chain server cannot be reached, what the wallet "
        "last knew is printed and the exit code is 4.",
        epilog="exit codes:\n" + exit_code_table(codes=EXIT_CODES_OF_HISTORY),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    history.add_argument("--json", action="store_true", help="machine-readable output")


async def history_command(data_dir: Path, args: argparse.Namespace) -> int:
    from cairn.session import Session, SessionError
    from cairn.wallet.errors import ChainUnavailable

    session = await Session.open(data_dir)
    try:
        await session.open_existing()
        wallet = session.wallet
        if session.backup_server_url:
            try:
                await session.back_up_now()  # and the labels other devices gave, merged in
            except SessionError as exc:
                print(f"cairn: {exc} (shown without other devices' changes)", file=sys.stderr)
            await asyncio.to_thread(wallet.reload_shared_records)
        synced = await wallet.sync()
        balance, items = wallet.balance(), wallet.history()
    except ChainUnavailable as exc:
        print(f"cairn: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except SessionError as exc:
        print(f"cairn: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        await session.close()
    if args.json:
        write_output(json.dumps(_as_json(balance, items), sort_keys=True))
    else:
        write_output(_as_text(balance, items))
    if synced.error is not None:
        print(f"cairn: {synced.error}; shown as of the last sync", file=sys.stderr)
        return EXIT_UNREACHABLE
    return EXIT_OK


def _as_json(balance: Balance, items: list[HistoryItem]) -> dict[str, object]:
    return {
        "balance": {
            "confirmed_sat": balance.confirmed_sat,
            "pending_sat": balance.pending_sat,
            "spendable_sat": balance.spendable_sat,
        },
        "transactions": [
            {
                "txid": item.txid,
                "direction": item.direction.value,
                "amount_sat": item.amount_sat,
                "fee_sat": item.fee_sat,
                "confirmations": item.confirmations,
                "height": item.height,
                "time": item.time,
                "label": item.shown_label or None,
            }
            for item in items
        ],
    }


def _as_text(balance: Balance, items: list[HistoryItem]) -> str:
    lines = [
        f"spendable: {format_amount(balance.spendable_sat, Unit.BTC)}"
        f" (incoming {format_amount(balance.pending_sat - balance.own_pending_sat, Unit.BTC)})"
    ]
    for item in items:
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(item.time)) if item.time else "?"
        state = f"{item.confirmations} conf" if item.confirmed else "unconfirmed"
        label = printable(item.shown_label)
        lines.append(
            f"{when}  {item.direction.value:<4} {format_amount(item.amount_sat, Unit.BTC):>18}"
            f"  {state:<12} {item.txid}  {label}".rstrip()
        )
    return "\n".join(lines)
