"""PostgreSQL going away and coming back: 503 while it is down, normal service after."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.backupd import BackupdFactory, BackupServer
from tests.support.postgres import PostgresCluster, free_port, start_cluster
from tests.support.signing import Node


@pytest.fixture
def own_cluster() -> Iterator[PostgresCluster]:
    """A cluster of this test's own, since the test stops and restarts it."""
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


def pg_ctl(cluster: PostgresCluster, *args: str) -> None:
    subprocess.run(
        cluster._cmd(str(cluster.bin_dir / "pg_ctl"), "-D", str(cluster.data_dir), "-w", *args),
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.mark.postgres
def test_a_database_outage_is_503_and_service_resumes(
    own_cluster: PostgresCluster, backupd_factory: BackupdFactory
) -> None:
    server = backupd_factory(db=own_cluster.create_database("outage"))
    node = Node()

    def put(key: str, version: int, generation: int) -> httpx.Response:
        target = node.path("/objects")
        body = node.batch({key: (version, b"v")}, generation=generation)
        return httpx.put(
            server.url + target, content=body, headers=node.headers("PUT", target, body), timeout=30
        )

    assert put("a" * 64, 0, 0).status_code == 200
    pg_ctl(own_cluster, "-m", "fast", "stop")
    down = put("b" * 64, 0, 1)
    assert down.status_code == 503 and down.json()["error"] == "unavailable"
    assert "retry-after" in down.headers
    assert httpx.get(server.url + "/healthz").status_code == 503
    options = f"-p {own_cluster.port} -k {own_cluster.socket_dir} -c listen_addresses=127.0.0.1"
    pg_ctl(own_cluster, "-l", str(own_cluster.base_dir / "server.log"), "-o", options, "start")
    assert httpx.get(server.url + "/healthz").status_code == 200
    assert put("b" * 64, 0, 1).status_code == 200
    assert put("a" * 64, 1, 2).status_code == 200


def wait_for_line(server: BackupServer, msg: str, timeout: float = 30.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in server.log_text().splitlines():
            if line.startswith("{") and json.loads(line).get("msg") == msg:
                return dict(json.loads(line))
        time.sleep(0.1)
    raise AssertionError(f"no {msg!r} event in the log:\n{server.log_text()}")


@pytest.mark.postgres
def test_an_outage_is_logged_as_json_events_and_counted(
    own_cluster: PostgresCluster, backupd_factory: BackupdFactory
) -> None:
    server = backupd_factory(db=own_cluster.create_database("outage_log"))
    node = Node()
    target = node.path("/objects")
    body = node.batch({"a" * 64: (0, b"v")})
    headers = node.headers("PUT", target, body)
    pg_ctl(own_cluster, "-m", "fast", "stop")
    for _ in range(3):
        assert httpx.get(server.url + "/healthz", timeout=30).status_code == 503
    down = httpx.put(server.url + target, content=body, headers=headers, timeout=30)
    assert down.status_code == 503
    wait_for_line(server, "database unavailable")
    time.sleep(2)  # the pool tries to reconnect (and logs its failures) meanwhile
    options = f"-p {own_cluster.port} -k {own_cluster.socket_dir} -c listen_addresses=127.0.0.1"
    pg_ctl(own_cluster, "-l", str(own_cluster.base_dir / "server.log"), "-o", options, "start")
    # Noticed by the server's own probe: no request needed.
    back = wait_for_line(server, "database available again")
    assert isinstance(back["down_s"], float) and back["down_s"] > 1
    errors = [
        line.split()[-1]
        for line in httpx.get(server.url + "/metrics").text.splitlines()
        if line.startswith("cairn_backupd_database_errors_total{")
    ]
    assert errors and sum(float(e) for e in errors) >= 4
    server.stop()
    lines = server.log_text().splitlines()
    events = [json.loads(line) for line in lines]  # every line is one JSON object
    messages = [e["msg"] for e in events]
    assert messages.count("database unavailable") == 1
    assert messages.count("database available again") == 1
    assert messages.index("database unavailable") < messages.index("database available again")
    # The driver's own reconnection failures, with their tracebacks, are JSON lines too.
    assert any(e["logger"].startswith("asyncpg") and "trace" in e for e in events)


def test_a_database_unreachable_at_start_is_json_lines_and_a_failed_start() -> None:
    closed = free_port()  # nothing listens there
    db = f"postgresql://cairn@127.0.0.1:{closed}/cairn"
    result = subprocess.run(
        [sys.executable, "-m", "cairn.server", "serve", "--port", str(free_port()), "--db", db],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert [e["exception"] for e in events if e["msg"] == "database unavailable"] == [
        "ConnectionRefusedError"
    ]
    failure = next(e for e in events if e["msg"] == "traceback")
    assert failure["exception"] == "ConnectionRefusedError" and failure["trace"]
    assert not any("Traceback" in e["msg"] for e in events)
