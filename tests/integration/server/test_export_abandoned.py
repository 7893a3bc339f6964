"""A client that leaves an export early leaves no snapshot open behind it on the server.

An export is a read transaction on SQLite; one left open stops every WAL checkpoint from
getting past it, and the WAL then grows with every write for as long as the server runs.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time

import httpx

from tests.support.backupd import BackupServer
from tests.support.signing import Node

ABANDONED = 40


def abandon_export(server: BackupServer, node: Node, *, read_head: bool) -> None:
    """Ask for the export and hang up: at once, or once the response has begun."""
    target = node.path("/export")
    head = "".join(f"{name}: {value}\r\n" for name, value in node.headers("GET", target).items())
    with socket.create_connection(("127.0.0.1", server.port)) as conn:
        conn.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode())
        if read_head:
            assert conn.recv(64).startswith(b"HTTP/1.1 200")


def store_with_a_large_export(http: httpx.Client, node: Node) -> None:
    """150 objects of 60 KB: more than the sockets buffer, so a begun export is still sending."""
    target = node.path("/objects")
    body = node.batch({f"{i:064x}": (0, os.urandom(60_000)) for i in range(150)})
    assert http.put(target, content=body, headers=node.headers("PUT", target, body)).is_success


def write_more(http: httpx.Client, node: Node, count: int) -> None:
    target = node.path("/objects")
    for generation in range(1, count + 1):
        more = node.batch({f"{9999 + generation:064x}": (0, b"x" * 1000)}, generation=generation)
        r = http.put(target, content=more, headers=node.headers("PUT", target, more))
        assert r.is_success, r.text


def checkpoint(db: str) -> tuple[int, int]:
    """A checkpoint from outside the server: (frames in the WAL, frames it could copy)."""
    with sqlite3.connect(db) as conn:
        _busy, frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return frames, done


def test_abandoned_exports_leave_no_snapshot_open(backupd: BackupServer) -> None:
    node = Node()
    with httpx.Client(base_url=backupd.url, timeout=30) as http:
        store_with_a_large_export(http, node)
        for n in range(ABANDONED):
            abandon_export(backupd, node, read_head=n % 2 == 1)
        # Writes after them: a snapshot still open would keep their frames from the file.
        write_more(http, node, 5)
        deadline = time.monotonic() + 10
        frames, done = checkpoint(backupd.db)
        while done < frames and time.monotonic() < deadline:
            time.sleep(0.1)
            frames, done = checkpoint(backupd.db)
        assert done == frames, f"{frames - done} of {frames} WAL frames held back by a snapshot"
        # The server carries on, and a whole export still comes out.
        export = node.path("/export")
        r = http.get(export, headers=node.headers("GET", export))
        assert r.status_code == 200 and len(r.content.splitlines()) == 155


def test_abandoned_exports_give_their_connections_back_on_postgres(backupd_factory) -> None:
    # More abandoned exports than the pool has connections (20): one kept by each would leave
    # every later request waiting for a connection.
    server = backupd_factory(postgres=True)
    node = Node()
    with httpx.Client(base_url=server.url, timeout=15) as http:
        store_with_a_large_export(http, node)
        for n in range(ABANDONED):
            abandon_export(server, node, read_head=n % 2 == 1)
        write_more(http, node, 3)
        export = node.path("/export")
        r = http.get(export, headers=node.headers("GET", export))
        assert r.status_code == 200 and len(r.content.splitlines()) == 153
