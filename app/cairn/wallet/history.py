"""The wallet's history and balance as plain values the UI can show."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import bdkpython as bdk


class Direction(StrEnum):
    IN = "in"
    OUT = "out"
    SELF = "self"  # every output goes back to this wallet: only the fee was spent


@dataclass(frozen=True)
class HistoryItem:
    """One transaction of the wallet.

    ``amount_sat`` is positive: what arrived (in), what the recipients got (out, fee excluded),
    or what a payment to itself moved to its receive addresses (self, change excluded). ``time`` is the block time once
    confirmed, else when the transaction was first seen (unix seconds; None if unknown).
    """

    txid: str
    direction: Direction
    amount_sat: int
    fee_sat: int | None
    confirmations: int
    height: int | None
    time: int | None
    label: str | None
    # Labels of this wallet's receive addresses the transaction pays, in output order: what a
    # payment is about when it has no label of its own ("rent from Bob" given to an address).
    address_labels: tuple[str, ...] = ()

    @property
    def confirmed(self) -> bool:
        return self.confirmations > 0

    @property
    def shown_label(self) -> str:
        """The transaction's own label, else the labels of the addresses it pays."""
        return self.label or "; ".join(self.address_labels)


@dataclass(frozen=True)
class Balance:
    """The wallet's coins, split the way a user reads them.

    ``confirmed_sat``: in a block. ``pending_sat``: everything else (unconfirmed or immature).
    ``own_pending_sat``: the part of ``pending_sat`` created by this wallet's own transactions
    (the change of a send, a payment to itself): spendable, and no one else can take it back.
    """

    confirmed_sat: int
    pending_sat: int
    own_pending_sat: int = 0

    @property
    def total_sat(self) -> int:
        return self.confirmed_sat + self.pending_sat

    @property
    def spendable_sat(self) -> int:
        """Confirmed coins plus the wallet's own unconfirmed change."""
        return self.confirmed_sat + self.own_pending_sat

    @property
    def incoming_sat(self) -> int:
        """Unconfirmed payments from others (and immature coins): not the user's until mined."""
        return self.pending_sat - self.own_pending_sat


def balance_of(wallet: bdk.Wallet) -> Balance:
    raw = wallet.balance()
    pending = raw.trusted_pending.to_sat() + raw.untrusted_pending.to_sat() + raw.immature.to_sat()
    own = sum(
        utxo.txout.value.to_sat()
        for utxo in wallet.list_unspent()
        if not utxo.chain_position.is_confirmed() and _created_by_this_wallet(wallet, utxo)
    )
    return Balance(
        confirmed_sat=raw.confirmed.to_sat(), pending_sat=pending, own_pending_sat=min(own, pending)
    )


def not_spendable(wallet: bdk.Wallet) -> list[bdk.OutPoint]:
    """The coins ``Balance.spendable_sat`` leaves out: unconfirmed payments from others. A
    payment never spends them (their sender could still replace them), so what it can spend
    is what the balance calls spendable."""
    return [
        utxo.outpoint
        for utxo in wallet.list_unspent()
        if not utxo.chain_position.is_confirmed() and not _created_by_this_wallet(wallet, utxo)
    ]


def _created_by_this_wallet(wallet: bdk.Wallet, utxo: bdk.LocalOutput) -> bool:
    # BDK trusts only change outputs; a send to one's own receive address is just as safe.
    created = wallet.get_tx(utxo.outpoint.txid)
    return created is not None and wallet.sent_and_received(created.transaction).sent.to_sat() > 0


def history_of(
    wallet: bdk.Wallet,
    label_of: Callable[[str], str | None],
    address_label_of: Callable[[str], str | None] | None = None,
) -> list[HistoryItem]:
    """Every transaction, newest first (unconfirmed ones on top).

    ``label_of`` gives a transaction's label by txid, ``address_label_of`` an address's label.
    """
    tip = wallet.latest_checkpoint().height
    items = [
        _item(wallet, canonical, tip, label_of, address_label_of)
        for canonical in wallet.transactions()
    ]
    return sorted(
        items,
        key=lambda item: (item.height is None, item.height or 0, item.time or 0, item.txid),
        reverse=True,
    )


def _item(
    wallet: bdk.Wallet,
    canonical: bdk.CanonicalTx,
    tip: int,
    label_of: Callable[[str], str | None],
    address_label_of: Callable[[str], str | None] | None,
) -> HistoryItem:
    tx = canonical.transaction
    txid = str(tx.compute_txid())
    values = wallet.sent_and_received(tx)
    sent, received = values.sent.to_sat(), values.received.to_sat()
    fee: int | None
    try:
        fee = wallet.calculate_fee(tx).to_sat()
    except Exception:  # an input of someone else whose value the wallet never saw
        fee = None
    if sent == 0:
        direction, amount = Direction.IN, received
    elif all(wallet.is_mine(output.script_pubkey) for output in tx.output()):
        direction, amount = Direction.SELF, _to_receive_addresses(wallet, tx) or received
    elif received >= sent:
        direction, amount = Direction.IN, received - sent
    else:
        direction, amount = Direction.OUT, sent - received - (fee or 0)
    position = canonical.chain_position
    height: int | None = None
    time: int | None
    if position.is_confirmed():
        block_time = position.confirmation_block_time
        height = block_time.block_id.height
        time = block_time.confirmation_time
    else:
        time = position.timestamp
    confirmations = tip - height + 1 if height is not None else 0
    return HistoryItem(
        txid=txid,
        direction=direction,
        amount_sat=amount,
        fee_sat=fee,
        confirmations=max(confirmations, 0),
        height=height,
        time=time,
        label=label_of(txid),
        address_labels=_address_labels(wallet, tx, address_label_of) if address_label_of else (),
    )


def _address_labels(
    wallet: bdk.Wallet, tx: bdk.Transaction, label_of: Callable[[str], str | None]
) -> tuple[str, ...]:
    """The labels of this wallet's receive addresses that ``tx`` pays, each once."""
    found: list[str] = []
    for output in tx.output():
        origin = wallet.derivation_of_spk(output.script_pubkey)
        if origin is None or origin.keychain != bdk.KeychainKind.EXTERNAL:
            continue
        address = str(bdk.Address.from_script(output.script_pubkey, wallet.network()))
        label = label_of(address)
        if label and label not in found:
            found.append(label)
    return tuple(found)


def _to_receive_addresses(wallet: bdk.Wallet, tx: bdk.Transaction) -> int:
    """What a transaction pays to this wallet's receive (not change) addresses."""
    total = 0
    for output in tx.output():
        origin = wallet.derivation_of_spk(output.script_pubkey)
        if origin is not None and origin.keychain == bdk.KeychainKind.EXTERNAL:
            total += output.value.to_sat()
    return total
