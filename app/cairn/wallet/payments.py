"""Payments: a reviewed plan (fee, total, change) built by BDK, then signed and broadcast."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field

import bdkpython as bdk

from cairn.keys import Network
from cairn.wallet.addresses import dust_limit, parse_address
from cairn.wallet.errors import DustAmount, InsufficientFunds, InvalidAmount, WalletError
from cairn.wallet.history import balance_of, not_spendable

PAYMENT_PREFIX = "payments/"
MIN_FEE_RATE_SAT_VB = 1.0
# Above this the user almost certainly typed sat/kvB or an extra digit; refuse, do not burn.
MAX_FEE_RATE_SAT_VB = 1000.0
MAX_MONEY_SAT = 21_000_000 * 100_000_000

# The error names what the balance calls spendable, as the balance shows it, not BDK's sum.
_INSUFFICIENT = re.compile(r"([0-9.]+) BTC available of ([0-9.]+) BTC needed")


@dataclass(frozen=True)
class PaymentPlan:
    """A payment ready for review: what the recipient gets, the fee, the total and the change.

    ``psbt`` is the unsigned transaction; ``send`` signs and broadcasts exactly this.
    """

    recipient: str
    amount_sat: int
    fee_sat: int
    change_sat: int
    fee_rate_sat_vb: float
    send_all: bool
    psbt: bdk.Psbt = field(repr=False, compare=False)

    @property
    def total_sat(self) -> int:
        """What leaves the wallet: amount plus fee."""
        return self.amount_sat + self.fee_sat


def fee_rate(sat_per_vb: float) -> bdk.FeeRate:
    """A BDK fee rate from sat/vB, fractions kept (1 sat/vB = 250 sat/kwu)."""
    if not MIN_FEE_RATE_SAT_VB <= sat_per_vb <= MAX_FEE_RATE_SAT_VB:
        raise InvalidAmount(
            f"a fee rate of {sat_per_vb:g} sat/vB is out of range; "
            f"choose between {MIN_FEE_RATE_SAT_VB:g} and {MAX_FEE_RATE_SAT_VB:g} sat/vB"
        )
    return bdk.FeeRate.from_sat_per_kwu(round(sat_per_vb * 250))


def build_plan(
    wallet: bdk.Wallet,
    network: Network,
    recipient: str,
    amount_sat: int | None,
    fee_rate_sat_vb: float,
) -> PaymentPlan:
    """Build the unsigned payment; ``amount_sat=None`` sends everything (minus the fee)."""
    address = parse_address(recipient, network)
    rate = fee_rate(fee_rate_sat_vb)
    script = address.script_pubkey()
    limit = dust_limit(address)
    # Only what the balance calls spendable: never a payment from others still unconfirmed.
    builder = bdk.TxBuilder().fee_rate(rate).unspendable(not_spendable(wallet))
    if amount_sat is None:
        builder = builder.drain_wallet().drain_to(script)
    else:
        if isinstance(amount_sat, bool) or not isinstance(amount_sat, int):
            raise InvalidAmount("the amount must be a whole number of satoshis")
        if amount_sat <= 0 or amount_sat > MAX_MONEY_SAT:
            raise InvalidAmount(f"{amount_sat} sat is not an amount that can be sent")
        if amount_sat < limit:
            raise DustAmount(amount_sat, limit)
        builder = builder.add_recipient(script, bdk.Amount.from_sat(amount_sat))
    try:
        psbt = builder.finish(wallet)
    except bdk.CreateTxError as error:
        raise _create_error(error, wallet, amount_sat, limit) from None
    tx = psbt.extract_tx_unchecked_fee_rate()
    recipient_bytes = script.to_bytes()
    to_recipient = sum(
        o.value.to_sat() for o in tx.output() if o.script_pubkey.to_bytes() == recipient_bytes
    )
    change = sum(
        o.value.to_sat()
        for o in tx.output()
        if o.script_pubkey.to_bytes() != recipient_bytes and wallet.is_mine(o.script_pubkey)
    )
    if amount_sat is None and to_recipient < limit:
        raise DustAmount(to_recipient, limit)
    return PaymentPlan(
        recipient=str(address),
        amount_sat=to_recipient if amount_sat is None else amount_sat,
        fee_sat=psbt.fee(),
        change_sat=change,
        fee_rate_sat_vb=fee_rate_sat_vb,
        send_all=amount_sat is None,
        psbt=psbt,
    )


def _create_error(
    error: bdk.CreateTxError, wallet: bdk.Wallet, amount_sat: int | None, limit: int
) -> WalletError:
    spendable = balance_of(wallet).spendable_sat
    if isinstance(error, bdk.CreateTxError.OutputBelowDustLimit):
        return DustAmount(amount_sat if amount_sat is not None else 0, limit)
    if isinstance(error, bdk.CreateTxError.CoinSelection | bdk.CreateTxError.NoUtxosSelected):
        found = _INSUFFICIENT.search(str(error))
        if found:
            return InsufficientFunds(spendable, _sat(found.group(2)))
        return InsufficientFunds(spendable)
    if isinstance(error, bdk.CreateTxError.InsufficientFunds):
        return InsufficientFunds(spendable, int(error.needed))
    return WalletError(f"the payment could not be built: {type(error).__name__}")


def _sat(btc: str) -> int:
    whole, _, fraction = btc.partition(".")
    return int(whole or "0") * 100_000_000 + int((fraction + "00000000")[:8])


def sign_payment(wallet: bdk.Wallet, plan: PaymentPlan) -> bdk.Transaction:
    """Sign a copy of the plan's PSBT (the plan stays reusable) and extract the transaction."""
    psbt = bdk.Psbt(plan.psbt.serialize())
    if not wallet.sign(psbt):
        raise WalletError("this wallet could not sign every input of the payment")
    return psbt.extract_tx_with_fee_rate_limit(
        bdk.FeeRate.from_sat_per_kwu(round(MAX_FEE_RATE_SAT_VB * 250))
    )


def payment_record(plan: PaymentPlan, txid: str, memo: str) -> tuple[str, bytes]:
    """The record ``payments/<txid>`` kept for a sent payment."""
    document = {
        "txid": txid,
        "recipient": plan.recipient,
        "amount_sat": plan.amount_sat,
        "fee_sat": plan.fee_sat,
        "fee_rate_sat_vb": plan.fee_rate_sat_vb,
        "send_all": plan.send_all,
        "memo": memo,
        "sent_at": int(time.time()),
    }
    return PAYMENT_PREFIX + txid, json.dumps(document, sort_keys=True).encode()
