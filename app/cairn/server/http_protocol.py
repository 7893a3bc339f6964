"""uvicorn's httptools protocol, sending a response's head and body in one write.

uvicorn writes a response's status line and headers when the app sends `http.response.start`
and the body when it sends `http.response.body`: two socket writes per answer, two segments
for the client to read. For small answers (every PUT's) that second system call is a good part
of what the HTTP layer costs. Here a write that begins a response is held back until the next
write on the same connection, which carries it along; if none comes before the event loop
turns (a HEAD answer, a slow first chunk of a stream), it goes out on its own then. Nothing
else changes: bytes, their order and flow control are uvicorn's.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cairn.server.requests import RAW_TARGET

_RESPONSE_START = b"HTTP/1.1 "


class _CoalescingTransport:
    """A transport that holds back a response head until the next write (or the loop's turn)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + bytes(data))
        elif bytes(data[: len(_RESPONSE_START)]) == _RESPONSE_START:
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def __getattr__(self, name: str) -> Any:
        # Everything else (pause_reading, is_closing, get_extra_info, ...) is the transport's.
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """Also keeps the request target as it came in the request line, which ASGI's parsed path
    and query do not (`/x?` and `/x` give the same pair): the signature covers what was sent."""

    def on_headers_complete(self) -> None:
        extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
        extensions[RAW_TARGET] = bytes(self.url)
        super().on_headers_complete()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        coalescing = _CoalescingTransport(transport, self.loop)
        super().connection_made(coalescing)  # type: ignore[arg-type]
