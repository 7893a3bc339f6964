"""Fee bumping (RBF) with real BDK wallets on the devnet: the replacement is accepted, the
original evicted, both wallets see only the final transaction; clear refusals otherwise."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cairn.events import EventBus, PaymentSent
from cairn.wallet import Direction
from cairn.wallet.errors import InsufficientFunds
from cairn.wallet.feebump import BIP125_MAX_SEQUENCE, CannotBumpFee
from tests.support.devnet import DevnetProcess

from .conftest import OpenWallet, Recorder, fund

pytestmark = pytest.mark.asyncio


async def test_a_bumped_payment_replaces_the_original_for_the_devnet_and_both_wallets(
    devnet: DevnetProcess, open_wallet: OpenWallet, new_seed: Callable[[], bytes]
):
    bus = EventBus()
    seen = Recorder(bus)
    wallet = open_wallet(new_seed(), bus=bus)
    payee = open_wallet(new_seed())
    await fund(wallet, devnet, 200_000)
    to = (await payee.next_receive_address()).address
    original = await wallet.send(wallet.plan_payment(to, 50_000, 2), memo="rent")
    raw = devnet.get(f"/tx/{original}").json()
    assert all(vin["sequence"] <= BIP125_MAX_SEQUENCE for vin in raw["vin"])  # signals RBF

    info = wallet.fee_bump_info(original)
    assert 1.9 < info.fee_rate_sat_vb < 2.2
    plan = wallet.plan_fee_bump(original, 10)
    assert plan.original_fee_sat == info.fee_sat
    assert plan.fee_sat > info.fee_sat * 4
    assert plan.fee_rate_sat_vb >= 9.9  # BDK also pays back the fee of what it replaces
    seen.clear()
    replacement = await wallet.bump_fee(plan)
    assert replacement != original
    assert [e.txid for e in seen.of(PaymentSent)] == [replacement]

    assert devnet.get("/mempool/txids").json() == [replacement]
    assert devnet.get(f"/tx/{original}").status_code == 404
    outs = [
        (o["scriptpubkey_address"], o["value"])
        for o in devnet.get(f"/tx/{replacement}").json()["vout"]
    ]
    assert (to, 50_000) in outs  # the recipient still gets every sat; the change paid the fee

    # The sender sees the replacement at once, with the original's label; never both.
    mine = [i for i in wallet.history() if i.direction is Direction.OUT]
    assert [(i.txid, i.fee_sat, i.label) for i in mine] == [(replacement, plan.fee_sat, "rent")]
    await wallet.sync()
    await payee.sync()
    assert [i.txid for i in payee.history()] == [replacement]
    assert payee.balance().incoming_sat == 50_000
    devnet.mine()
    await wallet.sync()
    await payee.sync()
    assert [(i.txid, i.confirmations) for i in payee.history()] == [(replacement, 1)]
    assert [i.txid for i in wallet.history() if i.direction is Direction.OUT] == [replacement]
    assert wallet.balance().confirmed_sat == 200_000 - 50_000 - plan.fee_sat


async def test_what_cannot_be_bumped_is_refused_with_the_reason(
    devnet: DevnetProcess, open_wallet: OpenWallet, new_seed: Callable[[], bytes]
):
    wallet = open_wallet(new_seed())
    payee = open_wallet(new_seed())
    funding = await fund(wallet, devnet, 100_000)
    with pytest.raises(CannotBumpFee, match="confirmed already"):
        wallet.plan_fee_bump(funding, 10)
    with pytest.raises(CannotBumpFee, match="not in this wallet"):
        wallet.plan_fee_bump("ab" * 32, 10)
    to = (await payee.next_receive_address()).address
    txid = await wallet.send(wallet.plan_payment(to, 30_000, 5))
    with pytest.raises(
        CannotBumpFee, match=r"pays 5\.\d\d sat/vB now; choose at least [67] sat/vB"
    ):
        wallet.plan_fee_bump(txid, 5)
    await payee.sync()
    with pytest.raises(CannotBumpFee, match="a payment to you: only its sender"):
        payee.plan_fee_bump(txid, 20)
    with pytest.raises(Exception, match="out of range"):
        wallet.plan_fee_bump(txid, 5000)
    assert devnet.get("/mempool/txids").json() == [txid]  # nothing was replaced


async def test_a_bump_never_spends_a_payment_from_others_still_waiting_for_its_block(
    devnet: DevnetProcess, open_wallet: OpenWallet, new_seed: Callable[[], bytes]
):
    # A payment spends only what the balance calls spendable; so must its replacement, whose
    # higher fee the change cannot cover here: the sender of the unconfirmed coin could still
    # replace it, and the replacement would vanish with it.
    wallet = open_wallet(new_seed())
    payee = open_wallet(new_seed())
    await fund(wallet, devnet, 100_000)
    to = (await payee.next_receive_address()).address
    original = await wallet.send(wallet.plan_payment(to, 95_000, 2))
    incoming = devnet.faucet((await wallet.next_receive_address()).address, 500_000)
    await wallet.sync()
    assert wallet.balance().incoming_sat == 500_000
    with pytest.raises(InsufficientFunds, match="wait for incoming payments to confirm"):
        wallet.plan_fee_bump(original, 100)
    assert sorted(devnet.get("/mempool/txids").json()) == sorted([original, incoming])
