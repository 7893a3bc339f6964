"""Per-address request limit: a token bucket per client address, checked before anything else.

The per-node limit (auth.py) needs a valid signature; this one does not, so it also bounds
unsigned floods and floods of fresh node ids from one place. It is counted in each server
process's memory (no database round trip per request): behind a load balancer of N instances,
or with N `--workers`, an address gets at most N times the limit. IPv6 addresses count per /64, the block one subscriber usually
holds. /healthz and /metrics are exempt (load balancers and monitoring poll them).
"""

from __future__ import annotations

import functools
import ipaddress
import json
import math
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from cairn.server.config import Settings
from cairn.server.proxies import ForwardedFor, TrustedProxies
from cairn.server.ratelimit import TokenBuckets

EXEMPT_PATHS = frozenset({"/healthz", "/metrics"})


@functools.lru_cache(maxsize=4096)
def address_key(host: str) -> str:
    """What the per-address limits count: the IPv4 address, or the IPv6 /64 (or the text)."""
    if ":" not in host:
        return host
    try:
        address = ipaddress.IPv6Address(host)
    except ValueError:
        return host
    if address.ipv4_mapped is not None:  # a dual-stack socket's view of an IPv4 client
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network(f"{address}/64", strict=False))


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class AddressRateLimit:
    """ASGI middleware: 429 `rate_limited` with Retry-After once an address's bucket is empty."""

    def __init__(
        self,
        app: ASGIApp,
        requests: int,
        window: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.buckets = TokenBuckets(requests, window)
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        wait = self.buckets.take(address_key(client_address(scope)), self.clock())
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        retry = max(1, math.ceil(wait))
        body = json.dumps(
            {
                "error": "rate_limited",
                "detail": f"too many requests from this address; retry in {retry} s",
            },
            separators=(",", ":"),
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(retry).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def in_front(app: ASGIApp, settings: Settings) -> ASGIApp:
    """`app` behind the address middlewares, if configured (proxies run before the limit)."""
    if settings.limits.ip_rate_limit > 0:
        app = AddressRateLimit(
            app,
            requests=settings.limits.ip_rate_limit,
            window=max(1, settings.limits.ip_rate_window),
        )
    if settings.trusted_proxies:
        app = ForwardedFor(app, proxies=TrustedProxies(settings.trusted_proxies))
    return app
