"""`cairn wallet send ADDRESS AMOUNT --fee-rate R`: a payment from the command line.

The wallet is brought up to date with the chain first, then the payment is planned and shown
(amount, fee, total, change) as the app's review shows it. It is signed and sent only after
the user types `y`, or with `--yes` when no one is at the terminal (a script). Afterwards the
payment record goes to the backup server like any other change.

    AMOUNT  "0.001" (BTC), "0.001 BTC", "100000 sat", or "max" for everything spendable
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.commands.arguments import stdin_is_terminal
from cairn.exitcodes import (
    EXIT_DAMAGED,
    EXIT_DECLINED,
    EXIT_NO_WALLET,
    EXIT_NOT_WRITTEN,
    EXIT_OK,
    EXIT_OUTPUT_CLOSED,
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    exit_code_table,
)
from cairn.localfaults import tell_done
from cairn.wallet.amounts import (
    AmountError,
    Unit,
    format_amount,
    format_fee_rate,
    parse_amount,
    parse_fee_rate,
)
from cairn.wallet.labels import LabelError, checked_label_text

if TYPE_CHECKING:
    from cairn.session import Session
    from cairn.wallet.payments import PaymentPlan

__all__ = ["add_send_parser", "back_up_now_or_later", "send_command"]

SEND_ALL = "max"
EXIT_CODES_OF_SEND = (
    EXIT_OK,
    EXIT_USAGE,
    EXIT_UNREACHABLE,
    EXIT_REFUSED,
    EXIT_NO_WALLET,
    EXIT_DAMAGED,
    EXIT_NOT_WRITTEN,
    EXIT_DECLINED,
    EXIT_OUTPUT_CLOSED,
)


def add_send_parser(commands: argparse._SubParsersAction[Any]) -> None:
    send = commands.add_parser(
        "send",
        help="pay an address (shows the payment and asks before it is sent)",
        description="Sync with the chain, show the payment (amount, fee, total, change), send "
        "it once confirmed, and print its txid.",
        epilog="exit codes:\n" + exit_code_table(codes=EXIT_CODES_OF_SEND),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    send.add_argument("address", help="the recipient's Bitcoin address")
    send.add_argument(
        "amount", help='"0.001" or "0.001 BTC", "100000 sat", or "max" for everything'
    )
    send.add_argument("--fee-rate", required=True, help="fee rate in sat/vB, e.g. 2 or 1.5")
    send.add_argument("--memo", default="", help="a note for the payment (its label)")
    send.add_argument(
        "--yes", action="store_true", help="send without asking (required without a terminal)"
    )


def _amount(text: str) -> int | None:
    if text.strip().lower() == SEND_ALL:
        return None
    return parse_amount(text, Unit.BTC)


async def send_command(data_dir: Path, args: argparse.Namespace) -> int:
    try:
        amount = _amount(args.amount)
        fee_rate = parse_fee_rate(args.fee_rate)
    except AmountError as exc:
        print(f"cairn: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        memo = checked_label_text(args.memo)
    except LabelError as exc:
        print(
            f"cairn: the memo (the payment's label) is refused: {exc}; nothing was sent",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not args.yes and not stdin_is_terminal():
        print("cairn: no terminal to confirm the payment on: add --yes to send", file=sys.stderr)
        return EXIT_USAGE

    from cairn.session import Session, SessionError
    from cairn.wallet.errors import BroadcastRejected, ChainUnavailable, WalletError

    session = await Session.open(data_dir)
    try:
        await session.open_existing()
        wallet = session.wallet
        synced = await wallet.sync()
        if synced.error is not None:
            # Planned on an old view, a payment could spend coins already spent.
            print(f"cairn: {synced.error}; nothing was sent", file=sys.stderr)
            return EXIT_UNREACHABLE
        plan = wallet.plan_payment(args.address, amount, fee_rate)
        _show(plan)
        if not args.yes and not _confirmed():
            print("cairn: not confirmed; nothing was sent", file=sys.stderr)
            return EXIT_DECLINED
        txid = await wallet.send(plan, memo=memo)
        try:
            await back_up_now_or_later(session, "the payment")
        except Exception:  # told on the way out (a local fault, a bug): not as "nothing sent"
            print(
                f"cairn: the payment was sent (txid {txid}); do not send it again", file=sys.stderr
            )
            raise
    except ChainUnavailable as exc:
        print(f"cairn: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except BroadcastRejected as exc:
        print(f"cairn: the payment was not sent: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except (SessionError, WalletError) as exc:
        print(f"cairn: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        await session.close()
    tell_done(txid, done=f"the payment was sent (txid {txid}); do not send it again")
    return EXIT_OK


async def back_up_now_or_later(session: Session, what: str) -> None:
    """Back up what a command just wrote; if the server cannot take it now, say it goes later."""
    from cairn.session import SessionError

    try:
        await session.back_up_now()
    except SessionError as exc:
        print(f"cairn: {exc} ({what} is recorded and goes up later)", file=sys.stderr)


def _show(plan: PaymentPlan) -> None:
    def btc(sat: int) -> str:
        return format_amount(sat, Unit.BTC)

    lines = [
        f"pay to:  {plan.recipient}",
        f"amount:  {btc(plan.amount_sat)}{' (everything spendable)' if plan.send_all else ''}",
        f"fee:     {btc(plan.fee_sat)} at {format_fee_rate(plan.fee_rate_sat_vb)} sat/vB",
        f"total:   {btc(plan.total_sat)}",
        f"change:  {btc(plan.change_sat) if plan.change_sat else 'none'}",
    ]
    print("\n".join(lines), file=sys.stderr)


def _confirmed() -> bool:
    print("Send this payment? Type y and Enter to send: ", end="", file=sys.stderr, flush=True)
    try:
        answer = sys.stdin.readline()
    except (UnicodeDecodeError, OSError):  # bytes that are not text, a terminal gone: not a yes
        return False
    return answer.strip().lower() in ("y", "yes")
