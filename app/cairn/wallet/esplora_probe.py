"""The chain watcher's two cheap questions, asked of an Esplora server over one kept-alive
connection: the tip's hash (64 characters of text) and one script's transaction counts (a few
hundred bytes of JSON). Asynchronous httpx, so no worker thread and no blocking of the loop."""

from __future__ import annotations

import re

import httpx

from cairn import httpclient
from cairn.wallet.watch import ProbeFailed

PROBE_TIMEOUT = 10.0
_HASH = re.compile(r"[0-9a-f]{64}")


class EsploraProbe:
    """``ChainProbe`` over Esplora's ``/blocks/tip/hash`` and ``/scripthash/{hash}``."""

    def __init__(self, url: str, *, timeout: float = PROBE_TIMEOUT) -> None:
        self._url = url.rstrip("/")
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self.requests = 0  # asked so far: what "cheap" is measured in

    async def tip_hash(self) -> str:
        text = (await self._get("/blocks/tip/hash")).text.strip()
        if not _HASH.fullmatch(text):
            raise ProbeFailed(f"the chain server at {self._url} sent a tip that is not a hash")
        return text

    async def tx_count(self, script_hash: str) -> int:
        if not _HASH.fullmatch(script_hash):
            raise ValueError("a script hash is 64 lower-case hex characters")
        try:
            stats = (await self._get(f"/scripthash/{script_hash}")).json()
            return int(stats["chain_stats"]["tx_count"]) + int(stats["mempool_stats"]["tx_count"])
        except (ValueError, KeyError, TypeError):
            raise ProbeFailed(
                f"the chain server at {self._url} sent address statistics this wallet cannot read"
            ) from None

    async def _get(self, path: str) -> httpx.Response:
        if self._client is None:
            self._client = httpclient.async_client(self._timeout)
        self.requests += 1
        try:
            response = await self._client.get(self._url + path)
        except httpx.HTTPError as error:
            raise ProbeFailed(
                f"cannot reach the chain server at {self._url} ({type(error).__name__})"
            ) from None
        if response.status_code != 200:
            raise ProbeFailed(
                f"the chain server at {self._url} answered HTTP {response.status_code}"
            )
        return response

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
