"""The export read on a connection of its own: answers cut short, stalled or in a coding
Cairn did not ask for are typed errors; a proxy in the environment leaves it to httpx."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
import pytest_asyncio

from cairn.backup.client import BackupUnauthorized, BackupUnreachable, RemoteBackupClient
from cairn.backup.errors import BackupServerError
from cairn.backup.exportconn import goes_direct
from cairn.wire.export import FRAMES_MAGIC, FRAMES_MEDIA_TYPE
from tests.integration.backup.helpers import NETWORK, keys_for

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
HEAD = (
    "HTTP/1.1 200 OK\r\nContent-Type: {media}\r\nX-Cairn-Generation: 3\r\n{extra}"
    "Transfer-Encoding: chunked\r\n\r\n"
)


@pytest_asyncio.fixture
async def raw_server() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """A loopback HTTP server whose every answer the test writes byte by byte."""
    servers: list[asyncio.Server] = []
    serving: set[asyncio.Task[None]] = set()

    async def start(handler: Handler) -> str:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            serving.add(task)
            try:
                await reader.readuntil(b"\r\n\r\n")
                await handler(reader, writer)
            finally:
                writer.close()
                serving.discard(task)

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for task in list(serving):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    for server in servers:
        server.close()
        await server.wait_closed()


async def _export_all(url: str, timeout: float = 5.0) -> int:
    client = RemoteBackupClient(url, keys_for(), NETWORK, timeout=timeout)
    try:
        async with client.export() as stream:
            return sum([len(objects) async for objects in stream.batches()])
    finally:
        await client.aclose()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


@pytest.mark.asyncio
async def test_an_export_cut_off_mid_body_is_unreachable(raw_server) -> None:
    async def cut(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(HEAD.format(media=FRAMES_MEDIA_TYPE, extra="").encode())
        # A chunk of 1 KiB announced, the start of a frame sent, then the connection closed.
        writer.write(_chunk(FRAMES_MAGIC) + b"400\r\n\x01" + bytes(10))
        await writer.drain()

    with pytest.raises(BackupUnreachable, match="cut off"):
        await _export_all(await raw_server(cut))


@pytest.mark.asyncio
async def test_an_export_that_stalls_is_unreachable(raw_server) -> None:
    async def stall(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(HEAD.format(media=FRAMES_MEDIA_TYPE, extra="").encode())
        writer.write(_chunk(FRAMES_MAGIC))
        await writer.drain()
        await asyncio.sleep(30)

    started = time.monotonic()
    with pytest.raises(BackupUnreachable, match="stalled"):
        await _export_all(await raw_server(stall), timeout=0.5)
    assert time.monotonic() - started < 10


@pytest.mark.asyncio
async def test_an_export_in_a_coding_not_asked_for_is_refused(raw_server) -> None:
    async def gzipped(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = HEAD.format(media=FRAMES_MEDIA_TYPE, extra="Content-Encoding: gzip\r\n")
        writer.write(head.encode() + b"0\r\n\r\n")
        await writer.drain()

    with pytest.raises(BackupServerError, match="encoding"):
        await _export_all(await raw_server(gzipped))


@pytest.mark.asyncio
async def test_an_export_refused_by_the_server_is_its_typed_error(backupd) -> None:
    keys = keys_for()
    async with RemoteBackupClient(
        backupd.url, keys, NETWORK, clock=lambda: time.time() - 3600
    ) as client:
        with pytest.raises(BackupUnauthorized) as caught:
            async with client.export():
                pass
    assert caught.value.code == "stale_timestamp"


def test_a_proxy_in_the_environment_leaves_the_export_to_httpx(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = httpx.URL("https://backup.example:8443/v2/stores/x/y/export")
    for name in ("http_proxy", "HTTPS_PROXY", "all_proxy", "HTTP_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ALL_PROXY", raising=False)
    assert goes_direct(url)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert not goes_direct(url)
    assert not goes_direct(httpx.URL("ftp://backup.example/export"))
