"""ChangeSets survive the trip through records: every part, byte-stable."""

from __future__ import annotations

import bdkpython as bdk
import pytest

from cairn.wallet.changeset_codec import (
    ChangeSetFormatError,
    decode_changeset,
    encode_changeset,
    merge,
)

from .offline import collecting_wallet, descriptors, fund


def wallet_with_history() -> tuple[bdk.Wallet, bdk.ChangeSet]:
    wallet, collector, persister = collecting_wallet()
    address = str(wallet.reveal_next_address(bdk.KeychainKind.EXTERNAL).address)
    wallet.reveal_addresses_to(bdk.KeychainKind.INTERNAL, 3)
    fund(wallet, address, 70_000)
    outpoint = wallet.list_unspent()[0].outpoint
    wallet.lock_outpoint(outpoint)
    assert wallet.persist(persister)
    return wallet, merge(collector.changesets)


def test_encoding_is_stable_and_round_trips_every_part():
    _, changeset = wallet_with_history()
    encoded = encode_changeset(changeset)
    decoded = decode_changeset(encoded, bdk.NetworkKind.TEST)
    assert encode_changeset(decoded) == encoded
    assert str(decoded.descriptor()) == str(changeset.descriptor())
    assert decoded.network() == bdk.Network.REGTEST
    assert len(decoded.tx_graph_changeset().txs) == 1
    assert len(decoded.indexer_changeset().last_revealed) == 2
    assert list(decoded.locked_outpoints_changeset().values()) == [True]


def test_a_wallet_loaded_from_the_decoded_changeset_has_the_same_state():
    wallet, changeset = wallet_with_history()
    restored = decode_changeset(encode_changeset(changeset), bdk.NetworkKind.TEST)

    class Fixed(bdk.Persistence):
        def initialize(self) -> bdk.ChangeSet:
            return restored

        def persist(self, changeset: bdk.ChangeSet) -> None:
            pass

    external, internal = descriptors()
    loaded = bdk.Wallet.load(external, internal, bdk.Persister.custom(Fixed()))
    assert loaded.balance().total.to_sat() == wallet.balance().total.to_sat() == 70_000
    assert loaded.derivation_index(bdk.KeychainKind.EXTERNAL) == 0
    assert loaded.derivation_index(bdk.KeychainKind.INTERNAL) == 3
    assert [str(t.transaction.compute_txid()) for t in loaded.transactions()] == [
        str(t.transaction.compute_txid()) for t in wallet.transactions()
    ]


def test_the_descriptor_is_stored_without_its_private_key():
    _, changeset = wallet_with_history()
    text = encode_changeset(changeset).decode()
    assert "tpub" in text
    assert "tprv" not in text


def test_merge_keeps_the_highest_revealed_index():
    wallet, collector, persister = collecting_wallet()
    wallet.reveal_addresses_to(bdk.KeychainKind.EXTERNAL, 5)
    wallet.persist(persister)
    wallet.reveal_addresses_to(bdk.KeychainKind.EXTERNAL, 9)
    wallet.persist(persister)
    first, second, third = collector.changesets
    merged = merge([first, third, second])
    assert list(merged.indexer_changeset().last_revealed.values()) == [9]


@pytest.mark.parametrize(
    "data",
    [b"", b"not json", b"[]", b'{"format": 99}', b'{"format": 1}', b'{"format": 1, "x": 1}'],
)
def test_corrupt_records_raise_one_error_type(data: bytes):
    with pytest.raises(ChangeSetFormatError):
        decode_changeset(data, bdk.NetworkKind.TEST)
