"""Small pure parts of the engine: backoff, error mapping, conflict names, batch chunks."""

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
from cairn.backup.fullbackup import _chunks
from cairn.backup.uploader import Backoff
from cairn.backup.writer import conflict_name


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
    conflict = _error_from(409, b'{"error":"conflict","current":{"aa":3}}', httpx.Headers())
    assert isinstance(conflict, BackupConflict)
    assert conflict.current == {"aa": 3}
    limited = _error_from(429, b'{"error":"rate_limited"}', httpx.Headers({"Retry-After": "7"}))
    assert isinstance(limited, RateLimited)
    assert limited.retry_after == 7.0


def test_conflict_names_fall_back_to_the_key_when_too_long():
    assert conflict_name("labels/tx/1", 4, "k" * 64) == "conflicts/labels/tx/1/4"
    assert conflict_name("x" * 1020, 4, "k" * 64) == "conflicts/" + "k" * 64 + "/4"


def test_full_backup_chunks_respect_both_bounds():
    records = [(f"n{i}", bytes(10)) for i in range(25)]
    assert [len(c) for c in _chunks(records, 10, 10_000)] == [10, 10, 5]
    assert [len(c) for c in _chunks(records, 100, 35)] == [3] * 8 + [1]
    big = [("a", bytes(100)), ("b", bytes(1))]
    assert [len(c) for c in _chunks(big, 10, 50)] == [1, 1]  # an oversized record goes alone


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
    assert [(o.key, o.version, o.value) for o in got] == [
        (f"{i:064x}", i + 1, bytes([i]) * (i * 37)) for i in range(40)
    ]


def _reference_parse(line: bytes) -> object:
    """What a JSON parser makes of an export line: the object, or the error type."""
    import json

    from cairn.backup.client import BackupServerError, _stored_object

    try:
        return _stored_object(json.loads(line))
    except (ValueError, BackupServerError):
        return BackupServerError


def _fast_parse(line: bytes) -> object:
    from cairn.backup.client import BackupServerError, _parse_line

    try:
        return _parse_line(line)
    except BackupServerError:
        return BackupServerError


def _server_line(key: str, version: int, value: bytes) -> bytes:
    import base64
    import json

    line = {"key": key, "version": version, "value": base64.b64encode(value).decode()}
    return json.dumps(line, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    "line",
    [
        _server_line("ab" * 32, 1, b"sealed"),
        _server_line("0" * 64, 0, b""),
        _server_line("f" * 64, 2**63 - 1, bytes(range(256))),
        b'{"key":"' + b"a" * 64 + b'","version":01,"value":"QQ=="}',  # leading zero
        b'{"key":"' + b"a" * 64 + b'","version":1,"value":"}',  # unterminated value
        b'{"key":"' + b"a" * 64 + b'","version":1,"value":"QQ\\u003d="}',  # an escape
        b'{"key":"' + b"A" * 64 + b'","version":1,"value":"QQ=="}',  # upper-case key
        b'{"key":"' + b"a" * 64 + b'","version":1,"value":"QQ==","x":"y"}',
        b'{"key":"' + b"a" * 64 + b'","version":-1,"value":"QQ=="}',
        b'{"key":"' + b"a" * 64 + b'","version":1,"value":"QQ="}',
        b'{"key": "' + b"a" * 64 + b'", "version": 1, "value": "QQ=="}',
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
