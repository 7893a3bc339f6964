"""PUT {S}/objects in front of the framework answers as the framework's path does."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest

from cairn.server.app import create_app
from cairn.server.config import Limits, Settings
from cairn.server.http_protocol import _CoalescingTransport
from tests.support.signing import SignedClient

A = "a" * 64


@pytest.mark.asyncio
async def test_an_unexpected_failure_is_answered_500_on_both_paths(tmp_path: Path) -> None:
    app = create_app(Settings(db=str(tmp_path / "backupd.sqlite"), limits=Limits(rate_limit=0)))
    async with app.router.lifespan_context(app):
        # A request that arrives once the database is closed (a stop under way) is a failure
        # neither path expects: it must still be answered 500 and counted.
        await app.state.service.backend.close()
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://backupd.test") as http:
            api = SignedClient(http)
            hot = await api.put({A: (0, b"a")})  # the hot path
            framework = await api.get()  # the framework's path
        metrics = generate_latest(app.state.service.metrics.registry).decode()
    assert hot.status_code == 500
    assert hot.json() == {"error": "internal", "detail": "the server failed to handle the request"}
    assert framework.status_code == 500
    assert framework.json() == hot.json()
    for method, route in (("PUT", "/objects"), ("GET", "")):
        template = "/v2/stores/{node_id}/{store_id}" + route
        labels = f'method="{method}",route="{template}",status="500"'
        assert f"cairn_backupd_requests_total{{{labels}}} 1.0" in metrics


@pytest.mark.asyncio
async def test_a_response_head_and_its_body_leave_in_one_write() -> None:
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[asyncio.Transport] = loop.create_future()

    class Accept(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted.set_result(transport)  # type: ignore[arg-type]

    server = await loop.create_server(Accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        real = await accepted
        writes: list[bytes] = []
        send = real.write

        def recording(data: bytes | bytearray | memoryview) -> None:
            writes.append(bytes(data))
            send(data)

        real.write = recording  # type: ignore[method-assign]
        transport = _CoalescingTransport(real, loop)
        head, body = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n", b"{}"
        transport.write(head)
        assert writes == []  # held for the body
        transport.write(body)
        assert writes == [head + body]
        assert await reader.readexactly(len(head + body)) == head + body

        # A head with nothing after it (HEAD, 204) still goes out when the loop turns.
        alone = b"HTTP/1.1 204 No Content\r\n\r\n"
        transport.write(alone)
        await asyncio.sleep(0)
        assert writes[-1] == alone
        assert await reader.readexactly(len(alone)) == alone

        # Bytes that begin no response (a chunk of a stream) are never held.
        transport.write(b"5\r\nhello\r\n")
        assert writes[-1] == b"5\r\nhello\r\n"
        transport.write(alone)
        transport.close()  # and closing sends what is held first
        assert writes[-1] == alone
        assert await reader.read() == b"5\r\nhello\r\n" + alone
    finally:
        writer.close()
        server.close()
        await server.wait_closed()


@pytest.mark.asyncio
async def test_a_request_through_a_trusted_proxy_is_counted_under_its_route(
    tmp_path: Path,
) -> None:
    settings = Settings(
        db=str(tmp_path / "backupd.sqlite"),
        limits=Limits(rate_limit=0),
        trusted_proxies=("127.0.0.1/32",),
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://backupd.test",
            headers={"X-Forwarded-For": "192.0.2.7"},
        ) as http:
            api = SignedClient(http)
            assert (await api.put({A: (0, b"a")})).status_code == 200  # the hot path
            assert (await api.get()).status_code == 200  # the framework's path
        metrics = generate_latest(app.state.service.metrics.registry).decode()
    for method, route in (("PUT", "/objects"), ("GET", "")):
        template = "/v2/stores/{node_id}/{store_id}" + route
        labels = f'method="{method}",route="{template}",status="200"'
        assert f"cairn_backupd_requests_total{{{labels}}} 1.0" in metrics
    assert 'route="unmatched"' not in metrics
