"""Payment plans from a real BDK wallet (funded offline): review numbers and each user error."""

from __future__ import annotations

import bdkpython as bdk
import pytest

from cairn.keys import Network
from cairn.wallet.errors import (
    DustAmount,
    InsufficientFunds,
    InvalidAddress,
    InvalidAmount,
    WrongNetworkAddress,
)
from cairn.wallet.payments import build_plan, payment_record, sign_payment

from .offline import OTHER_SEED, collecting_wallet, confirmed_wallet, fund

FUNDS = 70_000


@pytest.fixture
def wallet() -> bdk.Wallet:
    return confirmed_wallet(FUNDS)[0]


@pytest.fixture
def recipient() -> str:
    other, _, _ = collecting_wallet(OTHER_SEED)
    return str(other.reveal_next_address(bdk.KeychainKind.EXTERNAL).address)


def test_a_plan_shows_amount_fee_total_and_change(wallet: bdk.Wallet, recipient: str):
    plan = build_plan(wallet, Network.REGTEST, recipient, 20_000, 2.5)
    assert plan.recipient == recipient
    assert plan.amount_sat == 20_000
    assert plan.total_sat == 20_000 + plan.fee_sat
    assert plan.change_sat == FUNDS - plan.total_sat
    assert not plan.send_all
    vsize = plan.psbt.extract_tx_unchecked_fee_rate().vsize()
    # 2.5 sat/vB on the unsigned size plus the witness BDK accounts for.
    assert 2.5 * vsize <= plan.fee_sat <= 2.5 * (vsize + 30)


def test_send_everything_leaves_no_change(wallet: bdk.Wallet, recipient: str):
    plan = build_plan(wallet, Network.REGTEST, recipient, None, 1)
    assert plan.send_all
    assert plan.change_sat == 0
    assert plan.amount_sat + plan.fee_sat == FUNDS


def test_signing_gives_a_transaction_spending_the_wallet_coin(wallet: bdk.Wallet, recipient: str):
    plan = build_plan(wallet, Network.REGTEST, recipient, 20_000, 2)
    tx = sign_payment(wallet, plan)
    funding = wallet.list_unspent()[0].outpoint
    assert [str(i.previous_output.txid) for i in tx.input()] == [str(funding.txid)]
    assert sorted(o.value.to_sat() for o in tx.output()) == sorted([20_000, plan.change_sat])
    name, value = payment_record(plan, str(tx.compute_txid()), "memo")
    assert name == f"payments/{tx.compute_txid()}"
    assert b'"recipient"' in value


def test_too_much_is_insufficient_funds_with_the_available_amount(
    wallet: bdk.Wallet, recipient: str
):
    with pytest.raises(InsufficientFunds) as caught:
        build_plan(wallet, Network.REGTEST, recipient, 100_000, 2)
    assert caught.value.available_sat == FUNDS
    assert caught.value.needed_sat is not None
    assert caught.value.needed_sat > 100_000
    assert "70,000 sat available" in str(caught.value)


def test_a_payment_from_others_not_in_a_block_yet_is_never_spent(
    wallet: bdk.Wallet, recipient: str
):
    address = str(wallet.reveal_next_address(bdk.KeychainKind.EXTERNAL).address)
    fund(wallet, address, 30_000, tag=0x22)  # unconfirmed: its sender could still replace it
    with pytest.raises(InsufficientFunds) as caught:
        build_plan(wallet, Network.REGTEST, recipient, 80_000, 2)
    assert caught.value.available_sat == FUNDS
    everything = build_plan(wallet, Network.REGTEST, recipient, None, 2)
    assert everything.total_sat == FUNDS
    assert len(everything.psbt.extract_tx_unchecked_fee_rate().input()) == 1


def test_an_empty_wallet_has_nothing_available(recipient: str):
    empty, _, _ = collecting_wallet()
    for amount in (10_000, None):
        with pytest.raises(InsufficientFunds) as caught:
            build_plan(empty, Network.REGTEST, recipient, amount, 2)
        assert caught.value.available_sat == 0


def test_send_everything_of_less_than_the_fee_is_insufficient(recipient: str):
    tiny, _, _ = collecting_wallet()
    fund(tiny, str(tiny.reveal_next_address(bdk.KeychainKind.EXTERNAL).address), 400)
    with pytest.raises((InsufficientFunds, DustAmount)):
        build_plan(tiny, Network.REGTEST, recipient, None, 5)


def test_dust_is_refused_with_the_limit(wallet: bdk.Wallet, recipient: str):
    with pytest.raises(DustAmount) as caught:
        build_plan(wallet, Network.REGTEST, recipient, 100, 2)
    assert caught.value.dust_limit_sat == 294
    assert "send at least 294 sat" in str(caught.value)


@pytest.mark.parametrize("amount", [0, -5, True, 21_000_000 * 100_000_000 + 1])
def test_impossible_amounts(wallet: bdk.Wallet, recipient: str, amount: int):
    with pytest.raises(InvalidAmount):
        build_plan(wallet, Network.REGTEST, recipient, amount, 2)


@pytest.mark.parametrize("rate", [0, 0.5, 1001, -1])
def test_fee_rates_out_of_range(wallet: bdk.Wallet, recipient: str, rate: float):
    with pytest.raises(InvalidAmount, match="fee rate"):
        build_plan(wallet, Network.REGTEST, recipient, 10_000, rate)


def test_address_errors_come_first(wallet: bdk.Wallet):
    with pytest.raises(InvalidAddress):
        build_plan(wallet, Network.REGTEST, "nonsense", 10_000, 2)
    with pytest.raises(WrongNetworkAddress):
        build_plan(wallet, Network.REGTEST, "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", 10_000, 2)
