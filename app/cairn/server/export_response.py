"""The export's HTTP response: the body in either encoding, and the snapshot always released.

An export holds a read transaction (SQLite) or a pooled connection (PostgreSQL) for as long as
its body is being sent. A client that goes away must not keep it: on SQLite an open read
transaction stops every WAL checkpoint, and the WAL then grows without bound.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from cairn.server.backend import Export
from cairn.wire.constants import NDJSON_MEDIA_TYPE
from cairn.wire.export import (
    FRAMES_MAGIC,
    FRAMES_MEDIA_TYPE,
    export_end_frame,
    export_frame,
    export_line,
)
from cairn.wire.messages import StoredObject

EXPORT_CHUNK = 1024 * 1024  # bytes of whole lines or frames per HTTP chunk of an export


class ExportResponse(StreamingResponse):
    """`export`'s objects as NDJSON lines or frames; `export` is closed however the response
    ends: sent in full, the client gone before or during the body, or the server stopping.

    Starlette cancels a streaming body whose client disconnects and leaves the body's generator
    suspended where it was (or never started), so a `finally` in the generator would run only
    when the garbage collector gets to it, and under a cancellation that also cancels the
    close. The close runs here instead, shielded.
    """

    def __init__(self, export: Export, *, frames: bool, headers: dict[str, str]) -> None:
        body = _chunked(export, export_frame, FRAMES_MAGIC, export_end_frame) if frames else (
            _chunked(export, export_line, b"", lambda _objects: b"")
        )  # fmt: skip
        super().__init__(
            body, media_type=FRAMES_MEDIA_TYPE if frames else NDJSON_MEDIA_TYPE, headers=headers
        )
        self._export = export

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._export.close()


async def _chunked(
    export: Export,
    encode: Callable[[StoredObject], bytes],
    head: bytes,
    end: Callable[[int], bytes],
) -> AsyncIterator[bytes]:
    """Every object encoded, grouped into chunks of about EXPORT_CHUNK bytes.

    One HTTP chunk per object costs both ends a send, a chunk header and a parser event per
    object; grouping them makes a restore's download several times cheaper.
    """
    parts: list[bytes] = [head] if head else []
    size = len(head)
    count = 0
    async for page in export.pages():
        for part in map(encode, page):
            parts.append(part)
            size += len(part)
            if size >= EXPORT_CHUNK:
                yield b"".join(parts)
                parts, size = [], 0
        count += len(page)
    tail = end(count)
    if tail:
        parts.append(tail)
    if parts:
        yield b"".join(parts)
