"""Request signing and verification of wire protocol v1."""

from __future__ import annotations

import pytest

from cairn.backup.protocol import AuthError, sign_request, verify_request, wire_key

KEY = bytes.fromhex("11" * 32)
TS = 1_700_000_000


def test_signed_request_verifies() -> None:
    header = sign_request(KEY, "PUT", "/v1/stores/x/regtest/objects", b"{}", ts=TS)
    creds = verify_request(header, "PUT", "/v1/stores/x/regtest/objects", b"{}", now=TS + 10)
    assert creds.ts == TS


def test_changed_body_fails() -> None:
    header = sign_request(KEY, "PUT", "/v1/a", b"{}", ts=TS)
    with pytest.raises(AuthError) as info:
        verify_request(header, "PUT", "/v1/a", b"{ }", now=TS)
    assert info.value.code == "bad_signature"


def test_wire_key_is_hex_hmac() -> None:
    assert len(wire_key(b"k" * 32, "prefs/email")) == 64
