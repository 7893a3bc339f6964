"""Wire protocol v1: request signing and verification, addressing, JSON bodies."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from coincurve import PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.backup.protocol import (
    ERROR_STATUS,
    MAX_SKEW,
    STORE_IDS,
    AuthError,
    Batch,
    DeleteItem,
    ProtocolError,
    PutItem,
    batch_body,
    decode_value,
    der_signature_values,
    encode_value,
    export_path,
    is_valid_node_id,
    is_valid_object_key,
    list_target,
    object_path,
    objects_path,
    parse_authorization,
    parse_batch,
    request_digest,
    sign_request,
    store_path,
    verify_request,
    wire_key,
)
from cairn.keys import Network

KEY = bytes.fromhex("11" * 32)
NODE = PrivateKey(KEY).public_key.format().hex()
TS = 1_700_000_000
NONCE = "00112233445566778899aabbccddeeff"
TARGET = f"/v1/stores/{NODE}/regtest/objects"
BODY = b'{"put":[],"delete":[]}'
CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _header(
    *,
    method: str = "PUT",
    target: str = TARGET,
    body: bytes = BODY,
    ts: int = TS,
    nonce: str = NONCE,
) -> str:
    return sign_request(KEY, method, target, body, ts=ts, nonce=nonce)


def _verify(
    header: str | None,
    *,
    now: int = TS,
    method: str = "PUT",
    target: str = TARGET,
    body: bytes = BODY,
) -> None:
    verify_request(header, method, target, body, now=now)


def _code(header: str | None, **request: Any) -> str:
    """The AuthError code verification gives for `header` on a (changed) request."""
    with pytest.raises(AuthError) as info:
        _verify(header, **request)
    return info.value.code


def test_header_format() -> None:
    header = _header()
    match = re.fullmatch(
        r"Cairn-Sig node=([0-9a-f]{66}),ts=(\d+),nonce=([0-9a-f]{32}),sig=([0-9a-f]+)", header
    )
    assert match is not None
    assert match.group(1) == NODE and match.group(2) == str(TS) and match.group(3) == NONCE


def test_digest_is_the_canonical_message() -> None:
    message = (
        b"cairn-backup/v1\x00PUT\x00"
        + TARGET.encode()
        + b"\x00"
        + str(TS).encode()
        + b"\x00"
        + NONCE.encode()
        + b"\x00"
        + hashlib.sha256(BODY).digest()
    )
    assert request_digest("PUT", TARGET, TS, NONCE, BODY) == hashlib.sha256(message).digest()


def test_signature_is_deterministic_low_s_der() -> None:
    header = _header()
    assert _header() == header
    signature = parse_authorization(header).signature
    _, s = der_signature_values(signature)
    assert s <= CURVE_ORDER // 2


def test_signed_request_verifies() -> None:
    credentials = verify_request(_header(), "PUT", TARGET, BODY, now=TS + MAX_SKEW)
    assert (credentials.node_id, credentials.ts, credentials.nonce) == (NODE, TS, NONCE)
    verify_request(_header(), "PUT", TARGET, BODY, now=TS - MAX_SKEW)


def test_sign_request_fills_in_time_and_a_fresh_nonce() -> None:
    import time

    first = parse_authorization(sign_request(KEY, "GET", "/healthz", b""))
    second = parse_authorization(sign_request(KEY, "GET", "/healthz", b""))
    assert abs(first.ts - time.time()) < 5
    assert first.nonce != second.nonce and len(first.nonce) == 32


@pytest.mark.parametrize(
    "change",
    [
        {"method": "GET"},
        {"target": TARGET + "?after="},
        {"target": TARGET.replace("regtest", "signet")},
        {"body": BODY + b" "},
        {"body": b""},
    ],
    ids=["method", "query", "path", "body", "empty-body"],
)
def test_signature_over_a_changed_request_fails(change: dict[str, Any]) -> None:
    assert _code(_header(), **change) == "bad_signature"


def test_changed_timestamp_or_nonce_in_the_header_fails() -> None:
    header = _header()
    assert _code(header.replace(f"ts={TS}", f"ts={TS + 1}")) == "bad_signature"
    assert _code(header.replace(NONCE, "f" * 32)) == "bad_signature"


def test_signature_by_another_key_fails() -> None:
    other = sign_request(b"\x22" * 32, "PUT", TARGET, BODY, ts=TS, nonce=NONCE)
    forged = other.replace(other.split(",")[0], f"Cairn-Sig node={NODE}")
    assert _code(forged) == "bad_signature"


def test_high_s_signature_is_rejected() -> None:
    header = _header()
    credentials = parse_authorization(header)
    r, s = der_signature_values(credentials.signature)
    high_s = CURVE_ORDER - s

    def der_int(value: int) -> bytes:
        raw = value.to_bytes(33, "big").lstrip(b"\x00")
        if raw[0] & 0x80:
            raw = b"\x00" + raw
        return b"\x02" + bytes([len(raw)]) + raw

    body = der_int(r) + der_int(high_s)
    malleated = (b"\x30" + bytes([len(body)]) + body).hex()
    with pytest.raises(AuthError, match="low-S") as info:
        _verify(header.replace(credentials.signature.hex(), malleated))
    assert info.value.code == "bad_signature"


def test_non_strict_der_is_rejected() -> None:
    header = _header()
    signature = parse_authorization(header).signature.hex()
    # Extra trailing byte, with the outer length patched to cover it.
    raw = bytes.fromhex(signature)
    padded = (b"\x30" + bytes([raw[1] + 1]) + raw[2:] + b"\x00").hex()
    assert _code(header.replace(signature, padded)) == "bad_signature"


@pytest.mark.parametrize("skew", [MAX_SKEW + 1, -(MAX_SKEW + 1), 10**6])
def test_stale_timestamp(skew: int) -> None:
    assert _code(_header(), now=TS + skew) == "stale_timestamp"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer abc",
        "cairn-sig node=x",
        "Cairn-Sig",
        "Cairn-Sig node={node},ts=1,nonce={nonce}",
        "Cairn-Sig node={node},ts=1,nonce={nonce},sig=3006020101020101,extra=1",
        "Cairn-Sig node={node},node={node},ts=1,nonce={nonce},sig=3006020101020101",
        "Cairn-Sig node={upper},ts=1,nonce={nonce},sig=3006020101020101",
        "Cairn-Sig node=02{zeros},ts=1,nonce={nonce},sig=3006020101020101",
        "Cairn-Sig node=04{zeros},ts=1,nonce={nonce},sig=3006020101020101",
        "Cairn-Sig node={node},ts=01,nonce={nonce},sig=3006020101020101",
        "Cairn-Sig node={node},ts=-1,nonce={nonce},sig=3006020101020101",
        "Cairn-Sig node={node},ts=1.5,nonce={nonce},sig=3006020101020101",
        "Cairn-Sig node={node},ts=1,nonce=abc,sig=3006020101020101",
        "Cairn-Sig node={node},ts=1,nonce={nonce_upper},sig=3006020101020101",
        "Cairn-Sig node={node},ts=1,nonce={nonce},sig=zz",
        "Cairn-Sig node={node}, ts=1,nonce={nonce},sig=3006020101020101",
    ],
)
def test_malformed_header_is_unauthorized(header: str | None) -> None:
    if header is not None:
        header = header.format(
            node=NODE, upper=NODE.upper(), zeros="0" * 64, nonce=NONCE, nonce_upper=NONCE.upper()
        )
    assert _code(header) == "unauthorized"


def test_auth_error_carries_code_and_detail() -> None:
    error = AuthError("replayed", "nonce seen before")
    assert (error.code, error.detail) == ("replayed", "nonce seen before")
    assert ERROR_STATUS[error.code] == 401


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_header_raises_only_auth_error(header: str) -> None:
    with pytest.raises(AuthError):
        verify_request(header, "GET", "/", b"", now=TS)


@settings(max_examples=50, deadline=None)
@given(
    method=st.sampled_from(["GET", "PUT", "DELETE"]),
    target=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=80),
    body=st.binary(max_size=200),
    ts=st.integers(0, 2**40),
)
def test_any_signed_request_round_trips(method: str, target: str, body: bytes, ts: int) -> None:
    header = sign_request(KEY, method, target, body, ts=ts, nonce=NONCE)
    assert verify_request(header, method, target, body, now=ts).node_id == NODE


def test_wire_key_is_hex_hmac_sha256() -> None:
    import hmac

    key = b"k" * 32
    assert wire_key(key, "prefs/email") == hmac.new(key, b"prefs/email", hashlib.sha256).hexdigest()
    assert wire_key(key, "prefs/é") == hmac.new(key, "prefs/é".encode(), hashlib.sha256).hexdigest()
    assert is_valid_object_key(wire_key(key, "x"))
    assert wire_key(key, "a") != wire_key(b"j" * 32, "a")


def test_validators() -> None:
    assert is_valid_node_id(NODE)
    assert not is_valid_node_id(NODE.upper())
    assert not is_valid_node_id("02" + "0" * 64)  # not on the curve
    assert not is_valid_node_id("04" + NODE[2:])
    assert not is_valid_node_id(NODE[:-2])
    assert is_valid_object_key("0" * 64)
    assert not is_valid_object_key("0" * 63)
    assert not is_valid_object_key("A" * 64)
    assert {network.value for network in Network} == STORE_IDS


def test_paths() -> None:
    assert store_path(NODE, "regtest") == f"/v1/stores/{NODE}/regtest"
    assert objects_path(NODE, "regtest") == f"/v1/stores/{NODE}/regtest/objects"
    assert object_path(NODE, "regtest", "a" * 64) == f"/v1/stores/{NODE}/regtest/objects/{'a' * 64}"
    assert export_path(NODE, "regtest") == f"/v1/stores/{NODE}/regtest/export"
    assert list_target(NODE, "regtest") == objects_path(NODE, "regtest")
    assert list_target(NODE, "regtest", after="b" * 64, limit=10) == (
        f"/v1/stores/{NODE}/regtest/objects?after={'b' * 64}&limit=10"
    )


def test_values_are_strict_base64() -> None:
    assert encode_value(b"\xff\x00") == "/wA="
    assert decode_value("/wA=") == b"\xff\x00"
    for bad in ("/wA", "-_8=", "/w A=", "é"):
        with pytest.raises(ValueError):
            decode_value(bad)


def test_batch_body_round_trips() -> None:
    puts = (PutItem("a" * 64, 0, b"blob"),)
    deletes = (DeleteItem("b" * 64, 3),)
    body = batch_body(puts, deletes)
    assert body == {
        "put": [{"key": "a" * 64, "version": 0, "value": "YmxvYg=="}],
        "delete": [{"key": "b" * 64, "version": 3}],
    }
    batch = parse_batch(body)
    assert batch == Batch(puts, deletes)
    assert batch.keys == ["a" * 64, "b" * 64] and batch.value_bytes == 4
    assert parse_batch({}) == Batch((), ())


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"put": {}},
        {"put": [], "other": []},
        {"put": [{"key": "a" * 64, "version": 0}]},
        {"put": [{"key": "A" * 64, "version": 0, "value": ""}]},
        {"put": [{"key": "a" * 64, "version": -1, "value": ""}]},
        {"put": [{"key": "a" * 64, "version": True, "value": ""}]},
        {"put": [{"key": "a" * 64, "version": 1.0, "value": ""}]},
        {"put": [{"key": "a" * 64, "version": 0, "value": "!!"}]},
        {"put": [{"key": "a" * 64, "version": 0, "value": 5}]},
        {"delete": [{"key": "a" * 64, "version": 0, "value": ""}]},
        {
            "put": [{"key": "a" * 64, "version": 0, "value": ""}],
            "delete": [{"key": "a" * 64, "version": 1}],
        },
        {"delete": [{"key": "a" * 64, "version": 1}, {"key": "a" * 64, "version": 1}]},
    ],
)
def test_malformed_batches_are_protocol_errors(body: object) -> None:
    with pytest.raises(ProtocolError):
        parse_batch(body)
