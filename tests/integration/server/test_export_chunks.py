"""The export goes out in large chunks of lines, not one HTTP chunk per object."""

from __future__ import annotations

import json

import httpx

from tests.support.backupd import BackupServer
from tests.support.signing import Node

OBJECTS = 300


def test_export_groups_lines_into_few_chunks(backupd: BackupServer) -> None:
    node = Node()
    keys = [f"{i:064x}" for i in range(OBJECTS)]
    target = node.path("/objects")
    body = node.batch({k: (0, bytes([i % 256]) * 1000) for i, k in enumerate(keys)})
    with httpx.Client(base_url=backupd.url, timeout=30) as http:
        assert http.put(target, content=body, headers=node.headers("PUT", target, body)).is_success
        export = node.path("/export")
        with http.stream("GET", export, headers=node.headers("GET", export)) as r:
            assert r.status_code == 200
            pieces = list(r.iter_raw())
    # About 400 KB of lines. One chunk per object would arrive as at least one piece per
    # object; grouped, a network read may still split a chunk, but only a few times.
    assert len(pieces) < OBJECTS // 10
    lines = [json.loads(line) for line in b"".join(pieces).splitlines()]
    assert [line["key"] for line in lines] == keys
