"""The v1 envelope: exact format, round trips, and every failure is a DecryptionError."""

from __future__ import annotations

import random
import struct

import pytest
import zstandard
from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.backup.envelope import (
    MAX_PLAINTEXT,
    OVERHEAD,
    DecryptionError,
    Unsealer,
    associated_data,
    seal,
    unseal,
)

KEY = bytes(range(32))
OBJ = "ab" * 32
STORE = "regtest"
NONCE = bytes(12)


def _forge(plaintext: bytes, *, version: int = 1, header: bytes = b"CRN\x01") -> bytes:
    """A blob sealed by hand with the real key: tests what unseal does after authentication."""
    aad = associated_data(STORE, OBJ, version)
    return header + NONCE + AESGCMSIV(KEY).encrypt(NONCE, plaintext, aad)


def test_format_matches_the_specification() -> None:
    blob = seal(KEY, STORE, OBJ, 7, b"hello", nonce=NONCE)
    aad = (
        b"CRN\x01"
        + struct.pack(">H", len(STORE))
        + STORE.encode()
        + struct.pack(">H", 64)
        + OBJ.encode()
        + struct.pack(">Q", 7)
    )
    assert associated_data(STORE, OBJ, 7) == aad
    assert blob == b"CRN\x01" + NONCE + AESGCMSIV(KEY).encrypt(NONCE, b"\x00hello", aad)
    assert len(blob) == OVERHEAD + len(b"hello")


@pytest.mark.parametrize(
    "payload", [b"", b"x", bytes(63), b"hello " * 1000, bytes(range(256)) * 64]
)
def test_round_trip(payload: bytes) -> None:
    for compress in (None, True, False):
        blob = seal(KEY, STORE, OBJ, 1, payload, compress=compress)
        assert unseal(KEY, STORE, OBJ, 1, blob) == payload


def test_compression_only_when_it_helps() -> None:
    aad = associated_data(STORE, OBJ, 1)

    def flags(blob: bytes) -> int:
        return AESGCMSIV(KEY).decrypt(blob[4:16], blob[16:], aad)[0]

    assert flags(seal(KEY, STORE, OBJ, 1, b"a" * 63)) == 0  # below the threshold
    assert flags(seal(KEY, STORE, OBJ, 1, b"a" * 64)) == 1
    incompressible = random.Random(1).randbytes(4096)
    assert flags(seal(KEY, STORE, OBJ, 1, incompressible)) == 0
    assert flags(seal(KEY, STORE, OBJ, 1, b"x", compress=True)) == 1
    assert flags(seal(KEY, STORE, OBJ, 1, b"a" * 1000, compress=False)) == 0
    assert len(seal(KEY, STORE, OBJ, 1, b"a" * 100_000)) < 1000


def test_random_nonce_makes_equal_payloads_differ() -> None:
    assert seal(KEY, STORE, OBJ, 1, b"same") != seal(KEY, STORE, OBJ, 1, b"same")
    assert seal(KEY, STORE, OBJ, 1, b"same", nonce=NONCE) == seal(
        KEY, STORE, OBJ, 1, b"same", nonce=NONCE
    )


@pytest.mark.parametrize(
    ("store", "key", "version"),
    [("signet", OBJ, 3), ("regtest", "cd" * 32, 3), ("regtest", OBJ, 4), ("regtest", OBJ, 2)],
    ids=["store", "key", "version+1", "version-1"],
)
def test_moved_blob_fails(store: str, key: str, version: int) -> None:
    blob = seal(KEY, "regtest", OBJ, 3, b"payload")
    with pytest.raises(DecryptionError):
        unseal(KEY, store, key, version, blob)


def test_wrong_key_fails() -> None:
    blob = seal(KEY, STORE, OBJ, 1, b"payload")
    with pytest.raises(DecryptionError):
        unseal(bytes(32), STORE, OBJ, 1, blob)


def test_every_truncation_fails() -> None:
    blob = seal(KEY, STORE, OBJ, 1, b"payload" * 20)
    for length in range(len(blob)):
        with pytest.raises(DecryptionError):
            unseal(KEY, STORE, OBJ, 1, blob[:length])


def test_appended_bytes_fail() -> None:
    blob = seal(KEY, STORE, OBJ, 1, b"payload")
    with pytest.raises(DecryptionError):
        unseal(KEY, STORE, OBJ, 1, blob + b"\x00")


@pytest.mark.parametrize("header", [b"CRN\x00", b"CRN\x02", b"CRN\xff", b"XRN\x01", b"crn\x01"])
def test_unknown_format_or_magic_fails(header: bytes) -> None:
    blob = seal(KEY, STORE, OBJ, 1, b"payload")
    with pytest.raises(DecryptionError):
        unseal(KEY, STORE, OBJ, 1, header + blob[4:])


def test_unknown_flags_fail_even_when_authentic() -> None:
    for flags in (0x02, 0x80, 0xFF):
        with pytest.raises(DecryptionError, match="flags"):
            unseal(KEY, STORE, OBJ, 1, _forge(bytes([flags]) + b"payload"))


def test_bad_zstd_fails_even_when_authentic() -> None:
    frame = zstandard.ZstdCompressor().compress(b"a" * 1000)
    for body in (b"not zstd", frame[:-3], frame + b"trailing", frame + frame, b""):
        with pytest.raises(DecryptionError):
            unseal(KEY, STORE, OBJ, 1, _forge(b"\x01" + body))


def test_decompression_bomb_is_refused() -> None:
    # Both frame kinds: with the content size in the header (which zstandard's one-shot
    # decompress would trust) and without.
    for write_size in (True, False):
        bomb = zstandard.ZstdCompressor(write_content_size=write_size).compress(
            bytes(MAX_PLAINTEXT + 1)
        )
        assert len(bomb) < 1024
        with pytest.raises(DecryptionError, match="larger"):
            unseal(KEY, STORE, OBJ, 1, _forge(b"\x01" + bomb))


def test_largest_record_round_trips() -> None:
    payload = bytes(MAX_PLAINTEXT)
    assert unseal(KEY, STORE, OBJ, 1, seal(KEY, STORE, OBJ, 1, payload)) == payload
    with pytest.raises(ValueError):
        seal(KEY, STORE, OBJ, 1, payload + b"\x00")


def test_unusable_arguments_are_refused_when_sealing() -> None:
    with pytest.raises(ValueError):
        seal(bytes(16), STORE, OBJ, 1, b"")
    with pytest.raises(ValueError):
        seal(KEY, STORE, OBJ, -1, b"")
    with pytest.raises(ValueError):
        seal(KEY, STORE, OBJ, 2**64, b"")
    with pytest.raises(ValueError):
        seal(KEY, STORE, OBJ, 1, b"", nonce=bytes(11))


def test_impossible_address_is_a_decryption_error() -> None:
    blob = seal(KEY, STORE, OBJ, 1, b"payload")
    with pytest.raises(DecryptionError):
        unseal(KEY, STORE, "é" * 64, 1, blob)
    with pytest.raises(DecryptionError):
        unseal(KEY, STORE, OBJ, -1, blob)


def test_one_unsealer_opens_many_blobs_with_every_check_of_unseal() -> None:
    unsealer = Unsealer(KEY)
    payloads = [bytes([i]) * (i * 10) for i in range(20)]
    blobs = [
        (f"{i:064x}", i + 1, seal(KEY, STORE, f"{i:064x}", i + 1, p))
        for i, p in enumerate(payloads)
    ]
    assert [unsealer.unseal(STORE, k, v, b) for k, v, b in blobs] == payloads
    key, version, blob = blobs[7]
    refused = [
        (STORE, key, version + 1, blob),  # another version
        ("testnet", key, version, blob),  # another store
        (STORE, blobs[8][0], version, blob),  # another key
        (STORE, key, version, blob[:-1]),
        (STORE, key, version, blob[:10]),
        (STORE, key, version, b"CRN\x02" + blob[4:]),
        (STORE, "é" * 64, version, blob),
        (STORE, key, -1, blob),
    ]
    for args in refused:
        with pytest.raises(DecryptionError):
            unsealer.unseal(*args)
    with pytest.raises(DecryptionError):
        Unsealer(bytes(32)).unseal(STORE, key, version, blob)
    # Refusals leave the unsealer usable.
    assert unsealer.unseal(STORE, key, version, blob) == unseal(KEY, STORE, key, version, blob)
    with pytest.raises(ValueError):
        Unsealer(bytes(16))


@settings(max_examples=300, deadline=None)
@given(blob=st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_decryption_error(blob: bytes) -> None:
    with pytest.raises(DecryptionError):
        unseal(KEY, STORE, OBJ, 1, blob)


@settings(max_examples=100, deadline=None)
@given(suffix=st.binary(max_size=100))
def test_arbitrary_bytes_after_a_valid_header_raise_only_decryption_error(suffix: bytes) -> None:
    with pytest.raises(DecryptionError):
        unseal(KEY, STORE, OBJ, 1, b"CRN\x01" + suffix)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    payload=st.binary(max_size=300) | st.text(max_size=200).map(lambda t: (t * 5).encode()),
    data=st.data(),
)
def test_any_single_flipped_byte_fails(payload: bytes, data: st.DataObject) -> None:
    blob = seal(KEY, STORE, OBJ, 9, payload)
    index = data.draw(st.integers(0, len(blob) - 1), label="index")
    mask = data.draw(st.integers(1, 255), label="mask")
    damaged = bytearray(blob)
    damaged[index] ^= mask
    with pytest.raises(DecryptionError):
        unseal(KEY, STORE, OBJ, 9, bytes(damaged))
    assert unseal(KEY, STORE, OBJ, 9, blob) == payload
