"""HMAC-SHA256 under one key for many short messages: the key's pads are hashed once.

`hmac.digest` looks the digest up and sets up both pads on every call: about 5 µs here under
OpenSSL 3, four times the hashing itself, and a restore computes two HMACs per object. This is
RFC 2104 with the two padded-key states kept and copied; `hmac.digest` gives the same bytes
(tests/unit/wire/test_keyedhash.py checks it).
"""

from __future__ import annotations

import hashlib

__all__ = ["KeyedSha256"]

_BLOCK = 64  # SHA-256's block size in bytes


class KeyedSha256:
    """`digest(message)` equals `hmac.digest(key, message, "sha256")`."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\x00")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def digest(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()
