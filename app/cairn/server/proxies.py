"""The client's address behind a reverse proxy: X-Forwarded-For, from trusted peers only.

A request's address is the TCP peer's unless that peer is one of the configured proxies
(`--trusted-proxy`, none by default). Then X-Forwarded-For is read from the right: every hop
that is itself a trusted proxy is skipped and the first one that is not is the client. Anyone
else's X-Forwarded-For is ignored, so a client cannot choose its own address to escape the
per-address limits. The address is used for those limits only; it is never logged.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
HEADER = b"x-forwarded-for"


class TrustedProxies:
    def __init__(self, networks: Sequence[str]) -> None:
        self.networks: tuple[Network, ...] = tuple(ipaddress.ip_network(n) for n in networks)
        self.is_trusted = functools.lru_cache(maxsize=1024)(self._is_trusted)

    def _is_trusted(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def client_of(self, peer: str, forwarded: str) -> str:
        """The client address, given a trusted `peer` and its X-Forwarded-For value."""
        client = peer
        for text in reversed(forwarded.split(",")):
            try:
                hop = str(ipaddress.ip_address(text.strip()))
            except ValueError:
                # Garbage (or a port, or a name) in the chain: trust stops at the last good hop.
                return client
            client = hop
            if not self.is_trusted(hop):
                return hop
        return client


class ForwardedFor:
    """ASGI middleware: `scope["client"]` is the forwarded address when the peer is trusted."""

    def __init__(self, app: ASGIApp, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            peer = scope.get("client")
            if peer and self.proxies.is_trusted(peer[0]):
                values = [v.decode("latin-1") for k, v in scope["headers"] if k == HEADER]
                if values:
                    client = self.proxies.client_of(peer[0], ",".join(values))
                    # In place: the observer outside reads the route the router sets in it.
                    scope["client"] = (client, 0)
        await self.app(scope, receive, send)
