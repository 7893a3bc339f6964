"""The export's two encodings, negotiated with Accept (docs/PROTOCOL.md 7.5).

The frame-encoded body is read here by a decoder written from the protocol document alone,
not with cairn.wire, and must carry exactly what the NDJSON body carries.
"""

from __future__ import annotations

import base64
import json
import os

import httpx
import pytest

from tests.support.backupd import BackupServer
from tests.support.signing import Node

FRAMES = "application/x-cairn-export"


def decode_frames_as_documented(body: bytes) -> list[tuple[str, int, str | None, bytes]]:
    """PROTOCOL.md 7.5: magic "CRNX" 0x01; frames 0x01/0x02 key(32) u64be version
    [write id(16)] u32be length value; end frame 0x00 u64be count, and nothing after it."""
    assert body[:5] == b"CRNX\x01"
    pos, objects = 5, []
    while True:
        tag = body[pos]
        pos += 1
        if tag == 0x00:
            count = int.from_bytes(body[pos : pos + 8], "big")
            assert pos + 8 == len(body), "bytes after the end frame"
            assert count == len(objects)
            return objects
        assert tag in (0x01, 0x02), f"unknown frame type {tag}"
        key = body[pos : pos + 32].hex()
        version = int.from_bytes(body[pos + 32 : pos + 40], "big")
        pos += 40
        write_id = None
        if tag == 0x02:
            write_id = body[pos : pos + 16].hex()
            pos += 16
        length = int.from_bytes(body[pos : pos + 4], "big")
        pos += 4
        assert pos + length <= len(body), "a value runs past the body"
        objects.append((key, version, write_id, body[pos : pos + length]))
        pos += length


def decode_ndjson(body: bytes) -> list[tuple[str, int, str | None, bytes]]:
    lines = [json.loads(line) for line in body.splitlines()]
    return [(d["key"], d["version"], d["write_id"], base64.b64decode(d["value"])) for d in lines]


def export(http: httpx.Client, node: Node, accept: str | None) -> httpx.Response:
    target = node.path("/export")
    headers = node.headers("GET", target)
    if accept is not None:
        headers["Accept"] = accept
    return http.get(target, headers=headers)


def test_frames_carry_what_the_lines_carry_read_from_the_document_alone(
    backupd: BackupServer,
) -> None:
    node = Node()
    values = {f"{i:064x}": os.urandom(i * 97) for i in range(40)}  # one empty value
    target = node.path("/objects")
    with httpx.Client(base_url=backupd.url, timeout=30) as http:
        for generation, start in enumerate(range(0, 40, 20)):
            keys = list(values)[start : start + 20]
            body = node.batch({k: (0, values[k]) for k in keys}, generation=generation)
            r = http.put(target, content=body, headers=node.headers("PUT", target, body))
            assert r.status_code == 200
        framed = export(http, node, f"{FRAMES}, application/x-ndjson;q=0.5")
        lines = export(http, node, None)
    assert framed.status_code == lines.status_code == 200
    assert framed.headers["content-type"] == FRAMES
    assert lines.headers["content-type"].startswith("application/x-ndjson")
    assert "accept" in framed.headers["vary"].lower()
    for header in ("x-cairn-generation", "x-cairn-incarnation"):
        assert framed.headers[header] == lines.headers[header]
    objects = decode_frames_as_documented(framed.content)
    assert objects == decode_ndjson(lines.content)
    assert [(k, v) for k, _, _, v in objects] == sorted(values.items())
    assert len({w for _, _, w, _ in objects}) == 2  # the two batches' write ids


@pytest.mark.parametrize("accept", ["application/x-ndjson", f"{FRAMES};q=0", "*/*"])
def test_a_client_that_does_not_ask_for_frames_gets_lines(
    backupd: BackupServer, accept: str
) -> None:
    node = Node()
    target = node.path("/objects")
    body = node.batch({"ab" * 32: (0, b"value")})
    with httpx.Client(base_url=backupd.url, timeout=30) as http:
        assert http.put(target, content=body, headers=node.headers("PUT", target, body)).is_success
        r = export(http, node, accept)
    assert r.headers["content-type"].startswith("application/x-ndjson")
    assert [(k, v) for k, _, _, v in decode_ndjson(r.content)] == [("ab" * 32, b"value")]


def test_an_empty_store_exports_an_end_frame_alone(backupd: BackupServer) -> None:
    node = Node()
    target = node.path("/objects")
    key = "cd" * 32
    put = node.batch({key: (0, b"v")})
    with httpx.Client(base_url=backupd.url, timeout=30) as http:
        assert http.put(target, content=put, headers=node.headers("PUT", target, put)).is_success
        gone = node.batch(deletes={key: 1}, generation=1)
        assert http.put(target, content=gone, headers=node.headers("PUT", target, gone)).is_success
        r = export(http, node, FRAMES)
    assert r.content == b"CRNX\x01" + b"\x00" + bytes(8)


# Accept lines (several = one list) and whether the answer is frames, by RFC 9110 section
# 12.5.1: q=0 says "not acceptable" and no other mention overrides it; a media range with a
# parameter repeated (a second q) is invalid and ignored, as if it were not there.
NEGOTIATED = [
    ([f"{FRAMES}, {FRAMES};q=0"], False),
    ([f"{FRAMES};q=0, {FRAMES}"], False),
    ([FRAMES, f"{FRAMES};q=0.000"], False),
    ([f"{FRAMES};q=0.5", f"application/x-ndjson, {FRAMES};Q=0"], False),
    ([f"{FRAMES};q=1;q=0"], False),
    ([f"{FRAMES};q=0;q=1"], False),
    ([f"{FRAMES};q=0;q=1, {FRAMES};q=0.2"], True),
    ([f"{FRAMES};q=1.5", f"{FRAMES};q=0.5"], True),
    ([f"{FRAMES};q=0.001"], True),
    ([f"application/x-ndjson;q=0, {FRAMES};q=0"], False),  # never 406: lines
]


def test_accept_lists_that_mention_frames_twice_or_badly(backupd: BackupServer) -> None:
    node = Node()
    target = node.path("/objects")
    body = node.batch({"ab" * 32: (0, b"value")})
    with httpx.Client(base_url=backupd.url, timeout=30) as http:
        assert http.put(target, content=body, headers=node.headers("PUT", target, body)).is_success
        got = []
        for lines, _ in NEGOTIATED:
            export_target = node.path("/export")
            headers = httpx.Headers(
                [*node.headers("GET", export_target).items(), *(("Accept", a) for a in lines)]
            )
            r = http.get(export_target, headers=headers)
            assert r.status_code == 200
            got.append((lines, r.headers["content-type"] == FRAMES))
    assert got == NEGOTIATED
