"""The chain's mempool rules, mining and script history, without HTTP."""

from __future__ import annotations

import pytest

from cairn.devnet.blocks import REGTEST_GENESIS_HASH, block_subsidy
from cairn.devnet.chain import FAUCET_SCRIPT, Chain, TxRejected, UnknownTx, scripthash
from cairn.devnet.txcodec import Tx, TxIn, TxOut

NOW = 1_700_000_000
ALICE = bytes.fromhex("0014" + "11" * 20)
BOB = bytes.fromhex("0014" + "22" * 20)
WITNESS = (b"\x30" * 71, b"\x02" * 33)  # signature-shaped; the devnet does not verify it


def spend(outpoints: list[tuple[str, int]], outputs: list[tuple[int, bytes]]) -> Tx:
    inputs = tuple(TxIn(txid, vout, b"", 0xFFFFFFFD, WITNESS) for txid, vout in outpoints)
    return Tx(2, inputs, tuple(TxOut(v, s) for v, s in outputs), 0)


@pytest.fixture
def chain() -> Chain:
    """A chain that takes the hand-made witnesses above at face value (see test_sigcheck)."""
    return Chain.create(NOW, verify_signatures=False)


def test_a_new_chain_starts_at_the_regtest_genesis_with_a_funded_faucet(chain: Chain) -> None:
    assert chain.tip_height == 1
    assert chain.blocks[0].hash == REGTEST_GENESIS_HASH
    assert chain.blocks[1].header.prev_hash == REGTEST_GENESIS_HASH
    assert chain.unspent_outputs(scripthash(FAUCET_SCRIPT))


def test_faucet_payment_enters_the_mempool_and_mining_confirms_it(chain: Chain) -> None:
    txid = chain.faucet(ALICE, 50_000)
    assert chain.mempool == [txid]
    assert txid not in chain.confirmations
    fee = chain.fee(chain.txs[txid])
    assert fee > 0

    (block,) = chain.mine(1, NOW + 600)

    assert chain.mempool == []
    assert [tx.txid for tx in block.txs][1:] == [txid]
    assert chain.confirmations[txid].height == 2
    assert chain.confirmations[txid].block_hash == block.hash
    assert block.header.prev_hash == chain.blocks[1].hash
    coinbase = block.txs[0]
    assert coinbase.is_coinbase
    assert coinbase.outputs[0].value == block_subsidy(2) + fee


def test_block_times_strictly_increase_even_within_one_call(chain: Chain) -> None:
    blocks = chain.mine(3, NOW)
    times = [b.header.time for b in chain.blocks[1:]]
    assert times == sorted(set(times))
    assert [chain.height_of[b.hash] for b in blocks] == [2, 3, 4]


def test_a_spend_of_a_faucet_output_is_accepted(chain: Chain) -> None:
    funding = chain.faucet(ALICE, 50_000)
    txid = chain.accept(spend([(funding, 0)], [(30_000, BOB), (19_000, ALICE)]))
    assert chain.mempool == [funding, txid]
    assert chain.fee(chain.txs[txid]) == 1_000
    assert chain.spent_by[(funding, 0)].txid == txid


def test_rebroadcasting_a_mempool_tx_is_harmless(chain: Chain) -> None:
    funding = chain.faucet(ALICE, 50_000)
    tx = spend([(funding, 0)], [(40_000, BOB)])
    assert chain.accept(tx) == chain.accept(tx)
    assert chain.mempool.count(tx.txid) == 1


def test_an_unknown_input_is_rejected(chain: Chain) -> None:
    with pytest.raises(TxRejected) as rejected:
        chain.accept(spend([("ab" * 32, 0)], [(1_000, BOB)]))
    assert (rejected.value.code, rejected.value.reason) == (-25, "bad-txns-inputs-missingorspent")


def test_an_output_index_past_the_end_is_rejected(chain: Chain) -> None:
    funding = chain.faucet(ALICE, 50_000)
    with pytest.raises(TxRejected, match="missingorspent"):
        chain.accept(spend([(funding, 7)], [(1_000, BOB)]))


def test_a_double_spend_of_a_mempool_output_is_rejected(chain: Chain) -> None:
    funding = chain.faucet(ALICE, 50_000)
    original = chain.accept(spend([(funding, 0)], [(40_000, BOB)]))
    with pytest.raises(TxRejected) as rejected:  # pays less fee: no replacement
        chain.accept(spend([(funding, 0)], [(45_000, ALICE)]))
    assert rejected.value.code == -26
    assert rejected.value.reason.startswith("insufficient fee, rejecting replacement")
    assert chain.mempool == [funding, original]


def final(tx: Tx) -> Tx:
    """`tx` with every input's nSequence at 0xFFFFFFFF: it does not signal BIP125."""
    inputs = tuple(TxIn(i.prev_txid, i.prev_vout, b"", 0xFFFFFFFF, i.witness) for i in tx.inputs)
    return Tx(tx.version, inputs, tx.outputs, tx.locktime)


def test_a_transaction_that_does_not_signal_bip125_is_never_replaced(chain: Chain) -> None:
    funding = chain.faucet(ALICE, 50_000)
    chain.accept(final(spend([(funding, 0)], [(40_000, BOB)])))
    with pytest.raises(TxRejected) as rejected:
        chain.accept(spend([(funding, 0)], [(30_000, BOB)]))  # a far higher fee
    assert (rejected.value.code, rejected.value.reason) == (-26, "txn-mempool-conflict")


def test_a_replacement_paying_a_higher_fee_rate_evicts_the_original_and_its_children(
    chain: Chain,
) -> None:
    funding = chain.faucet(ALICE, 50_000)
    original = chain.accept(spend([(funding, 0)], [(40_000, BOB), (9_000, ALICE)]))
    child = chain.accept(spend([(original, 1)], [(8_500, ALICE)]))
    fees_replaced = chain.fee(chain.txs[original]) + chain.fee(chain.txs[child])
    bumped = spend([(funding, 0)], [(40_000, BOB), (9_000 - fees_replaced - 500, ALICE)])
    txid, replaced = chain.accept_replacing(bumped)
    assert replaced == [original, child]
    assert chain.mempool == [funding, txid]
    assert original not in chain.txs and child not in chain.txs
    assert chain.spent_by[(funding, 0)].txid == txid
    assert chain.scripthash_txs(scripthash(BOB)) == [txid]
    chain.mine(1, NOW)
    assert txid in chain.confirmations


def test_a_replacement_must_pay_more_in_total_and_for_its_own_relay(chain: Chain) -> None:
    funding = chain.faucet(ALICE, 50_000)
    original = chain.accept(spend([(funding, 0)], [(40_000, BOB), (9_000, ALICE)]))  # 1,000 fee
    chain.accept(spend([(original, 1)], [(4_000, ALICE)]))  # a child paying 5,000
    with pytest.raises(TxRejected, match="less fees than conflicting txs; 2000 < 6000"):
        chain.accept(spend([(funding, 0)], [(40_000, BOB), (8_000, ALICE)]))
    alone = Chain.create(NOW, verify_signatures=False)
    funding = alone.faucet(ALICE, 50_000)
    first = spend([(funding, 0)], [(40_000, BOB), (9_000, ALICE)])
    alone.accept(first)
    one_more = spend([(funding, 0)], [(40_000, BOB), (8_999, ALICE)])  # 1 sat more: not enough
    with pytest.raises(TxRejected, match="not enough additional fees to relay; 1 <"):
        alone.accept(one_more)


def test_a_replacement_may_not_add_unconfirmed_inputs(chain: Chain) -> None:
    funding = chain.faucet(ALICE, 50_000)
    other = chain.faucet(BOB, 20_000)  # unconfirmed, and not spent by the original
    chain.accept(spend([(funding, 0)], [(40_000, BOB)]))
    with pytest.raises(TxRejected) as rejected:
        chain.accept(spend([(funding, 0), (other, 0)], [(40_000, BOB), (20_000, ALICE)]))
    assert rejected.value.reason == "replacement-adds-unconfirmed"


def test_a_double_spend_of_a_confirmed_spend_is_rejected(chain: Chain) -> None:
    funding = chain.faucet(ALICE, 50_000)
    chain.accept(spend([(funding, 0)], [(40_000, BOB)]))
    chain.mine(1, NOW)
    with pytest.raises(TxRejected) as rejected:
        chain.accept(spend([(funding, 0)], [(45_000, ALICE)]))
    assert rejected.value.reason == "bad-txns-inputs-missingorspent"


def test_a_confirmed_tx_broadcast_again_is_reported_as_in_the_chain(chain: Chain) -> None:
    funding = chain.faucet(ALICE, 50_000)
    tx = spend([(funding, 0)], [(40_000, BOB)])
    chain.accept(tx)
    chain.mine(1, NOW)
    with pytest.raises(TxRejected) as rejected:
        chain.accept(tx)
    assert rejected.value.code == -27


def test_spending_more_than_the_inputs_is_rejected(chain: Chain) -> None:
    funding = chain.faucet(ALICE, 50_000)
    with pytest.raises(TxRejected) as rejected:
        chain.accept(spend([(funding, 0)], [(40_000, BOB), (10_001, ALICE)]))
    assert rejected.value.reason.startswith("bad-txns-in-belowout")
    assert chain.mempool == [funding]


def test_spending_exactly_the_inputs_is_accepted(chain: Chain) -> None:
    funding = chain.faucet(ALICE, 50_000)
    txid = chain.accept(spend([(funding, 0)], [(50_000, BOB)]))
    assert chain.fee(chain.txs[txid]) == 0


@pytest.mark.parametrize(
    ("tx", "reason"),
    [
        (Tx(2, (), (TxOut(1, BOB),), 0), "bad-txns-vin-empty"),
        (Tx(2, (TxIn("ab" * 32, 0),), (), 0), "bad-txns-vout-empty"),
        (Tx(2, (TxIn("00" * 32, 0xFFFFFFFF, b"\x01\x02"),), (TxOut(1, BOB),), 0), "coinbase"),
        (Tx(2, (TxIn("ab" * 32, 0),), (TxOut(21_000_001 * 10**8, BOB),), 0), "toolarge"),
    ],
)
def test_malformed_transactions_are_rejected(chain: Chain, tx: Tx, reason: str) -> None:
    with pytest.raises(TxRejected, match=reason):
        chain.accept(tx)


def test_the_same_outpoint_twice_in_one_tx_is_rejected(chain: Chain) -> None:
    funding = chain.faucet(ALICE, 50_000)
    with pytest.raises(TxRejected, match="bad-txns-inputs-duplicate"):
        chain.accept(spend([(funding, 0), (funding, 0)], [(90_000, BOB)]))


def test_a_chain_of_unconfirmed_spends_is_mined_in_order(chain: Chain) -> None:
    funding = chain.faucet(ALICE, 50_000)
    child = chain.accept(spend([(funding, 0)], [(49_000, BOB)]))
    grandchild = chain.accept(spend([(child, 0)], [(48_000, ALICE)]))
    (block,) = chain.mine(1, NOW)
    assert [tx.txid for tx in block.txs[1:]] == [funding, child, grandchild]


def test_evicting_a_tx_drops_its_descendants_and_frees_its_inputs(chain: Chain) -> None:
    funding = chain.faucet(ALICE, 50_000)
    child = chain.accept(spend([(funding, 0)], [(49_000, BOB)]))
    chain.accept(spend([(child, 0)], [(48_000, ALICE)]))
    unrelated = chain.faucet(BOB, 1_000)

    dropped = chain.evict(child)

    assert dropped[0] == child and len(dropped) == 2
    assert chain.mempool == [funding, unrelated]
    assert (funding, 0) not in chain.spent_by
    assert child not in chain.txs
    assert child not in chain.scripthash_txs(scripthash(BOB))
    chain.accept(spend([(funding, 0)], [(45_000, BOB)]))  # the coins are spendable again
    with pytest.raises(UnknownTx):
        chain.evict(child)


def test_the_faucet_keeps_paying_after_its_payment_is_evicted(chain: Chain) -> None:
    first = chain.faucet(ALICE, 50_000)
    chain.evict(first)
    second = chain.faucet(ALICE, 60_000)
    assert chain.mempool == [second]


def test_script_history_lists_mempool_first_then_confirmed_newest_first(chain: Chain) -> None:
    old = chain.faucet(ALICE, 1_000)
    chain.mine(1, NOW)
    new = chain.faucet(ALICE, 2_000)
    chain.mine(1, NOW)
    pending = chain.faucet(ALICE, 3_000)
    spending = chain.accept(spend([(old, 0)], [(900, BOB)]))

    assert chain.scripthash_txs(scripthash(ALICE)) == [spending, pending, new, old]
    assert chain.scripthash_txs(scripthash(BOB)) == [spending]


def test_script_history_pages_confirmed_txs_by_25(chain: Chain) -> None:
    txids = []
    for _ in range(30):
        txids.append(chain.faucet(ALICE, 1_000))
        chain.mine(1, NOW)
    newest_first = txids[::-1]

    first = chain.scripthash_txs(scripthash(ALICE))
    second = chain.scripthash_txs(scripthash(ALICE), first[-1])

    assert first == newest_first[:25]
    assert second == newest_first[25:]
    assert chain.scripthash_txs(scripthash(ALICE), second[-1]) == []


def test_restore_rebuilds_the_same_chain(chain: Chain) -> None:
    funding = chain.faucet(ALICE, 50_000)
    chain.mine(2, NOW)
    pending = chain.accept(spend([(funding, 0)], [(49_000, BOB)]))

    mempool = [chain.txs[t] for t in chain.mempool]
    copy = Chain.restore(chain.blocks, mempool, verify_signatures=False)

    assert [b.hash for b in copy.blocks] == [b.hash for b in chain.blocks]
    assert copy.mempool == [pending]
    assert copy.confirmations == chain.confirmations
    assert copy.spent_by == chain.spent_by
    assert copy.scripthash_txs(scripthash(ALICE)) == chain.scripthash_txs(scripthash(ALICE))


def test_a_reorg_returns_confirmed_txs_to_the_mempool_on_a_longer_chain(chain: Chain) -> None:
    funding = chain.faucet(ALICE, 50_000)
    (old_block,) = chain.mine(1, NOW)
    pending = chain.faucet(BOB, 1_000)
    old_height = chain.tip_height

    result = chain.reorg(1, 2, NOW)

    assert result.disconnected == [old_block.hash]
    assert len(result.connected) == 2
    assert chain.tip_height == old_height + 1
    assert chain.blocks[old_height].hash != old_block.hash
    assert chain.block_by_hash(old_block.hash) is None
    assert result.returned == [funding, pending]
    assert chain.mempool == [funding, pending]  # the disconnected block's txs come first
    assert funding not in chain.confirmations
    assert all(len(chain.blocks[h].txs) == 1 for h in (old_height, old_height + 1))
    (block,) = chain.mine(1, NOW)
    assert chain.confirmations[funding].block_hash == block.hash


def test_a_reorg_drops_spends_of_a_disconnected_coinbase(chain: Chain) -> None:
    (block,) = chain.mine(1, NOW, coinbase_script=ALICE)
    coinbase = block.txs[0]
    spend_of_reward = chain.accept(spend([(coinbase.txid, 0)], [(1_000, BOB)]))

    result = chain.reorg(1, 1, NOW)

    assert result.dropped == [spend_of_reward]
    assert chain.mempool == []
    assert coinbase.txid not in chain.txs
    assert chain.scripthash_txs(scripthash(ALICE)) == []


def test_a_reorg_of_the_same_shape_still_changes_the_block(chain: Chain) -> None:
    (empty,) = chain.mine(1, NOW)
    chain.reorg(1, 1, NOW)
    assert chain.tip.hash != empty.hash


@pytest.mark.parametrize("depth", [0, 2])
def test_a_reorg_never_reaches_the_faucet_block(depth: int) -> None:
    fresh = Chain.create(NOW, verify_signatures=False)
    fresh.mine(1, NOW)
    with pytest.raises(ValueError, match="depth"):
        fresh.reorg(depth, 1, NOW)


def test_the_genesis_coinbase_is_unspendable(chain: Chain) -> None:
    genesis_coinbase = chain.blocks[0].txs[0].txid
    with pytest.raises(TxRejected, match="missingorspent"):
        chain.accept(spend([(genesis_coinbase, 0)], [(1_000, BOB)]))


def test_a_saved_mempool_tx_that_no_longer_passes_is_dropped_on_load(chain: Chain) -> None:
    funding = chain.faucet(ALICE, 50_000)
    unsigned = chain.accept(spend([(funding, 0)], [(49_000, BOB)]))  # accepted: checks are off
    mempool = [chain.txs[t] for t in chain.mempool]

    strict = Chain.restore(chain.blocks, mempool, verify_signatures=True)

    assert strict.mempool == [funding]
    assert unsigned not in strict.txs
