"""The v1 envelope: round trips, and every failure is a DecryptionError."""

from __future__ import annotations

import pytest

from cairn.backup.envelope import DecryptionError, seal, unseal

KEY = bytes(range(32))
OBJ = "ab" * 32


def test_round_trip_small_and_compressible() -> None:
    for payload in (b"", b"x", b"hello " * 1000):
        blob = seal(KEY, "regtest", OBJ, 1, payload)
        assert unseal(KEY, "regtest", OBJ, 1, blob) == payload


def test_moved_blob_fails() -> None:
    blob = seal(KEY, "regtest", OBJ, 3, b"payload")
    for store, key, version in [("signet", OBJ, 3), ("regtest", "cd" * 32, 3), ("regtest", OBJ, 4)]:
        with pytest.raises(DecryptionError):
            unseal(KEY, store, key, version, blob)


def test_wrong_key_and_truncation_fail() -> None:
    blob = seal(KEY, "regtest", OBJ, 1, b"payload")
    with pytest.raises(DecryptionError):
        unseal(bytes(32), "regtest", OBJ, 1, blob)
    with pytest.raises(DecryptionError):
        unseal(KEY, "regtest", OBJ, 1, blob[:-1])
