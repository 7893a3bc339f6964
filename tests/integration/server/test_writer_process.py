"""`serve --workers N` on SQLite: one writer process takes every worker's writes.

Through the real command, over real HTTP: refusals come back from the writer as they would from
a single process, the writer is replaced (and the workers with it) when it dies without losing
anything that was answered 200, and it ends with its supervisor, however that ends.
"""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest

from tests.support.backupd import (
    BackupdFactory,
    BackupServer,
    alive,
    children,
    worker_pids,
    writer_pid,
)
from tests.support.signing import Node


def put(server: BackupServer, node: Node, body: bytes) -> httpx.Response:
    # A new connection each time, so that both workers take some of the requests.
    target = node.path("/objects")
    return httpx.put(
        server.url + target, content=body, headers=node.headers("PUT", target, body), timeout=30
    )


def read(server: BackupServer, node: Node, key: str) -> httpx.Response:
    target = node.path(f"/objects/{key}")
    return httpx.get(server.url + target, headers=node.headers("GET", target), timeout=30)


def wait_until(condition: object, seconds: float = 30.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_one_writer_answers_every_worker_as_one_process_would(
    backupd_factory: BackupdFactory,
) -> None:
    server = backupd_factory(workers=2, store_quota_bytes=4096)
    assert len(worker_pids(server)) == 2 and writer_pid(server) is not None
    nodes = [Node() for _ in range(6)]
    for node in nodes:
        assert put(server, node, node.batch({"a" * 64: (0, b"first")})).status_code == 200
    node = nodes[0]
    # A batch at a generation the store has moved past: 409, with the details of the store.
    stale = put(server, node, node.batch({"b" * 64: (0, b"late")}, generation=0))
    assert stale.status_code == 409
    assert stale.json()["error"] == "conflict" and stale.json()["generation"] == 1
    # The same signed request again, through whichever worker: 401 replayed.
    body = node.batch({"b" * 64: (0, b"second")}, generation=1)
    target = node.path("/objects")
    headers = node.headers("PUT", target, body)
    assert httpx.put(server.url + target, content=body, headers=headers).status_code == 200
    again = httpx.put(server.url + target, content=body, headers=headers)
    assert again.status_code == 401 and again.json()["error"] == "replayed"
    # Over the store's quota: 413, with what it would have held.
    over = put(server, node, node.batch({"c" * 64: (0, b"x" * 5000)}, generation=2))
    assert over.status_code == 413 and over.json()["error"] == "quota_exceeded"
    # What was answered 200 is there, read by any worker.
    assert read(server, node, "b" * 64).status_code == 200
    for other in nodes:
        assert read(server, other, "a" * 64).status_code == 200


@pytest.mark.parametrize("with_a_worker", [False, True], ids=["alone", "with-a-worker"])
def test_a_writer_that_dies_is_replaced_and_loses_nothing_answered(
    backupd_factory: BackupdFactory, with_a_worker: bool
) -> None:
    server = backupd_factory(workers=2)
    wait_until(lambda: len(worker_pids(server)) == 2)  # it answers once the first is up
    first_writer, first_workers = writer_pid(server), worker_pids(server)
    assert first_writer is not None
    node = Node()
    acknowledged: list[str] = []
    generation = 0
    for i in range(20):
        key = f"{i:064x}"
        r = put(server, node, node.batch({key: (0, b"v")}, generation=generation))
        assert r.status_code == 200
        generation = r.json()["generation"]
        acknowledged.append(key)
    os.kill(first_writer, signal.SIGKILL)
    if with_a_worker:  # the supervisor may reap the worker first, with its writer gone
        os.kill(min(first_workers), signal.SIGKILL)
    # Meanwhile writes are refused (503) or applied, never answered 200 and then lost; the
    # supervisor starts a new writer and new workers linked to it.
    key = "f" * 64
    statuses = []

    def written() -> bool:
        try:
            r = put(server, node, node.batch({key: (0, b"after")}, generation=generation))
        except httpx.TransportError:
            # The worker that had the connection went down with the writer: no answer at all.
            statuses.append("reset")
            return False
        statuses.append(r.status_code)
        return r.status_code == 200

    wait_until(written, 60)
    assert set(statuses) <= {200, 503, "reset"}
    assert writer_pid(server) not in (None, first_writer)
    wait_until(lambda: len(worker_pids(server)) == 2 and not worker_pids(server) & first_workers)
    for key in [*acknowledged, "f" * 64]:
        assert read(server, node, key).status_code == 200
    server.stop(timeout=30)
    assert server.process is not None and server.process.returncode == 0


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_the_writer_ends_with_its_supervisor(backupd_factory: BackupdFactory, how: str) -> None:
    server = backupd_factory(workers=2)
    node = Node()
    assert put(server, node, node.batch({"a" * 64: (0, b"v")})).status_code == 200
    wait_until(lambda: len(children(server)) == 3)  # the writer and both workers
    everyone = set(children(server))
    if how == "stop":
        server.stop(timeout=30)
        assert server.process is not None and server.process.returncode == 0
    else:
        server.kill()
    wait_until(lambda: not any(alive(pid) for pid in everyone), 10)
    server.start()  # the port is free, and the database opens: nothing holds it
    assert read(server, node, "a" * 64).status_code == 200


def test_a_worker_that_cannot_be_linked_for_now_comes_back_once_it_can(
    backupd_factory: BackupdFactory,
) -> None:
    import resource

    server = backupd_factory(workers=2)
    assert server.process is not None
    supervisor = server.process.pid
    soft, hard = resource.prlimit(supervisor, resource.RLIMIT_NOFILE)
    victim = min(worker_pids(server))
    # The supervisor may open no more files: the link of the worker it starts next (a socket
    # pair) cannot be made.
    in_use = len(os.listdir(f"/proc/{supervisor}/fd"))
    resource.prlimit(supervisor, resource.RLIMIT_NOFILE, (in_use, hard))
    try:
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 6  # several respawn pauses
        while time.monotonic() < deadline:
            assert len(worker_pids(server) - {victim}) <= 1
            assert httpx.get(server.url + "/healthz").status_code == 200  # the other one serves
            time.sleep(0.2)
    finally:
        resource.prlimit(supervisor, resource.RLIMIT_NOFILE, (soft, hard))
    wait_until(lambda: len(worker_pids(server) - {victim}) == 2, seconds=15)
    for _ in range(8):  # whichever worker takes each, it writes through the writer
        node = Node()
        assert put(server, node, node.batch({"a" * 64: (0, b"v")})).status_code == 200
