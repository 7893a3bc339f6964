"""Real bdkpython wallets against a real devnet process: the path the app takes on mainnet."""

from __future__ import annotations

import re
from collections.abc import Callable

import bdkpython as bdk
import pytest

from tests.support.devnet import DevnetProcess

STOP_GAP = 10
PARALLEL = 2


def make_wallet() -> bdk.Wallet:
    words = bdk.Mnemonic(bdk.WordCount.WORDS12)
    key = bdk.DescriptorSecretKey(bdk.NetworkKind.TEST, words, None)
    external = bdk.Descriptor.new_bip84(key, bdk.KeychainKind.EXTERNAL, bdk.NetworkKind.TEST)
    internal = bdk.Descriptor.new_bip84(key, bdk.KeychainKind.INTERNAL, bdk.NetworkKind.TEST)
    return bdk.Wallet(external, internal, bdk.Network.REGTEST, bdk.Persister.new_in_memory())


def full_scan(wallet: bdk.Wallet, url: str) -> None:
    request = wallet.start_full_scan().build()
    wallet.apply_update(bdk.EsploraClient(url).full_scan(request, STOP_GAP, PARALLEL))


def sync(wallet: bdk.Wallet, url: str) -> None:
    request = wallet.start_sync_with_revealed_spks().build()
    wallet.apply_update(bdk.EsploraClient(url).sync(request, PARALLEL))


def receive_address(wallet: bdk.Wallet) -> str:
    return str(wallet.reveal_next_address(bdk.KeychainKind.EXTERNAL).address)


def position(wallet: bdk.Wallet, txid: str) -> bdk.ChainPosition:
    for canonical in wallet.transactions():
        if str(canonical.transaction.compute_txid()) == txid:
            return canonical.chain_position
    raise AssertionError(f"{txid} not in the wallet")


def test_full_scan_of_a_fresh_wallet_reaches_the_devnet_tip(devnet: DevnetProcess) -> None:
    wallet = make_wallet()
    devnet.mine(3)

    full_scan(wallet, devnet.url)

    tip = wallet.latest_checkpoint()
    assert tip.height == 4
    assert str(tip.hash) == devnet.get("/blocks/tip/hash").text
    assert wallet.balance().total.to_sat() == 0


def test_faucet_payment_is_pending_then_confirmed(devnet: DevnetProcess) -> None:
    wallet = make_wallet()
    full_scan(wallet, devnet.url)
    address = receive_address(wallet)

    txid = devnet.faucet(address, 250_000)
    sync(wallet, devnet.url)
    assert wallet.balance().untrusted_pending.to_sat() == 250_000
    assert wallet.balance().confirmed.to_sat() == 0
    assert isinstance(position(wallet, txid), bdk.ChainPosition.UNCONFIRMED)

    (block_hash,) = devnet.mine()
    sync(wallet, devnet.url)
    assert wallet.balance().confirmed.to_sat() == 250_000
    confirmed = position(wallet, txid)
    assert isinstance(confirmed, bdk.ChainPosition.CONFIRMED)
    assert confirmed.confirmation_block_time.block_id.height == 2
    assert str(confirmed.confirmation_block_time.block_id.hash) == block_hash


def test_a_signed_payment_reaches_a_second_wallet(devnet: DevnetProcess) -> None:
    alice, bob = make_wallet(), make_wallet()
    full_scan(alice, devnet.url)
    full_scan(bob, devnet.url)
    devnet.faucet(receive_address(alice), 100_000, mine=True)
    sync(alice, devnet.url)

    psbt = (
        bdk.TxBuilder()
        .add_recipient(
            bdk.Address(receive_address(bob), bdk.Network.REGTEST).script_pubkey(),
            bdk.Amount.from_sat(30_000),
        )
        .fee_rate(bdk.FeeRate.from_sat_per_vb(5))
        .finish(alice)
    )
    assert alice.sign(psbt)
    tx = psbt.extract_tx()
    bdk.EsploraClient(devnet.url).broadcast(tx)
    txid = str(tx.compute_txid())
    fee = alice.calculate_fee(tx).to_sat()

    sync(alice, devnet.url)
    sync(bob, devnet.url)
    assert bob.balance().untrusted_pending.to_sat() == 30_000
    assert alice.balance().total.to_sat() == 100_000 - 30_000 - fee

    devnet.mine()
    sync(alice, devnet.url)
    sync(bob, devnet.url)
    assert bob.balance().confirmed.to_sat() == 30_000
    assert alice.balance().confirmed.to_sat() == 100_000 - 30_000 - fee
    assert isinstance(position(bob, txid), bdk.ChainPosition.CONFIRMED)
    assert devnet.get(f"/tx/{txid}").json()["fee"] == fee


def test_broadcasting_the_same_coins_twice_is_refused(devnet: DevnetProcess) -> None:
    wallet, other = make_wallet(), make_wallet()
    full_scan(wallet, devnet.url)
    devnet.faucet(receive_address(wallet), 50_000, mine=True)
    sync(wallet, devnet.url)
    client = bdk.EsploraClient(devnet.url)

    def payment(sat: int) -> bdk.Transaction:
        psbt = (
            bdk.TxBuilder()
            .add_recipient(
                bdk.Address(receive_address(other), bdk.Network.REGTEST).script_pubkey(),
                bdk.Amount.from_sat(sat),
            )
            .finish(wallet)
        )
        assert wallet.sign(psbt)
        return psbt.extract_tx()

    first, second = payment(10_000), payment(20_000)  # both spend the one faucet output
    client.broadcast(first)
    with pytest.raises(bdk.EsploraError) as refused:  # at the same fee rate: no replacement
        client.broadcast(second)
    assert "insufficient fee, rejecting replacement" in str(refused.value)


def test_the_chain_and_mempool_survive_a_restart(devnet: DevnetProcess) -> None:
    wallet = make_wallet()
    full_scan(wallet, devnet.url)
    confirmed = devnet.faucet(receive_address(wallet), 10_000, mine=True)
    pending = devnet.faucet(receive_address(wallet), 20_000)
    tip = devnet.get("/blocks/tip/hash").text

    devnet.stop()
    devnet.start()

    assert devnet.get("/blocks/tip/hash").text == tip
    assert devnet.get(f"/tx/{confirmed}/status").json()["confirmed"] is True
    assert devnet.get("/mempool/txids").json() == [pending]
    sync(wallet, devnet.url)
    assert wallet.balance().confirmed.to_sat() == 10_000
    assert wallet.balance().untrusted_pending.to_sat() == 20_000


def test_a_wallet_follows_a_reorg(devnet: DevnetProcess) -> None:
    wallet = make_wallet()
    full_scan(wallet, devnet.url)
    txid = devnet.faucet(receive_address(wallet), 40_000)
    (old_hash,) = devnet.mine()
    sync(wallet, devnet.url)
    assert wallet.balance().confirmed.to_sat() == 40_000

    result = devnet.reorg(depth=1)
    sync(wallet, devnet.url)

    assert result["disconnected"] == [old_hash]
    assert result["returned"] == [txid]
    assert wallet.balance().confirmed.to_sat() == 0
    assert wallet.balance().untrusted_pending.to_sat() == 40_000
    assert str(wallet.latest_checkpoint().hash) == result["connected"][-1]

    (new_hash,) = devnet.mine()
    sync(wallet, devnet.url)
    confirmed = position(wallet, txid)
    assert isinstance(confirmed, bdk.ChainPosition.CONFIRMED)
    assert str(confirmed.confirmation_block_time.block_id.hash) == new_hash
    assert wallet.balance().confirmed.to_sat() == 40_000


def test_a_full_scan_pages_through_a_busy_address(
    devnet_factory: Callable[..., DevnetProcess],
) -> None:
    devnet = devnet_factory(log_level="debug")
    wallet = make_wallet()
    full_scan(wallet, devnet.url)
    address = receive_address(wallet)
    for _ in range(30):  # more than one 25-transaction page
        devnet.faucet(address, 1_000)
    devnet.mine()
    devnet.faucet(address, 500)  # and one still pending

    restored = make_wallet_like(wallet)
    full_scan(restored, devnet.url)

    assert len(restored.transactions()) == 31
    assert restored.balance().confirmed.to_sat() == 30_000
    assert restored.balance().untrusted_pending.to_sat() == 500
    assert re.search(r"GET /scripthash/[0-9a-f]{64}/txs/chain/[0-9a-f]{64} ", devnet.log())


def make_wallet_like(wallet: bdk.Wallet) -> bdk.Wallet:
    """A watch-only wallet on the same descriptors, with no local history."""
    return bdk.Wallet(
        bdk.Descriptor(wallet.public_descriptor(bdk.KeychainKind.EXTERNAL), bdk.NetworkKind.TEST),
        bdk.Descriptor(wallet.public_descriptor(bdk.KeychainKind.INTERNAL), bdk.NetworkKind.TEST),
        bdk.Network.REGTEST,
        bdk.Persister.new_in_memory(),
    )


def test_a_wallet_notices_an_evicted_payment(devnet: DevnetProcess) -> None:
    wallet = make_wallet()
    full_scan(wallet, devnet.url)
    txid = devnet.faucet(receive_address(wallet), 8_000)
    sync(wallet, devnet.url)
    assert wallet.balance().untrusted_pending.to_sat() == 8_000

    devnet.evict(txid)
    sync(wallet, devnet.url)

    assert wallet.balance().total.to_sat() == 0
    assert txid not in {str(c.transaction.compute_txid()) for c in wallet.transactions()}
