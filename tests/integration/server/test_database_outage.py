"""PostgreSQL going away and coming back: 503 while it is down, normal service after."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import httpx
import pytest

from tests.support.backupd import BackupdFactory
from tests.support.postgres import PostgresCluster, start_cluster
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
