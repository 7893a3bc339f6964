"""Test support: signed HTTP requests to cairn-backupd, as a client node would send them."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import httpx
from coincurve import PrivateKey

from cairn.backup.protocol import sign_request, store_path


@dataclass
class Node:
    """A backup identity: its signing key and node id, and helpers to build signed requests."""

    secret: bytes = field(default_factory=lambda: os.urandom(32))
    store_id: str = "regtest"

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
    puts: dict[str, tuple[int, bytes]] | None = None, deletes: dict[str, int] | None = None
) -> bytes:
    import base64

    body = {
        "put": [
            {"key": k, "version": v, "value": base64.b64encode(val).decode()}
            for k, (v, val) in (puts or {}).items()
        ],
        "delete": [{"key": k, "version": v} for k, v in (deletes or {}).items()],
    }
    return json.dumps(body).encode()


class SignedClient:
    """Signs every request of one node; works over ASGITransport or a real server."""

    def __init__(self, http: httpx.AsyncClient, node: Node | None = None) -> None:
        self.http = http
        self.node = node or Node()

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
    ) -> httpx.Response:
        return await self.request("PUT", self.node.path("/objects"), batch(puts, deletes))

    async def get(self, suffix: str = "") -> httpx.Response:
        return await self.request("GET", self.node.path(suffix))

    async def delete_store(self) -> httpx.Response:
        return await self.request("DELETE", self.node.path())
