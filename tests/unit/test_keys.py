"""cairn.keys against the public BIP39, BIP32 and BIP84 vectors, and its own contract."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import bdkpython as bdk
import pytest
from mnemonic import Mnemonic

from cairn.keys import (
    BackupKeys,
    InvalidMnemonic,
    Network,
    bip84_descriptors,
    closest_words,
    derive_backup_keys,
    derive_private_key,
    generate_mnemonic,
    hash160,
    master_xprv,
    mnemonic_to_seed,
    node_id_of,
    phrase_and_passphrase,
    validate_mnemonic,
)
from cairn.ripemd160 import ripemd160

VECTORS = Path(__file__).parent / "vectors"
ABANDON = (
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
)


def _load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


BIP39 = _load("bip39_english.json")
BIP32 = _load("bip32.json")


@pytest.mark.parametrize(
    ("entropy", "phrase", "seed", "xprv"), BIP39["english"], ids=lambda v: str(v)[:12]
)
def test_bip39_english_vectors(entropy: str, phrase: str, seed: str, xprv: str) -> None:
    assert Mnemonic("english").to_mnemonic(bytes.fromhex(entropy)) == phrase
    assert validate_mnemonic(phrase) == phrase
    derived = mnemonic_to_seed(phrase, BIP39["passphrase"])
    assert derived.hex() == seed
    assert master_xprv(derived) == xprv


def test_bip39_vector_file_is_complete() -> None:
    # 8 each of 12, 18 and 24 words: a truncated file would pass the parametrized test.
    counts = [len(v[1].split()) for v in BIP39["english"]]
    assert len(counts) == 24
    assert {n: counts.count(n) for n in set(counts)} == {12: 8, 18: 8, 24: 8}


def _node(seed: bytes, path: str) -> tuple[str, str]:
    """(xprv, xpub) of `path`: Cairn's master key, derived by bdkpython as the app does."""
    master = bdk.DescriptorSecretKey.from_string(master_xprv(seed))
    node = master if path == "m" else master.derive(bdk.DerivationPath(path))
    # bdkpython writes the key's origin in front: "[fingerprint/path]xprv...".
    return str(node).rpartition("]")[2], str(node.as_public()).rpartition("]")[2]


@pytest.mark.parametrize("vector", BIP32["vectors"], ids=["vector-1", "vector-2"])
def test_bip32_vectors_every_chain(vector: dict[str, Any]) -> None:
    seed = bytes.fromhex(vector["seed"])
    for path, xpub, xprv in vector["chains"]:
        assert _node(seed, path) == (xprv, xpub), path


def test_a_bad_derivation_path_is_refused() -> None:
    seed = mnemonic_to_seed(ABANDON)
    for bad in ("m/-1", "m/x", "m/2147483648", "m//1"):
        with pytest.raises(ValueError):
            derive_private_key(seed, bad)


def _wallet(network: Network, seed: bytes) -> bdk.Wallet:
    kind = bdk.NetworkKind.MAIN if network is Network.BITCOIN else bdk.NetworkKind.TEST
    external, internal = bip84_descriptors(seed, network)
    return bdk.Wallet(
        bdk.Descriptor(external, kind),
        bdk.Descriptor(internal, kind),
        getattr(bdk.Network, network.name),
        bdk.Persister.new_in_memory(),
    )


def test_bip84_descriptors_give_the_vector_addresses_in_bdk() -> None:
    wallet = _wallet(Network.BITCOIN, mnemonic_to_seed(ABANDON))
    assert str(wallet.peek_address(bdk.KeychainKind.EXTERNAL, 0).address) == (
        "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
    )
    assert str(wallet.peek_address(bdk.KeychainKind.INTERNAL, 0).address) == (
        "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el"
    )


def test_bip84_descriptors_equal_bdks_own_template() -> None:
    seed = mnemonic_to_seed(ABANDON)
    for network, kind in [
        (Network.BITCOIN, bdk.NetworkKind.MAIN),
        (Network.REGTEST, bdk.NetworkKind.TEST),
    ]:
        secret = bdk.DescriptorSecretKey(kind, bdk.Mnemonic.from_string(ABANDON), None)
        expected = [
            bdk.Descriptor.new_bip84(secret, keychain, kind).to_string_with_secret()
            for keychain in (bdk.KeychainKind.EXTERNAL, bdk.KeychainKind.INTERNAL)
        ]
        assert list(bip84_descriptors(seed, network)) == expected


@pytest.mark.parametrize("network", [Network.TESTNET, Network.SIGNET, Network.REGTEST])
def test_test_networks_use_tprv_and_coin_type_1(network: Network) -> None:
    external, internal = bip84_descriptors(mnemonic_to_seed(ABANDON), network)
    assert external.startswith("wpkh(tprv") and "/84'/1'/0'/0/*)#" in external
    assert "/84'/1'/0'/1/*)#" in internal
    address = str(
        _wallet(network, mnemonic_to_seed(ABANDON))
        .peek_address(bdk.KeychainKind.EXTERNAL, 0)
        .address
    )
    assert address.startswith("bcrt1q" if network is Network.REGTEST else "tb1q")


def test_backup_keys_follow_the_documented_derivation() -> None:
    seed = mnemonic_to_seed(ABANDON)
    keys = derive_backup_keys(seed)
    # bdkpython's own way from the words (its PBKDF2, its master key) reaches the same node.
    from_words = bdk.DescriptorSecretKey(
        bdk.NetworkKind.MAIN, bdk.Mnemonic.from_string(ABANDON), None
    )
    identity = bytes(from_words.derive(bdk.DerivationPath("m/22476'/0'")).secret_bytes())
    assert keys.signing_key == identity == derive_private_key(seed, "m/22476'/0'")
    assert keys.node_id == node_id_of(identity)
    assert len(keys.node_id) == 66 and keys.node_id[:2] in {"02", "03"}
    assert len({keys.signing_key, keys.data_key, keys.key_name_key}) == 3
    assert derive_backup_keys(mnemonic_to_seed(ABANDON)) == keys
    assert derive_backup_keys(mnemonic_to_seed(ABANDON, "other")) != keys


def test_backup_keys_repr_hides_secrets() -> None:
    keys = derive_backup_keys(mnemonic_to_seed(ABANDON))
    assert isinstance(keys, BackupKeys)
    text = repr(keys) + str(keys)
    for secret in (keys.signing_key, keys.data_key, keys.key_name_key):
        assert secret.hex() not in text


def test_unknown_word_is_named_with_suggestions() -> None:
    with pytest.raises(InvalidMnemonic) as info:
        validate_mnemonic(ABANDON.replace("about", "abuot"))
    assert info.value.unknown_word == "abuot"
    assert info.value.position == 12
    assert "about" in info.value.suggestions
    assert "abuot" in str(info.value) and "12" in str(info.value)
    assert not info.value.checksum_failed


def test_typed_prefix_suggests_the_word() -> None:
    assert closest_words("abando")[0] == "abandon"
    assert closest_words("zoology")[0] == "zoo"
    assert closest_words("qqqqqq") == []


def test_checksum_failure_is_reported() -> None:
    with pytest.raises(InvalidMnemonic) as info:
        validate_mnemonic(" ".join(["abandon"] * 12))
    assert info.value.checksum_failed
    assert info.value.unknown_word is None
    assert "checksum" in str(info.value)


@pytest.mark.parametrize("count", [0, 11, 13, 25])
def test_wrong_word_count_is_reported(count: int) -> None:
    with pytest.raises(InvalidMnemonic, match="12 or 24 words"):
        validate_mnemonic(" ".join(["abandon"] * count))


def test_phrase_is_normalised() -> None:
    messy = "  ABANDON abandon\tabandon abandon abandon abandon abandon abandon abandon abandon abandon About \n"
    assert validate_mnemonic(messy) == ABANDON
    assert mnemonic_to_seed(messy) == mnemonic_to_seed(ABANDON)


def test_passphrase_changes_the_seed() -> None:
    assert mnemonic_to_seed(ABANDON, "TREZOR") != mnemonic_to_seed(ABANDON)


def test_invalid_phrase_gives_no_seed() -> None:
    with pytest.raises(InvalidMnemonic):
        mnemonic_to_seed(" ".join(["abandon"] * 12))


@pytest.mark.parametrize("words", [12, 24])
def test_generated_phrases_validate_and_differ(words: int) -> None:
    phrases = {generate_mnemonic(words) for _ in range(5)}
    assert len(phrases) == 5
    for phrase in phrases:
        assert len(phrase.split()) == words
        assert validate_mnemonic(phrase) == phrase


def test_generate_refuses_other_lengths() -> None:
    with pytest.raises(ValueError):
        generate_mnemonic(18)


def test_network_values_are_store_ids() -> None:
    assert [n.value for n in Network] == ["bitcoin", "testnet", "signet", "regtest"]
    assert Network("regtest").coin_type == 1 and Network.BITCOIN.coin_type == 0


@pytest.mark.parametrize(
    ("message", "digest"),
    [
        (b"", "9c1185a5c5e9fc54612808977ee8f548b2258d31"),
        (b"abc", "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc"),
        (b"message digest", "5d0689ef49d2fae572b881b123a85ffa21595f36"),
        (b"a" * 56, None),
        (b"1234567890" * 8, "9b752e45573d4b39f4dbd3323cab82bf63326bfb"),
        (bytes(range(256)) * 3, None),
    ],
)
def test_pure_python_ripemd160(message: bytes, digest: str | None) -> None:
    # The published RIPEMD-160 vectors; where none is published, hashlib's answer when it has one.
    expected = digest
    if expected is None:
        try:
            expected = hashlib.new("ripemd160", message).hexdigest()
        except ValueError:
            pytest.skip("no reference RIPEMD-160 here")
    assert ripemd160(message).hex() == expected


def test_hash160_works_without_openssl_ripemd160(monkeypatch: pytest.MonkeyPatch) -> None:
    real_new = hashlib.new
    key = bytes.fromhex(derive_backup_keys(mnemonic_to_seed(ABANDON)).node_id)
    expected = hash160(key)

    def without_ripemd(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "ripemd160":
            raise ValueError("unsupported hash type")
        return real_new(name, *args, **kwargs)

    monkeypatch.setattr(hashlib, "new", without_ripemd)
    assert hash160(key) == expected == ripemd160(hashlib.sha256(key).digest())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ABANDON + "\n", (ABANDON, "", False)),
        ("\ufeff" + ABANDON + "\r\n", (ABANDON, "", False)),  # an editor's BOM, CRLF
        ("\n" + ABANDON + "\n\n", (ABANDON, "", False)),
        ("\n".join(ABANDON.split()) + "\n", (ABANDON, "", False)),  # one word a line
        (
            "\n".join([" ".join(ABANDON.split()[:6]), " ".join(ABANDON.split()[6:])]),
            (ABANDON, "", False),
        ),  # two rows of six
        (ABANDON + "\n  my pass phrase \r\n", (ABANDON, "  my pass phrase ", True)),
        ("abandon\u200b " + ABANDON.split(" ", 1)[1], (ABANDON, "", False)),  # zero-width space
    ],
)
def test_words_files_are_read_as_people_write_them(text: str, expected: tuple[str, str, bool]):
    assert phrase_and_passphrase(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "no recovery words"),
        ("\n \n", "no recovery words"),
        (ABANDON + "\npass\nmore", "there are 3 lines"),
        ("abandon abandon\nabandon", "this one has 3"),
    ],
)
def test_a_words_file_that_is_not_one_says_why_without_the_words(text: str, says: str):
    with pytest.raises(InvalidMnemonic) as caught:
        phrase_and_passphrase(text)
    assert says in caught.value.message_without_words
    assert "more" not in caught.value.message_without_words  # nothing from the file
