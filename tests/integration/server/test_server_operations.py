"""Operating a real server: a bounded stop with a stalled client, and private database copies."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.backupd import BackupdFactory, BackupServer
from tests.support.signing import Node


def in_flight(server: BackupServer) -> float:
    text = httpx.get(server.url + "/metrics", timeout=10).text
    line = next(
        li for li in text.splitlines() if li.startswith("cairn_backupd_requests_in_flight ")
    )
    return float(line.split()[1])


def stall_a_batch(server: BackupServer) -> socket.socket:
    """A client that sends a PUT's headers and the start of its body, then nothing more."""
    node = Node()
    target = node.path("/objects")
    body = node.batch({"a" * 64: (0, b"v")})
    headers = node.headers("PUT", target, body)
    conn = socket.create_connection(("127.0.0.1", server.port))
    head = (
        f"PUT {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {headers['Authorization']}"
        f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    conn.sendall(head.encode() + body[:10])
    deadline = time.monotonic() + 10
    while in_flight(server) < 2:  # the scrape itself is one; the stalled batch the other
        assert time.monotonic() < deadline, "the stalled request never reached the app"
        time.sleep(0.05)
    return conn


# uvicorn re-raises the signal once it has shut down; systemd counts SIGTERM as a clean exit.
CLEAN = (0, -signal.SIGTERM)


def stop_and_time(server: BackupServer) -> tuple[float, int]:
    assert server.process is not None
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    code = server.process.wait(60)
    return time.monotonic() - started, code


def test_a_stalled_client_holds_a_stop_only_for_the_shutdown_timeout(
    backupd_factory: BackupdFactory,
) -> None:
    server = backupd_factory(env={"CAIRN_BACKUPD_SHUTDOWN_TIMEOUT": "2"})
    conn = stall_a_batch(server)
    try:
        elapsed, code = stop_and_time(server)
    finally:
        conn.close()
    assert code in CLEAN
    assert 1.8 <= elapsed < 10, elapsed  # it waited for the request, then gave up on it
    assert "timeout graceful shutdown exceeded" in server.log_text()


def test_the_shutdown_timeout_flag_sets_the_wait(backupd_factory: BackupdFactory) -> None:
    server = backupd_factory(start=False)
    server.command = lambda: [*BackupServer.command(server), "--shutdown-timeout", "5"]  # type: ignore[method-assign]
    server.start()
    conn = stall_a_batch(server)
    try:
        elapsed, code = stop_and_time(server)
    finally:
        conn.close()
    assert code in CLEAN and 4.8 <= elapsed < 15, elapsed


def test_an_idle_stop_is_immediate(backupd_factory: BackupdFactory) -> None:
    server = backupd_factory(env={"CAIRN_BACKUPD_SHUTDOWN_TIMEOUT": "30"})
    elapsed, code = stop_and_time(server)
    assert code in CLEAN and elapsed < 5


def backup_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn.server", "backup", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        # A permissive umask, as in many cron set-ups: the copy must be private regardless.
        preexec_fn=lambda: os.umask(0o022),
    )


def test_an_online_copy_is_private_and_complete(backupd: BackupServer, tmp_path: Path) -> None:
    node = Node()
    target = node.path("/objects")
    body = node.batch({f"{i:064x}": (0, os.urandom(300)) for i in range(200)})
    put = httpx.put(backupd.url + target, content=body, headers=node.headers("PUT", target, body))
    assert put.status_code == 200
    copy = tmp_path / "copies" / "backupd-copy.sqlite"
    copy.parent.mkdir()
    result = backup_cli("--db", backupd.db, "--to", str(copy))  # while the server runs
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["copied_to"] == str(copy)
    assert copy.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in copy.parent.iterdir()) == ["backupd-copy.sqlite"]
    conn = sqlite3.connect(copy)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert conn.execute("SELECT count(*), sum(size) FROM objects").fetchone() == (200, 60000)
    finally:
        conn.close()
    # A second copy replaces the first, still private.
    copy.chmod(0o644)
    assert backup_cli("--db", backupd.db, "--to", str(copy)).returncode == 0
    assert copy.stat().st_mode & 0o777 == 0o600


def test_a_copy_is_refused_clearly(backupd: BackupServer, tmp_path: Path) -> None:
    missing = backup_cli("--db", str(tmp_path / "none.sqlite"), "--to", str(tmp_path / "c"))
    assert missing.returncode == 2 and "no database at" in missing.stderr
    nowhere = backup_cli("--db", backupd.db, "--to", str(tmp_path / "no" / "such" / "dir" / "c"))
    assert nowhere.returncode == 1 and "cannot copy the database" in nowhere.stderr
    assert "Traceback" not in nowhere.stderr
    pg = backup_cli("--db", "postgresql://u@127.0.0.1:1/x", "--to", str(tmp_path / "c"))
    assert pg.returncode == 2 and "pg_dump" in pg.stderr


def test_every_line_the_server_writes_is_json(
    backupd_factory: BackupdFactory, tmp_path: Path
) -> None:
    server = backupd_factory(db=str(tmp_path / "new" / "dir" / "backupd.sqlite"))
    node = Node()
    httpx.get(server.url + node.path())  # 401
    httpx.get(server.url + "/nowhere")  # 404
    stop_and_time(server)
    events = [json.loads(line) for line in server.log_text().splitlines()]
    assert events[0]["msg"] == "creating the database directory"
    assert {"Started server process", "Finished server process"} <= {
        e["msg"].split(" [", 1)[0] for e in events
    }
