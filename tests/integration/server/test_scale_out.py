"""Two server instances on one PostgreSQL: concurrent read-modify-write through both stays exact."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import random

import httpx
import pytest

from tests.support.backupd import BackupdFactory, BackupServer
from tests.support.signing import Node

CLIENTS = 20
INCREMENTS = 3  # per client, on the shared key and on its own key
SHARED = hashlib.sha256(b"shared counter").hexdigest()


def own_key(i: int) -> str:
    return hashlib.sha256(f"counter {i}".encode()).hexdigest()


class Client:
    """One device of the user: alternates between the instances, retries on 409."""

    def __init__(self, node: Node, servers: list[httpx.AsyncClient]) -> None:
        self.node = node
        self.servers = itertools.cycle(servers)
        self.statuses: list[int] = []

    async def call(self, method: str, suffix: str, body: bytes = b"") -> httpx.Response:
        target = self.node.path(suffix)
        r = await next(self.servers).request(
            method, target, content=body, headers=self.node.headers(method, target, body)
        )
        self.statuses.append(r.status_code)
        return r

    async def increment(self, key: str) -> None:
        while True:
            # The generation first: an object read after it is at least as new, so a stale
            # pair is refused with 409 rather than written.
            r = await self.call("GET", "")
            generation = 0 if r.status_code == 404 else r.json()["generation"]
            r = await self.call("GET", f"/objects/{key}")
            if r.status_code == 404:
                version, count = 0, 0
            else:
                obj = r.json()
                version, count = obj["version"], int(base64.b64decode(obj["value"]))
            body = self.node.batch({key: (version, str(count + 1).encode())}, generation=generation)
            r = await self.call("PUT", "/objects", body)
            if r.status_code == 200:
                return
            assert r.status_code == 409, r.text
            # As the real uploader does: back off with jitter instead of hammering the key.
            await asyncio.sleep(random.uniform(0, 0.02))

    async def run(self, i: int) -> None:
        for _ in range(INCREMENTS):
            await self.increment(SHARED)
            await self.increment(own_key(i))


async def final_count(http: httpx.AsyncClient, node: Node, key: str) -> int:
    target = node.path(f"/objects/{key}")
    r = await http.get(target, headers=node.headers("GET", target))
    return int(base64.b64decode(r.json()["value"]))


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.asyncio
async def test_two_instances_count_exactly(backupd_factory: BackupdFactory) -> None:
    instances: list[BackupServer] = [backupd_factory(postgres=True) for _ in range(2)]
    node = Node()
    # Idle connections are dropped well before the server's keep-alive timeout (5 s): a request
    # on one the server is closing would fail with no answer, and a PUT cannot simply be sent
    # again here (it may have been applied).
    limits = httpx.Limits(keepalive_expiry=1.0)
    https = [httpx.AsyncClient(base_url=s.url, timeout=30, limits=limits) for s in instances]
    try:
        clients = [Client(node, https[i % 2 :] + https[: i % 2]) for i in range(CLIENTS)]
        async with asyncio.timeout(120):
            await asyncio.gather(*(c.run(i) for i, c in enumerate(clients)))
        statuses = [s for c in clients for s in c.statuses]
        assert not [s for s in statuses if s >= 500]
        assert await final_count(https[0], node, SHARED) == CLIENTS * INCREMENTS
        for i in range(CLIENTS):
            assert await final_count(https[1], node, own_key(i)) == INCREMENTS
        info_target = node.path()
        info = (await https[1].get(info_target, headers=node.headers("GET", info_target))).json()
        # One generation per successful batch, across both instances.
        assert info["generation"] == 2 * CLIENTS * INCREMENTS
        assert statuses.count(409) > 0  # the shared key really was contended
    finally:
        for http in https:
            await http.aclose()


@pytest.mark.postgres
def test_a_nonce_seen_by_one_instance_is_refused_by_the_other(
    backupd_factory: BackupdFactory,
) -> None:
    first, second = backupd_factory(postgres=True), backupd_factory(postgres=True)
    node = Node()
    target = node.path("/objects")
    body = node.batch({SHARED: (0, b"1")})
    headers = node.headers("PUT", target, body)
    assert httpx.put(first.url + target, content=body, headers=headers).status_code == 200
    r = httpx.put(second.url + target, content=body, headers=headers)
    assert r.status_code == 401 and r.json()["error"] == "replayed"


@pytest.mark.postgres
def test_the_rate_limit_is_shared_by_every_instance(backupd_factory: BackupdFactory) -> None:
    # An hour-long window: the test does not straddle a window boundary.
    first = backupd_factory(postgres=True, rate_limit=4, rate_window=3600)
    second = backupd_factory(postgres=True, rate_limit=4, rate_window=3600)
    node = Node()
    target = node.path()
    statuses = [
        httpx.get(server.url + target, headers=node.headers("GET", target)).status_code
        for server in (first, second, first, second, first, second)
    ]
    assert statuses == [404, 404, 404, 404, 429, 429]
