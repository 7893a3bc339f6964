"""The v2 envelope (and the legacy v1 one it still opens): format, round trips, failures."""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from typing import Any

import pytest
import zstandard
from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.wire.envelope import (
    MAX_PLAINTEXT,
    OVERHEAD,
    DecryptionError,
    StoreUnsealer,
    Unsealer,
    associated_data,
    seal,
    unseal,
)

KEY = bytes(range(32))
OBJ = "ab" * 32
STORE = "regtest"
NONCE = bytes(12)
WID = bytes.fromhex("0f" * 16)
INC = bytes.fromhex("1e" * 16)
IDS = {"write_id": WID, "incarnation": INC}


def _forge(plaintext: bytes, *, version: int = 1, header: bytes = b"CRN\x02") -> bytes:
    """A blob sealed by hand with the real key: tests what unseal does after authentication."""
    aad = associated_data(STORE, OBJ, version, WID, INC)
    return header + NONCE + AESGCMSIV(KEY).encrypt(NONCE, plaintext, aad)


def test_format_matches_the_specification() -> None:
    blob = seal(KEY, STORE, OBJ, 7, b"hello", nonce=NONCE, **IDS)
    aad = (
        b"CRN\x02"
        + struct.pack(">H", len(STORE))
        + STORE.encode()
        + struct.pack(">H", 64)
        + OBJ.encode()
        + struct.pack(">Q", 7)
        + WID
        + INC
    )
    assert associated_data(STORE, OBJ, 7, WID, INC) == aad
    assert blob == b"CRN\x02" + NONCE + AESGCMSIV(KEY).encrypt(NONCE, b"\x00hello", aad)
    assert len(blob) == OVERHEAD + len(b"hello")


@pytest.mark.parametrize(
    "payload", [b"", b"x", bytes(63), b"hello " * 1000, bytes(range(256)) * 64]
)
def test_round_trip(payload: bytes) -> None:
    for compress in (None, True, False):
        blob = seal(KEY, STORE, OBJ, 1, payload, compress=compress, **IDS)
        assert unseal(KEY, STORE, OBJ, 1, blob, **IDS) == payload


def test_compression_only_when_it_helps() -> None:
    aad = associated_data(STORE, OBJ, 1, WID, INC)

    def flags(blob: bytes) -> int:
        return AESGCMSIV(KEY).decrypt(blob[4:16], blob[16:], aad)[0]

    assert flags(seal(KEY, STORE, OBJ, 1, b"a" * 63, **IDS)) == 0  # below the threshold
    assert flags(seal(KEY, STORE, OBJ, 1, b"a" * 64, **IDS)) == 1
    incompressible = random.Random(1).randbytes(4096)
    assert flags(seal(KEY, STORE, OBJ, 1, incompressible, **IDS)) == 0
    assert flags(seal(KEY, STORE, OBJ, 1, b"x", compress=True, **IDS)) == 1
    assert flags(seal(KEY, STORE, OBJ, 1, b"a" * 1000, compress=False, **IDS)) == 0
    assert len(seal(KEY, STORE, OBJ, 1, b"a" * 100_000, **IDS)) < 1000


def test_random_nonce_makes_equal_payloads_differ() -> None:
    assert seal(KEY, STORE, OBJ, 1, b"same", **IDS) != seal(KEY, STORE, OBJ, 1, b"same", **IDS)
    assert seal(KEY, STORE, OBJ, 1, b"same", nonce=NONCE, **IDS) == seal(
        KEY, STORE, OBJ, 1, b"same", nonce=NONCE, **IDS
    )


@pytest.mark.parametrize(
    ("store", "key", "version"),
    [("signet", OBJ, 3), ("regtest", "cd" * 32, 3), ("regtest", OBJ, 4), ("regtest", OBJ, 2)],
    ids=["store", "key", "version+1", "version-1"],
)
def test_moved_blob_fails(store: str, key: str, version: int) -> None:
    blob = seal(KEY, "regtest", OBJ, 3, b"payload", **IDS)
    with pytest.raises(DecryptionError):
        unseal(KEY, store, key, version, blob, **IDS)


def test_wrong_key_fails() -> None:
    blob = seal(KEY, STORE, OBJ, 1, b"payload", **IDS)
    with pytest.raises(DecryptionError):
        unseal(bytes(32), STORE, OBJ, 1, blob, **IDS)


def test_every_truncation_fails() -> None:
    blob = seal(KEY, STORE, OBJ, 1, b"payload" * 20, **IDS)
    for length in range(len(blob)):
        with pytest.raises(DecryptionError):
            unseal(KEY, STORE, OBJ, 1, blob[:length], **IDS)


def test_appended_bytes_fail() -> None:
    blob = seal(KEY, STORE, OBJ, 1, b"payload", **IDS)
    with pytest.raises(DecryptionError):
        unseal(KEY, STORE, OBJ, 1, blob + b"\x00", **IDS)


@pytest.mark.parametrize("header", [b"CRN\x00", b"CRN\x01", b"CRN\x03", b"XRN\x02", b"crn\x02"])
def test_unknown_format_or_magic_fails(header: bytes) -> None:
    blob = seal(KEY, STORE, OBJ, 1, b"payload", **IDS)
    with pytest.raises(DecryptionError):
        unseal(KEY, STORE, OBJ, 1, header + blob[4:], **IDS)


def test_unknown_flags_fail_even_when_authentic() -> None:
    for flags in (0x02, 0x80, 0xFF):
        with pytest.raises(DecryptionError, match="flags"):
            unseal(KEY, STORE, OBJ, 1, _forge(bytes([flags]) + b"payload"), **IDS)


def test_bad_zstd_fails_even_when_authentic() -> None:
    frame = zstandard.ZstdCompressor().compress(b"a" * 1000)
    for body in (b"not zstd", frame[:-3], frame + b"trailing", frame + frame, b""):
        with pytest.raises(DecryptionError):
            unseal(KEY, STORE, OBJ, 1, _forge(b"\x01" + body), **IDS)


def test_decompression_bomb_is_refused() -> None:
    # Both frame kinds: with the content size in the header (which zstandard's one-shot
    # decompress would trust) and without.
    for write_size in (True, False):
        bomb = zstandard.ZstdCompressor(write_content_size=write_size).compress(
            bytes(MAX_PLAINTEXT + 1)
        )
        assert len(bomb) < 1024
        with pytest.raises(DecryptionError, match="larger"):
            unseal(KEY, STORE, OBJ, 1, _forge(b"\x01" + bomb), **IDS)


def test_largest_record_round_trips() -> None:
    payload = bytes(MAX_PLAINTEXT)
    assert unseal(KEY, STORE, OBJ, 1, seal(KEY, STORE, OBJ, 1, payload, **IDS), **IDS) == payload
    with pytest.raises(ValueError):
        seal(KEY, STORE, OBJ, 1, payload + b"\x00", **IDS)


def test_unusable_arguments_are_refused_when_sealing() -> None:
    with pytest.raises(ValueError):
        seal(bytes(16), STORE, OBJ, 1, b"", **IDS)
    with pytest.raises(ValueError):
        seal(KEY, STORE, OBJ, -1, b"", **IDS)
    with pytest.raises(ValueError):
        seal(KEY, STORE, OBJ, 2**64, b"", **IDS)
    with pytest.raises(ValueError):
        seal(KEY, STORE, OBJ, 1, b"", nonce=bytes(11), **IDS)


def test_impossible_address_is_a_decryption_error() -> None:
    blob = seal(KEY, STORE, OBJ, 1, b"payload", **IDS)
    with pytest.raises(DecryptionError):
        unseal(KEY, STORE, "é" * 64, 1, blob, **IDS)
    with pytest.raises(DecryptionError):
        unseal(KEY, STORE, OBJ, -1, blob, **IDS)


def test_one_unsealer_opens_many_blobs_with_every_check_of_unseal() -> None:
    unsealer = Unsealer(KEY)
    payloads = [bytes([i]) * (i * 10) for i in range(20)]
    blobs = [
        (f"{i:064x}", i + 1, seal(KEY, STORE, f"{i:064x}", i + 1, p, **IDS))
        for i, p in enumerate(payloads)
    ]
    assert [unsealer.unseal(STORE, k, v, b, **IDS) for k, v, b in blobs] == payloads
    key, version, blob = blobs[7]
    refused = [
        (STORE, key, version + 1, blob),  # another version
        ("testnet", key, version, blob),  # another store
        (STORE, blobs[8][0], version, blob),  # another key
        (STORE, key, version, blob[:-1]),
        (STORE, key, version, blob[:10]),
        (STORE, key, version, b"CRN\x01" + blob[4:]),
        (STORE, "é" * 64, version, blob),
        (STORE, key, -1, blob),
    ]
    for args in refused:
        with pytest.raises(DecryptionError):
            unsealer.unseal(*args, **IDS)
    with pytest.raises(DecryptionError):
        Unsealer(bytes(32)).unseal(STORE, key, version, blob, **IDS)
    # Refusals leave the unsealer usable.
    assert unsealer.unseal(STORE, key, version, blob, **IDS) == unseal(
        KEY, STORE, key, version, blob, **IDS
    )
    with pytest.raises(ValueError):
        Unsealer(bytes(16))


@settings(max_examples=300, deadline=None)
@given(blob=st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_decryption_error(blob: bytes) -> None:
    with pytest.raises(DecryptionError):
        unseal(KEY, STORE, OBJ, 1, blob, **IDS)


@settings(max_examples=100, deadline=None)
@given(suffix=st.binary(max_size=100))
def test_arbitrary_bytes_after_a_valid_header_raise_only_decryption_error(suffix: bytes) -> None:
    with pytest.raises(DecryptionError):
        unseal(KEY, STORE, OBJ, 1, b"CRN\x02" + suffix, **IDS)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    payload=st.binary(max_size=300) | st.text(max_size=200).map(lambda t: (t * 5).encode()),
    data=st.data(),
)
def test_any_single_flipped_byte_fails(payload: bytes, data: st.DataObject) -> None:
    blob = seal(KEY, STORE, OBJ, 9, payload, **IDS)
    index = data.draw(st.integers(0, len(blob) - 1), label="index")
    mask = data.draw(st.integers(1, 255), label="mask")
    damaged = bytearray(blob)
    damaged[index] ^= mask
    with pytest.raises(DecryptionError):
        unseal(KEY, STORE, OBJ, 9, bytes(damaged), **IDS)
    assert unseal(KEY, STORE, OBJ, 9, blob, **IDS) == payload


@pytest.mark.parametrize(
    ("write_id", "incarnation"),
    [(bytes(16), INC), (WID, bytes(16)), (INC, WID)],
    ids=["write-id", "incarnation", "swapped"],
)
def test_a_blob_opens_only_under_its_write_id_and_incarnation(
    write_id: bytes, incarnation: bytes
) -> None:
    blob = seal(KEY, STORE, OBJ, 5, b"payload", **IDS)
    with pytest.raises(DecryptionError):
        unseal(KEY, STORE, OBJ, 5, blob, write_id=write_id, incarnation=incarnation)
    with pytest.raises(DecryptionError):  # nor as a legacy blob
        unseal(KEY, STORE, OBJ, 5, blob)


def _legacy_seal(payload: bytes, version: int) -> bytes:
    """A format 0x01 blob as a protocol v1 client wrote it (nothing writes one any more)."""
    aad = associated_data(STORE, OBJ, version)
    return b"CRN\x01" + NONCE + AESGCMSIV(KEY).encrypt(NONCE, b"\x00" + payload, aad)


def test_a_legacy_blob_opens_without_a_write_id_and_only_so() -> None:
    blob = _legacy_seal(b"old", 3)
    assert associated_data(STORE, OBJ, 3)[:4] == b"CRN\x01"
    assert len(associated_data(STORE, OBJ, 3)) + 32 == len(associated_data(STORE, OBJ, 3, WID, INC))
    assert unseal(KEY, STORE, OBJ, 3, blob) == b"old"
    assert Unsealer(KEY).unseal(STORE, OBJ, 3, blob) == b"old"
    with pytest.raises(DecryptionError):
        unseal(KEY, STORE, OBJ, 3, blob, **IDS)
    with pytest.raises(DecryptionError):
        unseal(KEY, STORE, OBJ, 4, blob)
    # A current blob relabelled as legacy does not open either.
    current = seal(KEY, STORE, OBJ, 3, b"new", **IDS)
    with pytest.raises(DecryptionError):
        unseal(KEY, STORE, OBJ, 3, b"CRN\x01" + current[4:])


def test_a_write_id_needs_an_incarnation_of_16_bytes() -> None:
    with pytest.raises(ValueError):
        associated_data(STORE, OBJ, 1, WID, None)
    with pytest.raises(ValueError):
        associated_data(STORE, OBJ, 1, WID[:15], INC)
    with pytest.raises(DecryptionError):
        unseal(KEY, STORE, OBJ, 1, seal(KEY, STORE, OBJ, 1, b"x", **IDS), write_id=WID)


def _outcome(open_blob: Callable[..., bytes], *args: Any, **kwargs: Any) -> bytes | str:
    try:
        return open_blob(*args, **kwargs)
    except DecryptionError as exc:
        return f"refused: {exc}"


def test_a_store_unsealer_opens_and_refuses_exactly_as_unseal() -> None:
    store_unsealer = StoreUnsealer(KEY, STORE, INC)
    current = seal(KEY, STORE, OBJ, 7, b"hello " * 50, **IDS)  # compressed
    plain = seal(KEY, STORE, OBJ, 7, b"hello", **IDS)
    legacy = _legacy_seal(b"old", 7)
    cases: list[tuple[str, int, bytes, bytes | None]] = [
        (OBJ, 7, current, WID),
        (OBJ, 7, plain, WID),
        (OBJ, 7, legacy, None),
        (OBJ, 7, legacy, WID),  # a legacy blob presented as a write
        (OBJ, 7, plain, None),  # a current blob presented as legacy
        (OBJ, 8, plain, WID),
        ("cd" * 32, 7, plain, WID),
        ("é" * 64, 7, plain, WID),
        ("ab" * 31, 7, plain, WID),
        (OBJ, -1, plain, WID),
        (OBJ, 2**64, plain, WID),
        (OBJ, 7, plain, bytes(16)),
        (OBJ, 7, plain, WID[:15]),
        (OBJ, 7, plain[:-1], WID),
        (OBJ, 7, plain[: OVERHEAD - 1], WID),
        (OBJ, 7, b"CRN\x03" + plain[4:], WID),
        (OBJ, 1, _forge(b"\x02payload"), WID),  # unknown flags, authentic
        (OBJ, 1, _forge(b"\x01not zstd"), WID),  # damaged compression, authentic
    ]
    for key, version, blob, write_id in cases:
        incarnation = None if write_id is None else INC
        expected = _outcome(
            unseal, KEY, STORE, key, version, blob, write_id=write_id, incarnation=incarnation
        )
        assert _outcome(store_unsealer.unseal, key, version, blob, write_id) == expected
    assert store_unsealer.unseal(OBJ, 7, current, WID) == b"hello " * 50
    # Under another store or incarnation nothing of this one opens.
    for other in (StoreUnsealer(KEY, "testnet", INC), StoreUnsealer(KEY, STORE, bytes(16))):
        with pytest.raises(DecryptionError):
            other.unseal(OBJ, 7, plain, WID)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_a_store_unsealer_refuses_any_single_flipped_byte(data: st.DataObject) -> None:
    blob = seal(KEY, STORE, OBJ, 9, data.draw(st.binary(max_size=300), label="payload"), **IDS)
    index = data.draw(st.integers(0, len(blob) - 1), label="index")
    damaged = bytearray(blob)
    damaged[index] ^= data.draw(st.integers(1, 255), label="mask")
    with pytest.raises(DecryptionError):
        StoreUnsealer(KEY, STORE, INC).unseal(OBJ, 9, bytes(damaged), WID)
