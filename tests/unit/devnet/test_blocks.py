"""Headers, merkle trees and coinbases of devnet blocks."""

from __future__ import annotations

import hashlib

import pytest

from cairn.devnet.blocks import (
    REGTEST_GENESIS_HASH,
    Header,
    bip34_height_push,
    build_block,
    build_coinbase,
    genesis_block,
    merkle_branch,
    merkle_root,
    parse_block,
    target_from_bits,
)
from cairn.devnet.txcodec import Tx, TxIn, TxOut, sha256d


def test_genesis_is_bitcoin_cores_regtest_genesis() -> None:
    genesis = genesis_block()
    assert genesis.hash == REGTEST_GENESIS_HASH
    assert Header.parse(genesis.header.serialize()) == genesis.header


def test_block_hash_is_double_sha256_of_the_80_byte_header() -> None:
    header = genesis_block().header
    raw = header.serialize()
    assert len(raw) == 80
    assert header.hash == hashlib.sha256(hashlib.sha256(raw).digest()).digest()[::-1].hex()


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7, 8, 13])
def test_every_merkle_branch_leads_to_the_root(count: int) -> None:
    txids = [hashlib.sha256(bytes([i])).hexdigest() for i in range(count)]
    root = merkle_root(txids)
    for index, txid in enumerate(txids):
        node, position = bytes.fromhex(txid)[::-1], index
        for sibling_hex in merkle_branch(txids, index):
            sibling = bytes.fromhex(sibling_hex)[::-1]
            node = sha256d(sibling + node) if position & 1 else sha256d(node + sibling)
            position //= 2
        assert node[::-1].hex() == root


def test_merkle_root_duplicates_the_last_node_of_odd_levels() -> None:
    a, b, c = ("11" * 32, "22" * 32, "33" * 32)
    assert merkle_root([a, b, c]) == merkle_root([a, b, c, c])
    assert merkle_root([a]) == a


def test_mined_blocks_meet_the_regtest_target_and_round_trip() -> None:
    coinbase = build_coinbase(1, [TxOut(50, b"\x51")], [])
    block = build_block(REGTEST_GENESIS_HASH, 1_700_000_000, [coinbase])
    assert int(block.hash, 16) <= target_from_bits(block.header.bits)
    assert block.header.merkle_root == coinbase.txid
    assert parse_block(block.serialize()) == block


def test_a_coinbase_commits_to_witnesses_when_a_tx_has_one() -> None:
    segwit = Tx(2, (TxIn("ab" * 32, 0, b"", 0, (b"\x01",)),), (TxOut(1, b"\x51"),), 0)
    coinbase = build_coinbase(200, [TxOut(50, b"\x51")], [segwit])
    assert coinbase.outputs[-1].script_pubkey.startswith(bytes.fromhex("6a24aa21a9ed"))
    assert coinbase.inputs[0].witness == (bytes(32),)
    assert coinbase.inputs[0].script_sig.startswith(bip34_height_push(200))
    plain = build_coinbase(200, [TxOut(50, b"\x51")], [])
    assert len(plain.outputs) == 1


@pytest.mark.parametrize(
    ("height", "push"),
    [
        (0, "00"),
        (1, "51"),
        (16, "60"),
        (17, "0111"),
        (127, "017f"),
        (128, "028000"),
        (500, "02f401"),
    ],
)
def test_bip34_height_push_is_minimal(height: int, push: str) -> None:
    assert bip34_height_push(height).hex() == push
