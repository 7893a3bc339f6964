"""The export's body read straight off a connection of its own, in large reads.

httpx reads a response in pieces of at most 64 KiB, each through anyio, httpcore and h11: a few
hundred microseconds of Python per read, about a fifth of a restore's event-loop time. The
export is the one answer that runs to hundreds of megabytes, so it is fetched here with one
GET on its own connection, in reads of up to READ_BYTES, with h11 (the parser httpx itself
uses) doing the HTTP/1.1. Only for a client whose own connection pool would go straight to the
server: no transport given by the caller, no proxy in the environment. Everything else goes
through httpx.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
from collections.abc import AsyncIterator

import h11
import httpx

from cairn.backup.errors import BackupServerError, BackupUnreachable

__all__ = ["READ_BYTES", "DirectResponse", "direct_get", "goes_direct"]

READ_BYTES = 1024 * 1024
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")


def goes_direct(url: httpx.URL) -> bool:
    """Whether httpx, left to itself, would connect to `url`'s host directly."""
    if url.scheme not in ("http", "https"):
        return False
    # httpx reads these (either case) when it trusts the environment, as it does by default.
    return not any(os.environ.get(n) or os.environ.get(n.upper()) for n in _PROXY_VARIABLES)


class DirectResponse:
    """The status and headers of an answer, and its body as it arrives."""

    def __init__(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        response: h11.Response,
        timeout: float | None,
    ) -> None:
        self._conn = conn
        self._reader = reader
        self._writer = writer
        self._timeout = timeout
        self.status_code = response.status_code
        self.headers = httpx.Headers(
            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers]
        )
        coding = self.headers.get("Content-Encoding", "identity").strip().lower()
        if coding != "identity":
            # Asked for identity only: a coding would have to be undone here, as httpx does.
            raise BackupServerError(
                f"the backup server answered in an encoding not asked for ({coding})"
            )

    async def pieces(self) -> AsyncIterator[bytes]:
        """The body, one piece per network read; BackupUnreachable if it is cut off."""
        while True:
            event = await _next_event(self._conn, self._reader, self._timeout)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return
            else:
                raise BackupUnreachable("the export was cut off (the connection closed)")

    async def read(self) -> bytes:
        return b"".join([piece async for piece in self.pieces()])

    async def aclose(self) -> None:
        self._writer.close()
        # Closed from this side: what the peer does about it no longer matters.
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(self._writer.wait_closed(), self._timeout)


async def direct_get(
    request: httpx.Request, context: ssl.SSLContext, timeout: float | None
) -> DirectResponse:
    """Send `request` (a GET without a body) on a new connection; the answer's head read."""
    url = request.url
    secure = url.scheme == "https"
    port = url.port or (443 if secure else 80)
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                url.host,
                port,
                ssl=context if secure else None,
                server_hostname=url.host if secure else None,
                limit=READ_BYTES,
            ),
            timeout,
        )
    except TimeoutError:
        raise BackupUnreachable("the backup server did not answer in time") from None
    except OSError as exc:
        raise BackupUnreachable(f"cannot reach the backup server ({exc})") from None
    conn = h11.Connection(h11.CLIENT)
    headers = [
        (name, value)
        for name, value in request.headers.raw
        if name.lower() not in (b"accept-encoding", b"connection", b"content-length")
    ]
    headers += [(b"Accept-Encoding", b"identity"), (b"Connection", b"close")]
    try:
        writer.write(
            conn.send(h11.Request(method="GET", target=url.raw_path, headers=headers)) or b""
        )
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await asyncio.wait_for(writer.drain(), timeout)
        while True:
            event = await _next_event(conn, reader, timeout)
            if isinstance(event, h11.Response):
                return DirectResponse(conn, reader, writer, event, timeout)
            if not isinstance(event, h11.InformationalResponse):
                raise BackupUnreachable("the backup server closed the connection without answering")
    except BaseException:
        writer.close()
        raise


async def _next_event(
    conn: h11.Connection, reader: asyncio.StreamReader, timeout: float | None
) -> object:
    """The next h11 event, reading from the connection as long as h11 needs data."""
    try:
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            conn.receive_data(await asyncio.wait_for(reader.read(READ_BYTES), timeout))
    except TimeoutError:
        raise BackupUnreachable("the export stalled (no data in time)") from None
    except (OSError, h11.RemoteProtocolError) as exc:
        raise BackupUnreachable(f"the export was cut off ({exc})") from None
