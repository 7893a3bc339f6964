"""The HTTP clients the app opens, all sharing one TLS context.

httpx builds a fresh `ssl.SSLContext` for every client, which reads and parses the whole CA
bundle: tens of milliseconds on the thread that asks. On the app's event loop that is a visible
stall, so the context is built once, on a worker thread (`prepare`), and every client reuses it.
"""

from __future__ import annotations

import asyncio
import functools
import ssl

import httpx


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The trust anchors httpx would use (its default verification), loaded once."""
    return httpx.create_ssl_context()


async def prepare() -> None:
    """Load the TLS context off the event loop, so that opening a client later costs nothing."""
    await asyncio.to_thread(tls_context)


def async_client(timeout: float) -> httpx.AsyncClient:
    """A connection pool with the shared TLS context."""
    return httpx.AsyncClient(timeout=timeout, verify=tls_context())
