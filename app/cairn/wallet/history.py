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

    @property
    def confirmed(self) -> bool:
        return self.confirmations > 0


@dataclass(frozen=True)
class Balance:
    """Confirmed coins, and pending ones (unconfirmed incoming, own change, immature)."""

    confirmed_sat: int
    pending_sat: int

    @property
    def total_sat(self) -> int:
        return self.confirmed_sat + self.pending_sat


def balance_of(wallet: bdk.Wallet) -> Balance:
    raw = wallet.balance()
    pending = raw.trusted_pending.to_sat() + raw.untrusted_pending.to_sat() + raw.immature.to_sat()
    return Balance(confirmed_sat=raw.confirmed.to_sat(), pending_sat=pending)


def history_of(wallet: bdk.Wallet, label_of: Callable[[str], str | None]) -> list[HistoryItem]:
    """Every transaction, newest first (unconfirmed ones on top)."""
    tip = wallet.latest_checkpoint().height
    items = [_item(wallet, canonical, tip, label_of) for canonical in wallet.transactions()]
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
    )


def _to_receive_addresses(wallet: bdk.Wallet, tx: bdk.Transaction) -> int:
    """What a transaction pays to this wallet's receive (not change) addresses."""
    total = 0
    for output in tx.output():
        origin = wallet.derivation_of_spk(output.script_pubkey)
        if origin is not None and origin.keychain == bdk.KeychainKind.EXTERNAL:
            total += output.value.to_sat()
    return total
