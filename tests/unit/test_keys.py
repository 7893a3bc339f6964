"""cairn.keys against the public BIP39, BIP32 and BIP84 vectors."""

from __future__ import annotations

import pytest

from cairn.keys import (
    BackupKeys,
    InvalidMnemonic,
    Network,
    bip84_account_zpub,
    bip84_descriptors,
    derive_backup_keys,
    generate_mnemonic,
    mnemonic_to_seed,
    validate_mnemonic,
)

ABANDON = (
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
)


def test_bip84_vector_zpub() -> None:
    seed = mnemonic_to_seed(ABANDON)
    assert bip84_account_zpub(seed, Network.BITCOIN) == (
        "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
    )


def test_bip84_descriptors_give_the_vector_addresses_in_bdk() -> None:
    import bdkpython as bdk

    external, internal = bip84_descriptors(mnemonic_to_seed(ABANDON), Network.BITCOIN)
    wallet = bdk.Wallet(
        bdk.Descriptor(external, bdk.NetworkKind.MAIN),
        bdk.Descriptor(internal, bdk.NetworkKind.MAIN),
        bdk.Network.BITCOIN,
        bdk.Persister.new_in_memory(),
    )
    receive = wallet.peek_address(bdk.KeychainKind.EXTERNAL, 0).address
    change = wallet.peek_address(bdk.KeychainKind.INTERNAL, 0).address
    assert str(receive) == "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
    assert str(change) == "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el"


def test_backup_keys_are_distinct_and_stable() -> None:
    keys = derive_backup_keys(mnemonic_to_seed(ABANDON))
    assert isinstance(keys, BackupKeys)
    assert len(keys.node_id) == 66 and keys.node_id[:2] in {"02", "03"}
    assert len({keys.signing_key, keys.data_key, keys.key_name_key}) == 3
    assert derive_backup_keys(mnemonic_to_seed(ABANDON)) == keys
    assert keys.node_id in repr(keys) and keys.data_key.hex() not in repr(keys)


def test_unknown_word_is_named_with_suggestions() -> None:
    with pytest.raises(InvalidMnemonic) as info:
        validate_mnemonic(ABANDON.replace("about", "abuot"))
    assert info.value.unknown_word == "abuot"
    assert info.value.position == 12
    assert "about" in info.value.suggestions


def test_checksum_failure_is_reported() -> None:
    with pytest.raises(InvalidMnemonic) as info:
        validate_mnemonic("abandon " * 11 + "abandon")
    assert info.value.checksum_failed


@pytest.mark.parametrize("words", [12, 24])
def test_generated_phrases_validate(words: int) -> None:
    phrase = generate_mnemonic(words)
    assert len(phrase.split()) == words
    assert validate_mnemonic(phrase) == phrase
