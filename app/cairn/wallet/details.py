"""One transaction in full, as the details dialog shows it: every input and output with its
address, amount, whether it is this wallet's, and its label; fee, fee rate and confirmations."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import bdkpython as bdk

from cairn.wallet.history import HistoryItem, history_of


@dataclass(frozen=True)
class TxPart:
    """An input (the coin it spends) or an output of a transaction."""

    address: str | None  # None for a script with no address form (OP_RETURN, bare scripts)
    amount_sat: int | None  # None for someone else's input whose coin the wallet never saw
    mine: bool
    change: bool  # an output to this wallet's change keychain
    label: str | None


@dataclass(frozen=True)
class TransactionDetails:
    item: HistoryItem
    vsize: int
    weight: int
    inputs: tuple[TxPart, ...]
    outputs: tuple[TxPart, ...]

    @property
    def fee_rate_sat_vb(self) -> float | None:
        # By weight, not the rounded-up vsize: the rate the fee was chosen for.
        fee = self.item.fee_sat
        return fee * 4 / self.weight if fee is not None and self.weight else None


def details_of(
    wallet: bdk.Wallet,
    txid: str,
    label_of: Callable[[str, str], str | None],
) -> TransactionDetails | None:
    """The details of ``txid``, or None when the wallet does not know it.

    ``label_of(type, ref)`` gives a BIP-329 label ("tx", "addr" or "output").
    """
    try:
        canonical = wallet.get_tx(bdk.Txid.from_string(txid))
    except Exception:  # not a txid at all
        return None
    if canonical is None:
        return None
    tx = canonical.transaction
    network = wallet.network()
    history = history_of(wallet, lambda t: label_of("tx", t), lambda a: label_of("addr", a))
    item = next((i for i in history if i.txid == txid), None)
    if item is None:
        return None

    def part(script: bdk.Script, amount: int | None, output_ref: str | None) -> TxPart:
        address = _address(script, network)
        origin = wallet.derivation_of_spk(script)
        label = label_of("output", output_ref) if output_ref else None
        if not label and address is not None and origin is not None:
            label = label_of("addr", address)
        return TxPart(
            address=address,
            amount_sat=amount,
            mine=origin is not None,
            change=origin is not None and origin.keychain == bdk.KeychainKind.INTERNAL,
            label=label,
        )

    inputs = []
    for tx_in in tx.input():
        previous = tx_in.previous_output
        spent = wallet.get_tx(previous.txid)
        if spent is not None and previous.vout < len(spent.transaction.output()):
            coin = spent.transaction.output()[previous.vout]
            ref = f"{previous.txid}:{previous.vout}"
            inputs.append(part(coin.script_pubkey, coin.value.to_sat(), ref))
        else:
            inputs.append(TxPart(None, None, mine=False, change=False, label=None))
    outputs = [
        part(out.script_pubkey, out.value.to_sat(), f"{txid}:{n}")
        for n, out in enumerate(tx.output())
    ]
    return TransactionDetails(
        item=item,
        vsize=int(tx.vsize()),
        weight=int(tx.weight()),
        inputs=tuple(inputs),
        outputs=tuple(outputs),
    )


def _address(script: bdk.Script, network: bdk.Network) -> str | None:
    try:
        return str(bdk.Address.from_script(script, network))
    except Exception:  # no address form
        return None
