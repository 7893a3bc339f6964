"""Fee bumping (RBF, BIP125): a replacement of one of this wallet's unconfirmed payments that
pays a higher fee rate, built by BDK's fee-bump builder from the change (or more coins).

Every precondition is checked here first, so the user reads why a payment cannot be bumped
(confirmed already, someone else's payment, not replaceable, a rate not above the current one)
rather than a builder error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import bdkpython as bdk

from cairn.wallet.errors import InsufficientFunds, WalletError
from cairn.wallet.history import balance_of
from cairn.wallet.payments import MAX_FEE_RATE_SAT_VB, fee_rate

BIP125_MAX_SEQUENCE = 0xFFFFFFFD  # an input at or below this signals replaceability
MIN_RATE_STEP = 1.0  # sat/vB: what a replacement must add at least, for its own relay


class CannotBumpFee(WalletError):
    """This payment cannot be replaced as asked; the message says why and what to do."""


@dataclass(frozen=True)
class FeeBumpPlan:
    """A replacement ready to sign: the payment it replaces, its fee before and after."""

    original_txid: str
    original_fee_sat: int
    original_fee_rate_sat_vb: float
    fee_sat: int
    fee_rate_sat_vb: float
    psbt: bdk.Psbt = field(repr=False, compare=False)


@dataclass(frozen=True)
class BumpableTx:
    """What the fee-bump form shows: the current fee and rate, and the least rate to offer."""

    txid: str
    fee_sat: int
    fee_rate_sat_vb: float

    @property
    def min_fee_rate_sat_vb(self) -> float:
        return float(int(self.fee_rate_sat_vb + MIN_RATE_STEP + 0.999))


def bumpable(wallet: bdk.Wallet, txid: str) -> BumpableTx:
    """The payment ``txid`` if it can be bumped; CannotBumpFee saying why otherwise."""
    try:
        canonical = wallet.get_tx(bdk.Txid.from_string(txid))
    except Exception:
        canonical = None
    if canonical is None:
        raise CannotBumpFee("that transaction is not in this wallet; refresh and try again")
    if canonical.chain_position.is_confirmed():
        raise CannotBumpFee("that payment is confirmed already: there is no fee to bump")
    tx = canonical.transaction
    sent = wallet.sent_and_received(tx).sent.to_sat()
    if sent == 0:
        raise CannotBumpFee(
            "that is a payment to you: only its sender can raise its fee; wait for it to confirm"
        )
    if all(txin.sequence > BIP125_MAX_SEQUENCE for txin in tx.input()):
        raise CannotBumpFee("that payment did not signal that it may be replaced (BIP125)")
    fee = wallet.calculate_fee(tx).to_sat()
    return BumpableTx(txid, fee, fee * 4 / int(tx.weight()))


def build_fee_bump(wallet: bdk.Wallet, txid: str, fee_rate_sat_vb: float) -> FeeBumpPlan:
    """The replacement of ``txid`` at ``fee_rate_sat_vb``; CannotBumpFee, InvalidAmount or
    InsufficientFunds when it cannot be built."""
    current = bumpable(wallet, txid)
    if fee_rate_sat_vb < current.min_fee_rate_sat_vb:
        raise CannotBumpFee(
            f"it pays {current.fee_rate_sat_vb:.2f} sat/vB now; "
            f"choose at least {current.min_fee_rate_sat_vb:g} sat/vB"
        )
    rate = fee_rate(fee_rate_sat_vb)  # InvalidAmount outside 1 to 1000 sat/vB
    try:
        psbt = bdk.BumpFeeTxBuilder(bdk.Txid.from_string(txid), rate).finish(wallet)
    except bdk.CreateTxError as error:
        if isinstance(error, bdk.CreateTxError.FeeRateTooLow | bdk.CreateTxError.FeeTooLow):
            raise CannotBumpFee(
                f"a replacement must pay more than that ({error.required}); "
                "choose a higher fee rate"
            ) from None
        if isinstance(
            error,
            bdk.CreateTxError.InsufficientFunds
            | bdk.CreateTxError.CoinSelection
            | bdk.CreateTxError.NoUtxosSelected,
        ):
            raise InsufficientFunds(balance_of(wallet).spendable_sat) from None
        raise CannotBumpFee(
            f"the replacement could not be built ({type(error).__name__})"
        ) from None
    fee = psbt.fee()
    weight = int(psbt.extract_tx_unchecked_fee_rate().weight())
    return FeeBumpPlan(
        original_txid=txid,
        original_fee_sat=current.fee_sat,
        original_fee_rate_sat_vb=current.fee_rate_sat_vb,
        fee_sat=fee,
        fee_rate_sat_vb=fee * 4 / weight,
        psbt=psbt,
    )


def sign_psbt(wallet: bdk.Wallet, psbt: bdk.Psbt) -> bdk.Transaction:
    """Sign a copy of ``psbt`` and extract the transaction (fee rate capped as for sends)."""
    copy = bdk.Psbt(psbt.serialize())
    if not wallet.sign(copy):
        raise WalletError("this wallet could not sign every input of the replacement")
    return copy.extract_tx_with_fee_rate_limit(
        bdk.FeeRate.from_sat_per_kwu(round(MAX_FEE_RATE_SAT_VB * 250))
    )
