"""The HMAC with precomputed pads gives hmac's bytes; the restore's helpers built on it give
what wire_key and set_term give."""

from __future__ import annotations

import hmac
import os

from hypothesis import given
from hypothesis import strategies as st

from cairn.wire import payload
from cairn.wire.addressing import WireKeys, wire_key
from cairn.wire.keyedhash import KeyedSha256


@given(key=st.binary(max_size=200), messages=st.lists(st.binary(max_size=300), max_size=5))
def test_it_is_hmac_sha256(key: bytes, messages: list[bytes]) -> None:
    mac = KeyedSha256(key)
    for message in messages:
        assert mac.digest(message) == hmac.digest(key, message, "sha256")


@given(name=st.text(min_size=1, max_size=80))
def test_wire_keys_are_wire_key(name: str) -> None:
    key = os.urandom(32)
    assert WireKeys(key)(name) == wire_key(key, name)


@given(version=st.integers(0, 2**64 - 1))
def test_set_terms_are_set_term(version: int) -> None:
    mac_key = os.urandom(32)
    object_key = os.urandom(32).hex()
    assert payload.SetTerms(mac_key)(object_key, version) == payload.set_term(
        mac_key, object_key, version
    )
