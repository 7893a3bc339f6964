"""The real `cairn-backupd` program: serve on loopback, configuration, logs, migrate and stats."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.backupd import BackupdFactory, BackupServer, alive, worker_pids
from tests.support.signing import Node

A, B = "a" * 64, "b" * 64
SECRET_VALUE = b"value that must never be logged"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn.server", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def signed(
    server: BackupServer, node: Node, method: str, suffix: str, body: bytes = b""
) -> httpx.Response:
    target = node.path(suffix)
    return httpx.request(
        method, server.url + target, content=body, headers=node.headers(method, target, body)
    )


def test_logs_name_routes_never_keys_values_or_signatures(backupd: BackupServer) -> None:
    node = Node()
    target = node.path("/objects")
    body = node.batch({A: (0, SECRET_VALUE)})
    headers = node.headers("PUT", target, body)
    assert httpx.put(backupd.url + target, content=body, headers=headers).status_code == 200
    assert signed(backupd, node, "GET", f"/objects/{A}").status_code == 200
    assert signed(backupd, node, "GET", "/export").status_code == 200
    assert signed(backupd, node, "PUT", "/objects", node.batch({A: (0, b"x")})).status_code == 409
    backupd.stop()
    log = backupd.log_text()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("msg") == "request"]
    assert {(r["method"], r["route"], r["status"]) for r in requests} >= {
        ("PUT", "/v2/stores/{node_id}/{store_id}/objects", 200),
        ("GET", "/v2/stores/{node_id}/{store_id}/objects/{key}", 200),
        ("PUT", "/v2/stores/{node_id}/{store_id}/objects", 409),
    }
    assert all(r["node"] == node.node_id[:8] for r in requests if r["route"].startswith("/v2/"))
    signature = headers["Authorization"].rsplit("sig=", 1)[1]
    nonce = headers["Authorization"].split("nonce=", 1)[1].split(",", 1)[0]
    for secret in (
        A,
        node.node_id,
        signature,
        nonce,
        base64.b64encode(SECRET_VALUE).decode(),
        SECRET_VALUE.decode(),
    ):
        assert secret not in log


def test_limits_come_from_flags_and_environment(backupd_factory: BackupdFactory) -> None:
    server = backupd_factory(max_object_bytes=10, env={"CAIRN_BACKUPD_MAX_BATCH_ITEMS": "1"})
    node = Node()
    too_big = signed(server, node, "PUT", "/objects", node.batch({A: (0, b"x" * 11)}))
    assert too_big.status_code == 413
    too_many = signed(server, node, "PUT", "/objects", node.batch({A: (0, b"x"), B: (0, b"y")}))
    assert too_many.status_code == 413
    assert (
        signed(server, node, "PUT", "/objects", node.batch({A: (0, b"x" * 10)})).status_code == 200
    )


def test_a_bad_setting_is_refused_with_a_message(tmp_path: Path) -> None:
    result = run_cli(
        "serve",
        "--db",
        str(tmp_path / "x.sqlite"),
        env={"CAIRN_BACKUPD_RATE_LIMIT": "many", "PATH": ""},
    )
    assert result.returncode == 2
    assert "CAIRN_BACKUPD_RATE_LIMIT must be a whole number" in result.stderr


def test_migrate_and_stats_on_sqlite(backupd: BackupServer, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.sqlite"
    assert run_cli("migrate", "--db", str(fresh)).returncode == 0
    assert fresh.stat().st_mode & 0o777 == 0o600
    node = Node()
    signed(backupd, node, "PUT", "/objects", node.batch({A: (0, b"12345"), B: (0, b"678")}))
    stats = run_cli("stats", "--db", backupd.db)
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout) == {"stores": 1, "objects": 2, "bytes": 8}


@pytest.mark.postgres
def test_migrate_and_stats_on_postgres(backupd_factory: BackupdFactory) -> None:
    server = backupd_factory(postgres=True)
    assert run_cli("migrate", "--db", server.db).returncode == 0  # again: a no-op
    node = Node()
    assert signed(server, node, "PUT", "/objects", node.batch({A: (0, b"1234")})).status_code == 200
    stats = run_cli("stats", "--db", server.db)
    assert json.loads(stats.stdout) == {"stores": 1, "objects": 1, "bytes": 4}


def test_compact_drops_old_tombstones_and_old_feeds_must_resync(backupd: BackupServer) -> None:
    import time

    node = Node()
    assert signed(backupd, node, "PUT", "/objects", node.batch({A: (0, b"a")})).status_code == 200
    gone = node.batch(deletes={A: 1}, generation=1)
    assert signed(backupd, node, "PUT", "/objects", gone).status_code == 200
    assert signed(backupd, node, "GET", "/changes?since=0").status_code == 200
    time.sleep(1.1)  # tombstones older than "now": written at least a second ago
    result = run_cli("compact", "--db", backupd.db, "--older-than-days", "0")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"tombstones_dropped": 1}
    r = signed(backupd, node, "GET", "/changes?since=0")
    assert r.status_code == 410 and r.json()["error"] == "resync_required"
    assert r.json()["compacted"] == 2
    assert signed(backupd, node, "GET", "/changes?since=2").json()["items"] == []
    refused = run_cli("compact", "--db", backupd.db, "--older-than-days", "-1")
    assert refused.returncode == 2


def _worker_pids(server: BackupServer) -> set[int]:
    return worker_pids(server)  # the writer process is not a worker


def _every_worker(server: BackupServer, count: int = 2) -> set[int]:
    """The workers once all `count` are up: the server answers as soon as the first is."""
    import time

    deadline = time.monotonic() + 30
    while len(found := _worker_pids(server)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def test_workers_share_the_port_are_replaced_and_stop_together(
    backupd_factory: BackupdFactory,
) -> None:
    import os
    import signal
    import time

    server = backupd_factory(workers=2)
    workers = _every_worker(server)
    assert len(workers) == 2
    # Writes through many connections land in one database whichever worker takes them.
    nodes = [Node() for _ in range(8)]
    for node in nodes:
        target = node.path("/objects")
        body = node.batch({A: (0, b"v")})
        with httpx.Client(base_url=server.url) as http:
            assert http.put(
                target, content=body, headers=node.headers("PUT", target, body)
            ).is_success
    stats = run_cli("stats", "--db", server.db)
    assert json.loads(stats.stdout)["stores"] == 8
    # A worker that dies is replaced; the port keeps answering meanwhile.
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (
        len(_worker_pids(server)) < 2 or victim in _worker_pids(server)
    ):
        assert httpx.get(server.url + "/healthz").status_code == 200
        time.sleep(0.05)
    replaced = _worker_pids(server)
    assert len(replaced) == 2 and victim not in replaced
    # SIGTERM to the supervisor stops every worker, and it exits cleanly.
    server.stop(timeout=30)
    assert server.process is not None and server.process.returncode == 0
    assert not any(alive(pid) for pid in replaced)


def test_killing_the_supervisor_takes_its_workers_with_it(backupd_factory: BackupdFactory) -> None:
    server = backupd_factory(workers=2)
    workers = _every_worker(server)
    assert len(workers) == 2
    server.kill()
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid) for pid in workers):
        time.sleep(0.05)
    assert not any(alive(pid) for pid in workers)
    server.start()  # the port is free again
    assert httpx.get(server.url + "/healthz").status_code == 200


def test_workers_must_be_a_sensible_number(tmp_path: Path) -> None:
    for bad in ("0", "-1", "many", "65"):
        result = run_cli("serve", "--db", str(tmp_path / "db.sqlite"), "--workers", bad)
        assert result.returncode == 2, (bad, result)
        assert "workers" in result.stderr


def test_workers_share_the_per_node_rate_limit(backupd_factory: BackupdFactory) -> None:
    # An hour-long window: the test does not straddle a window boundary.
    server = backupd_factory(workers=2, rate_limit=4, rate_window=3600)
    node = Node()
    target = node.path()
    # A connection of its own for each request, so that both workers take some of them.
    statuses = [
        httpx.get(server.url + target, headers=node.headers("GET", target)).status_code
        for _ in range(16)
    ]
    assert statuses == [404] * 4 + [429] * 12


def test_a_ctrl_c_lets_the_workers_answer_the_requests_they_are_reading(
    backupd_factory: BackupdFactory,
) -> None:
    import os
    import signal
    import socket
    import time

    server = backupd_factory(workers=2)
    assert server.process is not None
    node = Node()
    target = node.path("/objects")
    body = node.batch({A: (0, b"v" * 1000)})
    head = (
        f"PUT {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in node.headers("PUT", target, body).items())
        + "\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as conn:
        conn.sendall(head.encode())
        assert conn.recv(100).startswith(b"HTTP/1.1 100")  # a worker is reading its body
        # A terminal's Ctrl-C reaches every process of the group; the supervisor's SIGINT, and
        # what it passes on, may come after the workers began to shut down.
        for pid in worker_pids(server):
            os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + 15
        while "Waiting for connections to close" not in server.log_text():
            assert time.monotonic() < deadline, server.log_text()
            time.sleep(0.05)
        os.kill(server.process.pid, signal.SIGINT)
        # Time for what the supervisor passes on to reach the workers (a second SIGINT there
        # would drop this request at once); the answer below does not depend on it.
        time.sleep(0.5)
        conn.sendall(body)
        answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200"), server.log_text()
    assert server.process.wait(30) == 0
