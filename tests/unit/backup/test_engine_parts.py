"""Small pure parts of the engine: backoff, error mapping, conflict names, export lines."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.backup.client import (
    BackupBadRequest,
    BackupConflict,
    BackupNotFound,
    BackupQuotaExceeded,
    BackupServerError,
    BackupTooLarge,
    BackupUnauthorized,
    BackupUnreachable,
    RateLimited,
    _error_from,
)
from cairn.backup.merge import conflict_record_name
from cairn.backup.uploader import Backoff
from cairn.wire.export import parse_export_line
from cairn.wire.jsonbody import ProtocolError
from cairn.wire.messages import decode_object


def test_backoff_grows_to_the_cap_with_jitter_and_resets():
    low = Backoff(base=1.0, cap=8.0, rng=lambda: 0.0)
    high = Backoff(base=1.0, cap=8.0, rng=lambda: 1.0)
    assert [round(high.next_delay(), 3) for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert [low.next_delay() for _ in range(3)] == [0.5, 0.5, 0.5]
    high.reset()
    assert high.next_delay() == 1.0


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, b'{"error":"bad_request","detail":"x"}', BackupBadRequest),
        (401, b'{"error":"bad_signature","detail":"x"}', BackupUnauthorized),
        (403, b'{"error":"forbidden","detail":"x"}', BackupUnauthorized),
        (404, b'{"error":"not_found"}', BackupNotFound),
        (413, b'{"error":"too_large","detail":"x"}', BackupTooLarge),
        (413, b'{"error":"quota_exceeded","detail":"x"}', BackupQuotaExceeded),
        (507, b"", BackupQuotaExceeded),
        (500, b"<html>", BackupServerError),
        (502, b"", BackupUnreachable),
        (503, b'{"error":"unavailable","detail":"database down"}', BackupUnreachable),
        (409, b'{"error":"conflict"}', BackupServerError),  # no versions: not our protocol
    ],
)
def test_every_status_maps_to_one_typed_error(status, body, expected):
    error = _error_from(status, body, httpx.Headers())
    assert type(error) is expected
    assert error.status == status


def test_conflict_and_rate_limit_carry_what_the_caller_needs():
    body = (
        b'{"error":"conflict","detail":"x","generation":5,"incarnation":"' + b"1" * 32 + b'",'
        b'"erased":false,"current":{"' + b"a" * 64 + b'":3},"write_ids":{}}'
    )
    conflict = _error_from(409, body, httpx.Headers())
    assert isinstance(conflict, BackupConflict)
    assert conflict.info is not None
    assert conflict.info.current == {"a" * 64: 3}
    assert conflict.info.state.generation == 5
    limited = _error_from(429, b'{"error":"rate_limited"}', httpx.Headers({"Retry-After": "7"}))
    assert isinstance(limited, RateLimited)
    assert limited.retry_after == 7.0


def test_conflict_names_fall_back_to_a_hash_when_too_long():
    assert conflict_record_name("labels/tx/1") == "conflicts/labels/tx/1"
    long_name = conflict_record_name("x" * 1020)
    assert long_name.startswith("conflicts/#") and len(long_name) == len("conflicts/#") + 64


@pytest.mark.asyncio
@pytest.mark.parametrize("separators", [(", ", ": "), (",", ":")])  # any JSON, the server's own
async def test_the_export_is_split_into_lines_whatever_the_network_pieces(separators):
    """Lines cut across reads, blank lines and a last line without a newline all parse."""
    import base64
    import json

    from cairn.backup.client import RemoteBackupClient
    from cairn.keys import derive_backup_keys

    lines = [
        json.dumps(
            {
                "key": f"{i:064x}",
                "version": i + 1,
                "write_id": None if i % 2 else f"{i:032x}",
                "value": base64.b64encode(bytes([i]) * (i * 37)).decode(),
            },
            separators=separators,
        )
        for i in range(40)
    ]
    body = ("\n".join(lines[:20]) + "\n\n \n" + "\n".join(lines[20:])).encode()

    async def pieces():
        for start in range(0, len(body), 113):
            yield body[start : start + 113]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=pieces(), headers={"X-Cairn-Generation": "7"})

    keys = derive_backup_keys(bytes(64))
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = RemoteBackupClient("http://backup.invalid", keys, "regtest", http=http)
    async with client.export() as stream:
        got = [obj async for obj in stream]
    await http.aclose()
    assert stream.generation == 7
    assert [(o.key, o.version, o.write_id, o.value) for o in got] == [
        (f"{i:064x}", i + 1, None if i % 2 else f"{i:032x}", bytes([i]) * (i * 37))
        for i in range(40)
    ]


def _reference_parse(line: bytes) -> object:
    """What a JSON parser makes of an export line: the object, or the error type."""
    import json

    try:
        return decode_object(json.loads(line))
    except (ValueError, ProtocolError):
        return ProtocolError


def _fast_parse(line: bytes) -> object:
    try:
        return parse_export_line(line)
    except ProtocolError:
        return ProtocolError


def _server_line(key: str, version: int, value: bytes) -> bytes:
    import base64
    import json

    line = {
        "key": key,
        "version": version,
        "write_id": "ab" * 16,
        "value": base64.b64encode(value).decode(),
    }
    return json.dumps(line, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    "line",
    [
        _server_line("ab" * 32, 1, b"sealed"),
        _server_line("0" * 64, 0, b""),
        _server_line("f" * 64, 2**63 - 1, bytes(range(256))),
        b'{"key":"' + b"a" * 64 + b'","version":01,"write_id":null,"value":"QQ=="}',  # leading zero
        b'{"key":"' + b"a" * 64 + b'","version":1,"write_id":null,"value":"}',  # unterminated value
        b'{"key":"'
        + b"a" * 64
        + b'","version":1,"write_id":null,"value":"QQ\\u003d="}',  # an escape
        b'{"key":"'
        + b"A" * 64
        + b'","version":1,"write_id":null,"value":"QQ=="}',  # upper-case key
        b'{"key":"' + b"a" * 64 + b'","version":1,"write_id":null,"value":"QQ==","x":"y"}',
        b'{"key":"' + b"a" * 64 + b'","version":-1,"write_id":null,"value":"QQ=="}',
        b'{"key":"' + b"a" * 64 + b'","version":1,"write_id":null,"value":"QQ="}',
        b'{"key": "' + b"a" * 64 + b'", "version": 1, "write_id": null, "value": "QQ=="}',
    ],
)
def test_an_export_line_reads_as_json_would_read_it(line: bytes) -> None:
    assert _fast_parse(line) == _reference_parse(line)


@settings(max_examples=300, deadline=None)
@given(
    version=st.integers(0, 2**63 - 1),
    value=st.binary(max_size=40),
    edits=st.lists(
        st.tuples(st.integers(0, 200), st.sampled_from(list(b'"\\}{,:0=A /+ \n')), st.booleans()),
        max_size=3,
    ),
)
def test_a_damaged_export_line_never_reads_differently_from_json(
    version: int, value: bytes, edits: list[tuple[int, int, bool]]
) -> None:
    """The fast reading of the server's compact lines accepts nothing json would read otherwise."""
    line = bytearray(_server_line("c" * 64, version, value))
    for at, byte, insert in edits:
        at %= len(line) + 1
        if insert or at == len(line):
            line.insert(at, byte)
        else:
            line[at] = byte
    assert _fast_parse(bytes(line)) == _reference_parse(bytes(line))
