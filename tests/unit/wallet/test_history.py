"""History items and balance from a real BDK wallet: direction, amount, fee, pending state."""

from __future__ import annotations

import time

import bdkpython as bdk

from cairn.keys import Network
from cairn.wallet.history import Direction, HistoryItem, balance_of, history_of, not_spendable
from cairn.wallet.payments import build_plan, sign_payment

from .offline import OTHER_SEED, collecting_wallet, confirmed_wallet, fund


def apply(wallet: bdk.Wallet, tx: bdk.Transaction) -> str:
    wallet.apply_unconfirmed_txs([bdk.UnconfirmedTx(tx=tx, last_seen=int(time.time()))])
    return str(tx.compute_txid())


def item_of(wallet: bdk.Wallet, txid: str) -> HistoryItem:
    [found] = [item for item in history_of(wallet, lambda _: None) if item.txid == txid]
    return found


def funded_wallet(*, confirmed: bool = False) -> tuple[bdk.Wallet, str]:
    """A wallet paid 100,000 sat by someone else: in a block, or still unconfirmed."""
    if confirmed:
        return confirmed_wallet(100_000)
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
    wallet, _ = funded_wallet(confirmed=True)
    other, _, _ = collecting_wallet(OTHER_SEED)
    recipient = str(other.reveal_next_address(bdk.KeychainKind.EXTERNAL).address)
    plan = build_plan(wallet, Network.REGTEST, recipient, 30_000, 2)
    out = item_of(wallet, apply(wallet, sign_payment(wallet, plan)))
    assert (out.direction, out.amount_sat, out.fee_sat) == (Direction.OUT, 30_000, plan.fee_sat)
    assert balance_of(wallet).total_sat == 100_000 - plan.total_sat


def test_a_payment_to_itself_shows_the_amount_moved_not_the_change():
    wallet, _ = funded_wallet(confirmed=True)
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


def test_a_payment_from_others_is_incoming_until_it_is_in_a_block():
    wallet, _ = funded_wallet()
    assert balance_of(wallet).incoming_sat == 100_000  # someone else's unconfirmed payment
    assert balance_of(wallet).spendable_sat == 0
    assert [str(o.txid) for o in not_spendable(wallet)] == [
        item.txid for item in history_of(wallet, lambda _: None)
    ]
    wallet, _ = funded_wallet(confirmed=True)
    assert (balance_of(wallet).spendable_sat, balance_of(wallet).incoming_sat) == (100_000, 0)
    assert not_spendable(wallet) == []


def test_after_a_send_the_change_is_spendable_and_nothing_is_incoming():
    wallet, _ = funded_wallet(confirmed=True)
    other, _, _ = collecting_wallet(OTHER_SEED)
    recipient = str(other.reveal_next_address(bdk.KeychainKind.EXTERNAL).address)
    plan = build_plan(wallet, Network.REGTEST, recipient, 30_000, 2)
    apply(wallet, sign_payment(wallet, plan))
    balance = balance_of(wallet)
    # The funding coin is spent; its change comes from the wallet's own transaction.
    assert balance.spendable_sat == 100_000 - plan.total_sat == plan.change_sat
    assert balance.incoming_sat == 0


def test_a_payment_to_an_own_receive_address_stays_spendable():
    wallet, _ = funded_wallet(confirmed=True)
    own = str(wallet.reveal_next_address(bdk.KeychainKind.EXTERNAL).address)
    plan = build_plan(wallet, Network.REGTEST, own, 25_000, 2)
    apply(wallet, sign_payment(wallet, plan))
    balance = balance_of(wallet)
    assert (balance.spendable_sat, balance.incoming_sat) == (100_000 - plan.fee_sat, 0)


def test_a_transaction_without_a_label_shows_the_labels_of_the_addresses_it_pays():
    wallet, _, _ = collecting_wallet()
    first = str(wallet.reveal_next_address(bdk.KeychainKind.EXTERNAL).address)
    second = str(wallet.reveal_next_address(bdk.KeychainKind.EXTERNAL).address)
    paid_first = fund(wallet, first, 40_000, tag=0x21)
    paid_second = fund(wallet, second, 50_000, tag=0x22)
    labels = {first: "rent from Bob"}
    tx_labels = {paid_second: "refund"}
    items = {i.txid: i for i in history_of(wallet, tx_labels.get, labels.get)}
    assert items[paid_first].label is None
    assert items[paid_first].address_labels == ("rent from Bob",)
    assert items[paid_first].shown_label == "rent from Bob"
    # A transaction's own label comes first.
    labels[second] = "second address"
    items = {i.txid: i for i in history_of(wallet, tx_labels.get, labels.get)}
    assert items[paid_second].shown_label == "refund"
    assert items[paid_second].address_labels == ("second address",)


def test_change_address_labels_are_not_shown_on_a_send():
    wallet, _ = funded_wallet(confirmed=True)
    other, _, _ = collecting_wallet(OTHER_SEED)
    recipient = str(other.reveal_next_address(bdk.KeychainKind.EXTERNAL).address)
    plan = build_plan(wallet, Network.REGTEST, recipient, 30_000, 2)
    txid = apply(wallet, sign_payment(wallet, plan))
    every_address = {"x": "y"}
    [sent] = [
        i
        for i in history_of(wallet, lambda _: None, lambda a: every_address.get("x"))
        if i.txid == txid
    ]
    assert sent.address_labels == ()


def test_transaction_details_list_inputs_and_outputs_with_labels():
    from cairn.wallet.details import details_of

    wallet, funding = funded_wallet(confirmed=True)
    other, _, _ = collecting_wallet(OTHER_SEED)
    recipient = str(other.reveal_next_address(bdk.KeychainKind.EXTERNAL).address)
    plan = build_plan(wallet, Network.REGTEST, recipient, 30_000, 2)
    txid = apply(wallet, sign_payment(wallet, plan))
    labels = {("tx", txid): "to Carol", ("addr", recipient): "never shown: not mine"}
    details = details_of(wallet, txid, lambda t, r: labels.get((t, r)))
    assert details is not None
    assert details.item.label == "to Carol"
    [spent] = details.inputs
    assert (spent.amount_sat, spent.mine, spent.change) == (100_000, True, False)
    outputs = {part.address: part for part in details.outputs}
    assert outputs[recipient].amount_sat == 30_000
    assert not outputs[recipient].mine
    [change] = [part for part in details.outputs if part.change]
    assert change.amount_sat == plan.change_sat
    assert details.fee_rate_sat_vb is not None and 2.0 <= details.fee_rate_sat_vb < 2.2
    # The funding transaction spends a coin the wallet never saw: its amount is unknown.
    funded = details_of(wallet, funding, lambda t, r: None)
    assert funded is not None and funded.inputs[0].amount_sat is None
    assert details_of(wallet, "00" * 32, lambda t, r: None) is None
    assert details_of(wallet, "not a txid", lambda t, r: None) is None


def test_the_address_list_shows_receive_and_change_with_use_balance_and_label():
    from cairn.wallet.address_list import CHANGE, RECEIVE, addresses_of

    wallet, _ = funded_wallet(confirmed=True)  # index 0 paid 100,000
    unused = str(wallet.reveal_next_address(bdk.KeychainKind.EXTERNAL).address)
    other, _, _ = collecting_wallet(OTHER_SEED)
    recipient = str(other.reveal_next_address(bdk.KeychainKind.EXTERNAL).address)
    plan = build_plan(wallet, Network.REGTEST, recipient, 30_000, 2)
    apply(wallet, sign_payment(wallet, plan))
    labels = {unused: "for Dave"}
    listed = addresses_of(wallet, labels.get)
    by_kind = {(a.keychain, a.index): a for a in listed}
    first, second = by_kind[(RECEIVE, 0)], by_kind[(RECEIVE, 1)]
    assert (first.used, first.balance_sat, first.payments) == (True, 0, 1)  # paid, then spent
    assert (second.address, second.used, second.balance_sat) == (unused, False, 0)
    assert second.label == "for Dave"
    change = by_kind[(CHANGE, 0)]
    assert (change.used, change.balance_sat) == (True, plan.change_sat)
    assert [a.keychain for a in listed] == [RECEIVE, RECEIVE, CHANGE]
