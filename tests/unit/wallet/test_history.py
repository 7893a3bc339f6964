"""History items and balance from a real BDK wallet: direction, amount, fee, pending state."""

from __future__ import annotations

import time

import bdkpython as bdk

from cairn.keys import Network
from cairn.wallet.history import Direction, HistoryItem, balance_of, history_of
from cairn.wallet.payments import build_plan, sign_payment

from .offline import OTHER_SEED, collecting_wallet, fund


def apply(wallet: bdk.Wallet, tx: bdk.Transaction) -> str:
    wallet.apply_unconfirmed_txs([bdk.UnconfirmedTx(tx=tx, last_seen=int(time.time()))])
    return str(tx.compute_txid())


def item_of(wallet: bdk.Wallet, txid: str) -> HistoryItem:
    [found] = [item for item in history_of(wallet, lambda _: None) if item.txid == txid]
    return found


def funded_wallet() -> tuple[bdk.Wallet, str]:
    wallet, _, _ = collecting_wallet()
    address = str(wallet.reveal_next_address(bdk.KeychainKind.EXTERNAL).address)
    return wallet, fund(wallet, address, 100_000)


def test_incoming_payment_is_pending_with_its_label():
    wallet, txid = funded_wallet()
    [item] = history_of(wallet, {txid: "salary"}.get)
    assert (item.txid, item.direction, item.amount_sat) == (txid, Direction.IN, 100_000)
    assert (item.confirmations, item.height, item.confirmed) == (0, None, False)
    assert item.label == "salary"
    assert item.fee_sat is None  # the payer's input is unknown to this wallet
    assert item.time is not None
    balance = balance_of(wallet)
    assert (balance.confirmed_sat, balance.pending_sat, balance.total_sat) == (0, 100_000, 100_000)


def test_outgoing_payment_shows_what_the_recipient_got_and_the_fee():
    wallet, _ = funded_wallet()
    other, _, _ = collecting_wallet(OTHER_SEED)
    recipient = str(other.reveal_next_address(bdk.KeychainKind.EXTERNAL).address)
    plan = build_plan(wallet, Network.REGTEST, recipient, 30_000, 2)
    out = item_of(wallet, apply(wallet, sign_payment(wallet, plan)))
    assert (out.direction, out.amount_sat, out.fee_sat) == (Direction.OUT, 30_000, plan.fee_sat)
    assert balance_of(wallet).total_sat == 100_000 - plan.total_sat


def test_a_payment_to_itself_shows_the_amount_moved_not_the_change():
    wallet, _ = funded_wallet()
    own = str(wallet.reveal_next_address(bdk.KeychainKind.EXTERNAL).address)
    plan = build_plan(wallet, Network.REGTEST, own, 25_000, 2)
    assert plan.change_sat > 0
    moved = item_of(wallet, apply(wallet, sign_payment(wallet, plan)))
    assert (moved.direction, moved.amount_sat, moved.fee_sat) == (
        Direction.SELF,
        25_000,
        plan.fee_sat,
    )
    assert balance_of(wallet).total_sat == 100_000 - plan.fee_sat
