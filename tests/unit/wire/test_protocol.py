"""Wire protocol v2: request signing and verification, addressing, JSON bodies."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest
from coincurve import PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.keys import Network
from cairn.wire.addressing import (
    changes_target,
    export_path,
    is_valid_node_id,
    is_valid_object_key,
    list_target,
    object_path,
    objects_path,
    store_path,
    wire_key,
)
from cairn.wire.constants import ERROR_STATUS, MAX_SKEW, STORE_IDS
from cairn.wire.export import export_line, parse_export_line, parse_export_lines
from cairn.wire.jsonbody import ProtocolError, decode_value, encode_value, loads
from cairn.wire.messages import (
    Batch,
    BatchResult,
    Conflict,
    DeleteItem,
    FeedItem,
    FeedPage,
    ListItem,
    PutItem,
    StoredObject,
    StoreInfo,
    StoreState,
    decode_batch_result,
    decode_conflict,
    decode_feed_page,
    decode_list_page,
    decode_object,
    decode_store_info,
    encode_batch,
    encode_batch_result,
    encode_conflict,
    encode_feed_page,
    encode_list_page,
    encode_object,
    encode_store_info,
    parse_batch,
)
from cairn.wire.signing import (
    AuthError,
    der_signature_values,
    parse_authorization,
    request_digest,
    sign_request,
    verify_request,
)

KEY = bytes.fromhex("11" * 32)
NODE = PrivateKey(KEY).public_key.format().hex()
TS = 1_700_000_000
NONCE = "00112233445566778899aabbccddeeff"
TARGET = f"/v2/stores/{NODE}/regtest/objects"
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
        b"cairn-backup/v2\x00PUT\x00"
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


def test_the_fields_in_any_order_parse_as_the_canonical_spelling() -> None:
    header = sign_request(KEY, "PUT", "/v2/x", b"body")
    scheme, params = header.split(" ", 1)
    fields = params.split(",")
    reordered = f"{scheme} {','.join(reversed(fields))}"
    assert parse_authorization(reordered) == parse_authorization(header)


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
    assert store_path(NODE, "regtest") == f"/v2/stores/{NODE}/regtest"
    assert objects_path(NODE, "regtest") == f"/v2/stores/{NODE}/regtest/objects"
    assert object_path(NODE, "regtest", "a" * 64) == f"/v2/stores/{NODE}/regtest/objects/{'a' * 64}"
    assert export_path(NODE, "regtest") == f"/v2/stores/{NODE}/regtest/export"
    assert list_target(NODE, "regtest") == objects_path(NODE, "regtest")
    assert list_target(NODE, "regtest", after="b" * 64, limit=10) == (
        f"/v2/stores/{NODE}/regtest/objects?after={'b' * 64}&limit=10"
    )
    assert changes_target(NODE, "regtest", since=0) == f"/v2/stores/{NODE}/regtest/changes?since=0"
    assert changes_target(NODE, "regtest", since=12, limit=5) == (
        f"/v2/stores/{NODE}/regtest/changes?since=12&limit=5"
    )


def test_values_are_strict_base64() -> None:
    assert encode_value(b"\xff\x00") == "/wA="
    assert decode_value("/wA=") == b"\xff\x00"
    bad_values = ("/wA", "-_8=", "/w A=", "é", "/wB=", "/x==", "A===", "=", "AAAA\n")
    # Padding beyond what the length needs is a second spelling of the same bytes.
    over_padded = ("/w===", "/wA==", "QUJD=", "QUJD====", "AAAA=")
    for bad in bad_values + over_padded:
        with pytest.raises(ValueError):
            decode_value(bad)


INC, WID = "1" * 32, "2" * 32


def _body(**members: object) -> dict[str, object]:
    return {"incarnation": INC, "generation": 0, "write_id": WID, **members}


def test_batch_body_round_trips() -> None:
    puts = (PutItem("a" * 64, 0, b"blob"),)
    deletes = (DeleteItem("b" * 64, 3, b"tomb"),)
    batch = Batch(INC, 7, WID, puts, deletes)
    body = encode_batch(batch)
    assert body == (
        b'{"incarnation":"' + INC.encode() + b'","generation":7,"write_id":"' + WID.encode()
        + b'","put":[{"key":"' + b"a" * 64 + b'","version":0,"value":"YmxvYg=="}],'
        b'"delete":[{"key":"' + b"b" * 64 + b'","version":3,"value":"dG9tYg=="}]}'
    )  # fmt: skip
    assert parse_batch(loads(body)) == batch
    assert batch.keys == ("a" * 64, "b" * 64) and batch.value_bytes == 8
    only_deletes = _body(delete=[{"key": "b" * 64, "version": 3, "value": ""}])
    assert parse_batch(only_deletes).puts == ()


ITEM = {"key": "a" * 64, "version": 0, "value": ""}


@pytest.mark.parametrize(
    "body",
    [
        [],
        {},
        _body(),  # no item at all
        _body(put=[]),
        {"generation": 0, "write_id": WID, "put": [ITEM]},
        {"incarnation": INC, "write_id": WID, "put": [ITEM]},
        {"incarnation": INC, "generation": 0, "put": [ITEM]},
        _body(put=[ITEM], incarnation="1" * 31),
        _body(put=[ITEM], incarnation="A" * 32),
        _body(put=[ITEM], incarnation=None),
        _body(put=[ITEM], write_id="x" * 32),
        _body(put=[ITEM], generation=-1),
        _body(put=[ITEM], generation=2**63),
        _body(put=[ITEM], generation=True),
        _body(put={}),
        _body(put=[ITEM], other=[]),
        _body(put=[{"key": "a" * 64, "version": 0}]),
        _body(put=[{"key": "A" * 64, "version": 0, "value": ""}]),
        _body(put=[{"key": "a" * 64, "version": -1, "value": ""}]),
        _body(put=[{"key": "a" * 64, "version": True, "value": ""}]),
        _body(put=[{"key": "a" * 64, "version": 1.0, "value": ""}]),
        _body(put=[{"key": "a" * 64, "version": 0, "value": "!!"}]),
        _body(put=[{"key": "a" * 64, "version": 0, "value": 5}]),
        _body(put=[{"key": "a" * 64, "version": 0, "value": "", "x": 1}]),
        _body(delete=[{"key": "a" * 64, "version": 0}]),  # a delete carries a tombstone
        _body(put=[ITEM], delete=[{"key": "a" * 64, "version": 1, "value": ""}]),
        _body(delete=[{"key": "a" * 64, "version": 1, "value": ""}] * 2),
    ],
)
def test_malformed_batches_are_protocol_errors(body: object) -> None:
    with pytest.raises(ProtocolError):
        parse_batch(body)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a":1,"a":2}',
        b'{"a":-0}',
        b'{"a":-1}',
        b'{"a":NaN}',
        b'{"a":Infinity}',
        b'{"a":' + b"1" * 20 + b"}",
        b"[" * 65 + b"]" * 65,
        b"\xff",
        b'{"a":"\xed\xa0\x80"}',  # a lone surrogate, not UTF-8
        b"",
    ],
)
def test_strict_json_refuses_what_a_lenient_parser_would_guess(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        loads(raw)


def test_strict_json_accepts_the_bodies_of_the_protocol() -> None:
    assert loads(b'{"a":[{"b":0}],"c":9223372036854775807}') == {
        "a": [{"b": 0}],
        "c": 2**63 - 1,
    }
    assert loads(b"[" * 64 + b"]" * 64) is not None


# --- Every encoder and its decoder round-trip -------------------------------------------------

keys = st.text("0123456789abcdef", min_size=64, max_size=64)
ids16 = st.text("0123456789abcdef", min_size=32, max_size=32)
versions = st.integers(0, 2**63 - 1)
blobs = st.binary(max_size=64)
states = st.builds(StoreState, versions, st.one_of(st.none(), ids16), st.booleans())


@st.composite
def batches(draw: st.DrawFn) -> Batch:
    chosen = draw(st.lists(keys, min_size=1, max_size=6, unique=True))
    split = draw(st.integers(0, len(chosen)))
    puts = tuple(PutItem(k, draw(versions), draw(blobs)) for k in chosen[:split])
    deletes = tuple(DeleteItem(k, draw(versions), draw(blobs)) for k in chosen[split:])
    return Batch(draw(ids16), draw(versions), draw(ids16), puts, deletes)


@given(batches())
def test_a_batch_round_trips(batch: Batch) -> None:
    assert parse_batch(loads(encode_batch(batch))) == batch


@given(batches())
def test_a_batch_is_encoded_as_the_compact_json_of_its_document(batch: Batch) -> None:
    document = {
        "incarnation": batch.incarnation,
        "generation": batch.generation,
        "write_id": batch.write_id,
        "put": [
            {"key": p.key, "version": p.version, "value": encode_value(p.value)} for p in batch.puts
        ],
        "delete": [
            {"key": d.key, "version": d.version, "value": encode_value(d.value)}
            for d in batch.deletes
        ],
    }
    assert encode_batch(batch) == json.dumps(document, separators=(",", ":")).encode()


def test_a_batch_holding_what_is_not_hex_still_encodes_as_valid_json() -> None:
    odd = Batch('a"b\\c', 1, "00" * 16, (PutItem('k"ey', 0, b"x"),), ())
    assert json.loads(encode_batch(odd))["incarnation"] == 'a"b\\c'


@given(versions, st.dictionaries(keys, versions, max_size=5))
def test_a_batch_result_round_trips(generation: int, result: dict[str, int]) -> None:
    batch_result = BatchResult(generation, result)
    assert decode_batch_result(loads(encode_batch_result(batch_result))) == batch_result


@given(
    states,
    st.dictionaries(keys, versions, max_size=5),
    st.dictionaries(keys, st.one_of(st.none(), ids16), max_size=5),
    st.text(max_size=40),
)
def test_a_conflict_round_trips(
    state: StoreState, current: dict[str, int], write_ids: dict[str, str | None], detail: str
) -> None:
    conflict = Conflict(state, current, write_ids)
    assert decode_conflict(loads(encode_conflict(conflict, detail))) == conflict


feed_items = st.builds(FeedItem, keys, versions, st.booleans(), st.one_of(st.none(), ids16), blobs)


@given(states, versions, st.lists(feed_items, max_size=5), st.one_of(st.none(), versions))
def test_a_feed_page_round_trips(
    state: StoreState, compacted: int, items: list[FeedItem], nxt: int | None
) -> None:
    page = FeedPage(state, compacted, tuple(items), nxt)
    assert decode_feed_page(loads(encode_feed_page(page))) == page


@given(states, versions, versions, versions)
def test_store_information_round_trips(
    state: StoreState, compacted: int, objects: int, size: int
) -> None:
    info = StoreInfo(state, compacted, objects, size)
    body = loads(encode_store_info(NODE, "regtest", info))
    assert isinstance(body, dict) and (body["node_id"], body["store_id"]) == (NODE, "regtest")
    assert decode_store_info(body) == info


stored_objects = st.builds(StoredObject, keys, versions, st.one_of(st.none(), ids16), blobs)


@given(stored_objects)
def test_an_object_and_its_export_line_round_trip(obj: StoredObject) -> None:
    assert decode_object(loads(encode_object(obj))) == obj
    line = export_line(obj)
    assert line == encode_object(obj) + b"\n"
    assert parse_export_line(line.rstrip(b"\n")) == obj


@pytest.mark.parametrize("value", ["QUJD=", "/x==", "/w===", "QU JD"])
def test_an_export_line_with_a_second_spelling_of_its_value_is_refused(value: str) -> None:
    line = b'{"key":"%s","version":1,"write_id":null,"value":"%s"}' % (
        ("ab" * 32).encode(),
        value.encode(),
    )
    with pytest.raises(ProtocolError):
        parse_export_line(line)


@given(st.lists(stored_objects, max_size=6), st.binary(max_size=30))
def test_export_lines_parse_up_to_the_unfinished_rest(
    objects: list[StoredObject], rest: bytes
) -> None:
    rest = rest.replace(b"\n", b"")
    data = b"".join(export_line(o) for o in objects)
    parsed, offset = parse_export_lines(data + rest)
    assert parsed == objects and offset == len(data)


@given(
    st.lists(st.builds(ListItem, keys, versions, versions), max_size=6),
    st.one_of(st.none(), keys),
)
def test_a_list_page_round_trips(items: list[ListItem], nxt: str | None) -> None:
    assert decode_list_page(loads(encode_list_page(items, nxt))) == (items, nxt)


@given(st.binary(max_size=100))
def test_a_value_round_trips_and_has_one_encoding(blob: bytes) -> None:
    assert decode_value(encode_value(blob)) == blob


@pytest.mark.parametrize(
    "body", [rb'{"a":"\ud800"}', rb'{"a":"\uDC00x"}', rb'["x\ud83dy"]', rb'["\ude00\ud83d"]']
)
def test_an_escape_of_half_a_surrogate_pair_is_refused(body: bytes) -> None:
    with pytest.raises(ProtocolError, match="surrogate"):
        loads(body)


def test_escapes_of_whole_characters_are_read() -> None:
    assert loads(rb'["\ud83d\ude00", "\u00e9", "\u20bf"]') == ["\U0001f600", "é", "₿"]
