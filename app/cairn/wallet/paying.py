"""Paying from the wallet: plan, sign, broadcast and record a payment, and replace one by fee
(RBF). A part of `CairnWallet`, kept apart because it is the wallet's one path that spends."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from typing import TYPE_CHECKING

import bdkpython as bdk

from cairn.events import EventBus, PaymentFailed, PaymentSent
from cairn.keys import Network
from cairn.wallet.chaincall import CHAIN_TIMEOUT, in_own_thread
from cairn.wallet.errors import BroadcastRejected, ChainUnavailable, WalletError
from cairn.wallet.feebump import BumpableTx, FeeBumpPlan, build_fee_bump, bumpable, sign_psbt
from cairn.wallet.labels import LabelBook, checked_label_text
from cairn.wallet.payments import (
    PAYMENT_PREFIX,
    PaymentPlan,
    build_plan,
    payment_record,
    sign_payment,
)
from cairn.wallet.sync import describe_chain_error, rejection_reason

if TYPE_CHECKING:
    from cairn.storage import RecordStore

log = logging.getLogger("cairn.wallet.core")  # the wallet's one logger, as before the split
# bdkpython's Esplora client has no timeout of its own: a hung server must not hang the UI.
REQUEST_TIMEOUT = CHAIN_TIMEOUT


class Paying:
    """Payments and fee bumps; `CairnWallet` provides the state below."""

    _wallet: bdk.Wallet
    _network: Network
    _lock: threading.RLock
    _bus: EventBus
    _client: bdk.EsploraClient
    _esplora_url: str
    _store: RecordStore
    _labels: LabelBook

    def _persist_quietly(self) -> None:
        raise NotImplementedError  # CairnWallet's

    # --- sending ----------------------------------------------------------------------------

    def plan_payment(
        self, recipient: str, amount_sat: int | None, fee_rate_sat_vb: float
    ) -> PaymentPlan:
        """Build the payment for review; ``amount_sat=None`` sends everything.

        Raises InvalidAddress, WrongNetworkAddress, InvalidAmount, DustAmount or
        InsufficientFunds. CPU only: fast enough to call on the loop.
        """
        with self._lock:
            return build_plan(self._wallet, self._network, recipient, amount_sat, fee_rate_sat_vb)

    async def send(self, plan: PaymentPlan, *, memo: str = "") -> str:
        """Sign, broadcast, apply and record a planned payment; returns the txid.

        Raises BroadcastRejected (the server's reason) or ChainUnavailable, after publishing
        PaymentFailed; on success publishes PaymentSent. Idempotent: a plan already sent (a
        second click on Send) returns its txid without sending or announcing it again. A memo
        that cannot be kept as the payment's label is refused first (LabelError): nothing is
        signed or sent.
        """
        memo = checked_label_text(memo)
        with self._lock:
            tx = sign_payment(self._wallet, plan)
            already_sent = self._wallet.get_tx(tx.compute_txid()) is not None
        txid = str(tx.compute_txid())
        if already_sent:
            return txid
        try:
            await self._broadcast(tx)
        except WalletError as failure:
            self._bus.publish(PaymentFailed(plan.recipient, plan.amount_sat, str(failure)))
            raise
        await asyncio.to_thread(self._record_sent, tx, plan, txid, memo)
        self._bus.publish(PaymentSent(txid, plan.recipient, plan.amount_sat, plan.fee_sat))
        return txid

    async def _broadcast(self, tx: bdk.Transaction) -> None:
        """Hand ``tx`` to the chain server; BroadcastRejected or ChainUnavailable if not."""
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                await in_own_thread(lambda: self._client.broadcast(tx))
        except Exception as error:
            reason = rejection_reason(error)
            if reason is not None:
                raise BroadcastRejected(reason) from None
            message = describe_chain_error(error, self._esplora_url)
            if isinstance(error, TimeoutError):
                # The server may have taken it before going quiet: only a sync can tell.
                message += "; the payment may still go through, so check the history first"
            raise ChainUnavailable(message) from None

    # --- fee bumping (RBF) ------------------------------------------------------------------

    def fee_bump_info(self, txid: str) -> BumpableTx:
        """The current fee of an unconfirmed payment of ours; CannotBumpFee saying why not."""
        with self._lock:
            return bumpable(self._wallet, txid)

    def plan_fee_bump(self, txid: str, fee_rate_sat_vb: float) -> FeeBumpPlan:
        """Build the replacement of ``txid`` for review (CPU only, like ``plan_payment``)."""
        with self._lock:
            return build_fee_bump(self._wallet, txid, fee_rate_sat_vb)

    async def bump_fee(self, plan: FeeBumpPlan) -> str:
        """Sign and broadcast the replacement; the original's label and payment record carry
        over to it. Returns the new txid; BroadcastRejected or ChainUnavailable if not sent."""
        with self._lock:
            tx = sign_psbt(self._wallet, plan.psbt)
        txid = str(tx.compute_txid())
        await self._broadcast(tx)
        recipient, amount = await asyncio.to_thread(self._record_replacement, tx, plan, txid)
        self._bus.publish(PaymentSent(txid, recipient, amount, plan.fee_sat))
        return txid

    def _record_replacement(
        self, tx: bdk.Transaction, plan: FeeBumpPlan, txid: str
    ) -> tuple[str, int]:
        now = int(time.time())
        with self._lock:
            self._wallet.apply_unconfirmed_txs([bdk.UnconfirmedTx(tx=tx, last_seen=now)])
            # The server evicted the original; so does the wallet, at once, not at its next sync.
            self._wallet.apply_evicted_txs(
                [bdk.EvictedTx(txid=bdk.Txid.from_string(plan.original_txid), evicted_at=now)]
            )
            self._persist_quietly()
        recipient, amount = "", 0
        try:
            original = self._store.get(PAYMENT_PREFIX + plan.original_txid)
            if original is not None:
                document = json.loads(original)
                recipient, amount = str(document["recipient"]), int(document["amount_sat"])
                document.update(
                    txid=txid,
                    fee_sat=plan.fee_sat,
                    fee_rate_sat_vb=plan.fee_rate_sat_vb,
                    replaces=plan.original_txid,
                    sent_at=now,
                )
                encoded = json.dumps(document, sort_keys=True).encode()
                self._store.put(PAYMENT_PREFIX + txid, encoded)
            label = self._labels.get("tx", plan.original_txid)
            if label:
                self._labels.set("tx", txid, label)
        except Exception as error:  # on the network already: the next sync finds it anyway
            log.error("the replacement could not be recorded: %s", type(error).__name__)
        return recipient, amount

    def _record_sent(self, tx: bdk.Transaction, plan: PaymentPlan, txid: str, memo: str) -> None:
        # The payment is on the network now: a failure to record it locally is logged, not
        # raised, because the next sync finds the transaction anyway. Its label first: whoever
        # reads the history as the payment enters it (a screen refreshing) sees it labelled.
        try:
            name, value = payment_record(plan, txid, memo)
            self._store.put(name, value)
            if memo:
                self._labels.set("tx", txid, memo)
        except Exception as error:
            log.error("the sent payment could not be recorded: %s", type(error).__name__)
        with self._lock:
            self._wallet.apply_unconfirmed_txs(
                [bdk.UnconfirmedTx(tx=tx, last_seen=int(time.time()))]
            )
            self._persist_quietly()

    async def fee_estimates(self) -> dict[int, float]:
        """Esplora's fee estimates: confirmation target in blocks -> sat/vB."""
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                estimates = await in_own_thread(self._client.get_fee_estimates)
        except Exception as error:
            raise ChainUnavailable(describe_chain_error(error, self._esplora_url)) from None
        return {int(target): float(rate) for target, rate in sorted(estimates.items())}
