"""Test support: signed HTTP requests to cairn-backupd, as a client node would send them."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx
from coincurve import PrivateKey

from cairn.wire.addressing import new_incarnation, new_write_id, store_path
from cairn.wire.messages import Batch, DeleteItem, PutItem, encode_batch
from cairn.wire.signing import sign_request

# Deletes carry a sealed tombstone; the server stores it without opening it.
TOMBSTONE = b"sealed tombstone"


@dataclass
class Node:
    """A backup identity: its signing key and node id, and helpers to build signed requests."""

    secret: bytes = field(default_factory=lambda: os.urandom(32))
    store_id: str = "regtest"
    incarnation: str = field(default_factory=new_incarnation)

    @property
    def node_id(self) -> str:
        return PrivateKey(self.secret).public_key.format(compressed=True).hex()

    def path(self, suffix: str = "", node_id: str | None = None) -> str:
        return store_path(node_id or self.node_id, self.store_id) + suffix

    def headers(
        self, method: str, target: str, body: bytes = b"", **sign_args: Any
    ) -> dict[str, str]:
        auth = sign_request(self.secret, method, target, body, **sign_args)
        return {"Authorization": auth, "Content-Type": "application/json"}

    def batch(
        self,
        puts: dict[str, tuple[int, bytes]] | None = None,
        deletes: dict[str, int] | None = None,
        *,
        generation: int = 0,
        write_id: str | None = None,
    ) -> bytes:
        """A batch body under this node's incarnation."""
        return batch(
            puts, deletes, generation=generation, incarnation=self.incarnation, write_id=write_id
        )


def batch(
    puts: dict[str, tuple[int, bytes]] | None = None,
    deletes: dict[str, int] | None = None,
    *,
    generation: int = 0,
    incarnation: str | None = None,
    write_id: str | None = None,
) -> bytes:
    """The body of PUT {S}/objects: puts are key → (version, value), deletes key → version."""
    return encode_batch(
        Batch(
            incarnation=incarnation or secrets.token_hex(16),
            generation=generation,
            write_id=write_id or new_write_id(),
            puts=tuple(PutItem(k, v, val) for k, (v, val) in (puts or {}).items()),
            deletes=tuple(DeleteItem(k, v, TOMBSTONE) for k, v in (deletes or {}).items()),
        )
    )


class SignedClient:
    """Signs every request of one node; works over ASGITransport or a real server.

    `put` sends its batch at the generation this client last saw (from any batch answer or
    conflict), unless told another one, so tests read like a client that keeps up.
    """

    def __init__(self, http: httpx.AsyncClient, node: Node | None = None) -> None:
        self.http = http
        self.node = node or Node()
        self.generation = 0

    async def request(
        self, method: str, target: str, body: bytes = b"", *, node: Node | None = None
    ) -> httpx.Response:
        signer = node or self.node
        return await self.http.request(
            method, target, content=body, headers=signer.headers(method, target, body)
        )

    async def put(
        self,
        puts: dict[str, tuple[int, bytes]] | None = None,
        deletes: dict[str, int] | None = None,
        *,
        generation: int | None = None,
        write_id: str | None = None,
    ) -> httpx.Response:
        seen = self.generation if generation is None else generation
        body = self.node.batch(puts, deletes, generation=seen, write_id=write_id)
        r = await self.request("PUT", self.node.path("/objects"), body)
        if r.status_code in (200, 409):
            self.generation = r.json()["generation"]
        return r

    async def get(self, suffix: str = "") -> httpx.Response:
        return await self.request("GET", self.node.path(suffix))

    async def delete_store(self) -> httpx.Response:
        return await self.request("DELETE", self.node.path())
