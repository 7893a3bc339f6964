"""A restore's export streams: the server's memory does not grow with the size of the store."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.support.backupd import BackupServer
from tests.support.signing import Node

MIB = 1024 * 1024
OBJECTS = 48  # 1 MiB each: the export is 48 MiB of values, 64 MiB of base64


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc")


@pytest.mark.parametrize("accept", [None, "application/x-cairn-export"])
def test_export_of_a_large_store_streams_in_bounded_memory(
    backupd: BackupServer, accept: str | None
) -> None:
    node = Node()
    target = node.path("/objects")
    with httpx.Client(base_url=backupd.url, timeout=60) as http:
        for start in range(0, OBJECTS, 3):
            puts = {f"{i:064x}": (0, os.urandom(MIB)) for i in range(start, start + 3)}
            body = node.batch(puts, generation=start // 3)
            r = http.put(target, content=body, headers=node.headers("PUT", target, body))
            assert r.status_code == 200
        assert backupd.process is not None
        before = peak_rss(backupd.process.pid)
        export = node.path("/export")
        received = 0
        headers = node.headers("GET", export)
        if accept is not None:
            headers["Accept"] = accept
        with http.stream("GET", export, headers=headers) as r:
            assert r.status_code == 200
            for piece in r.iter_raw():
                received += len(piece)
        after = peak_rss(backupd.process.pid)
    # Lines carry base64 (4/3 of the values), frames the values as they are.
    assert received > (OBJECTS * MIB if accept else OBJECTS * MIB * 4 // 3)
    # A buffered export would need well over 100 MiB more; pages are bounded at about 4 MiB.
    assert after - before < 24 * MIB, f"peak RSS grew by {(after - before) / MIB:.1f} MiB"
