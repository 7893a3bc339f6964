"""After an erase, a real server takes a batch only under an incarnation the store never had
(PROTOCOL.md section 4): a device still on an erased life cannot bring it back."""

from __future__ import annotations

import httpx
import pytest

from cairn.wire.addressing import new_incarnation
from tests.support.backupd import BackupdFactory, BackupServer
from tests.support.signing import Node

KEY = "ab" * 32


def put(server: BackupServer, node: Node, incarnation: str, generation: int) -> httpx.Response:
    node.incarnation = incarnation
    target = node.path("/objects")
    body = node.batch({KEY: (0, incarnation.encode())}, generation=generation)
    return httpx.put(server.url + target, content=body, headers=node.headers("PUT", target, body))


def signed(server: BackupServer, node: Node, method: str, suffix: str = "") -> httpx.Response:
    target = node.path(suffix)
    return httpx.request(method, server.url + target, headers=node.headers(method, target))


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_batch_under_an_erased_life_is_refused(
    backupd_factory: BackupdFactory, backend: str
) -> None:
    server = backupd_factory(postgres=backend == "postgres")
    node = Node()
    first, second, third = new_incarnation(), new_incarnation(), new_incarnation()
    assert put(server, node, first, 0).status_code == 200
    assert signed(server, node, "DELETE").status_code == 200
    server.restart()  # what the store's lives were is kept on disk
    # A device that missed the erase pushes on, at the generation the store kept.
    stale = put(server, node, first, 1)
    assert stale.status_code == 409, stale.text
    assert stale.json()["error"] == "conflict"
    assert (stale.json()["incarnation"], stale.json()["erased"]) == (None, True)
    info = signed(server, node, "GET").json()
    assert (info["erased"], info["objects"], info["generation"]) == (True, 0, 1)
    # A new life starts; once it is erased too, neither earlier life comes back.
    assert put(server, node, second, 1).status_code == 200
    assert signed(server, node, "DELETE").status_code == 200
    for old in (first, second):
        assert put(server, node, old, 2).status_code == 409
    assert put(server, node, third, 2).status_code == 200
    assert signed(server, node, "GET", f"/objects/{KEY}").status_code == 200
