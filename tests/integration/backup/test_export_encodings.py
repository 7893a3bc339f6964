"""A restore reads the frame encoding where the server has it and NDJSON where it does not,
and refuses a frame-encoded export that was damaged, cut short or rearranged on its way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from cairn.backup.client import RemoteBackupClient
from cairn.backup.restore import RestoreOutcome, RestoreResult, restore_store
from cairn.wire.export import FRAMES_MAGIC, ExportFrameReader, export_end_frame, export_frame
from cairn.wire.messages import StoredObject
from tests.integration.backup.helpers import (
    NETWORK,
    back_up_records,
    keys_for,
    records_of,
    sample_records,
)

Alter = Callable[[bytes], bytes]


class AlteredExport(httpx.AsyncBaseTransport):
    """The real server, whose export body goes through `alter` on its way to the client."""

    def __init__(self, alter: Alter) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.alter = alter
        self.content_types: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if not request.url.path.endswith("/export") or response.status_code != 200:
            return response
        body = b"".join([piece async for piece in response.stream])  # type: ignore[attr-defined]
        await response.aclose()
        self.content_types.append(response.headers["content-type"])
        kept = {
            k: v for k, v in response.headers.items() if k.lower().startswith(("x-", "content-t"))
        }
        return httpx.Response(200, headers=kept, content=self.alter(body))

    async def aclose(self) -> None:
        await self.inner.aclose()


async def restore_through(
    transport: httpx.AsyncBaseTransport, url: str, target: Path
) -> RestoreResult:
    keys = keys_for()
    async with httpx.AsyncClient(transport=transport) as http:
        client = RemoteBackupClient(url, keys, NETWORK, http=http)
        return await restore_store(client, keys, target)


def frames_of(body: bytes) -> list[StoredObject]:
    reader = ExportFrameReader()
    objects = reader.feed(body)
    reader.finish()
    return objects


def framed(objects: list[StoredObject], count: int | None = None) -> bytes:
    frames = b"".join(export_frame(o) for o in objects)
    return FRAMES_MAGIC + frames + export_end_frame(len(objects) if count is None else count)


async def backed_up(backupd, tmp_path) -> dict[str, bytes]:
    records = sample_records(30)
    await back_up_records(tmp_path / "wallet.sqlite", records, backupd.url)
    return records


@pytest.mark.asyncio
async def test_a_restore_reads_frames_from_a_server_that_has_them(backupd, tmp_path):
    records = await backed_up(backupd, tmp_path)
    transport = AlteredExport(lambda body: body)
    target = tmp_path / "restored.sqlite"
    result = await restore_through(transport, backupd.url, target)
    assert result.outcome is RestoreOutcome.RESTORED, result.detail
    assert transport.content_types == ["application/x-cairn-export"]
    assert records_of(target) == records


@pytest.mark.asyncio
async def test_a_restore_reads_lines_from_a_server_without_frames(backupd, tmp_path):
    records = await backed_up(backupd, tmp_path)

    async def without_accept(request: httpx.Request) -> None:
        # What a server from before the frame encoding sees: a client it does not understand.
        if "Accept" in request.headers:
            del request.headers["Accept"]

    transport = AlteredExport(lambda body: body)
    target = tmp_path / "restored.sqlite"
    keys = keys_for()
    async with httpx.AsyncClient(
        transport=transport, event_hooks={"request": [without_accept]}
    ) as http:
        client = RemoteBackupClient(backupd.url, keys, NETWORK, http=http)
        result = await restore_store(client, keys, target)
    assert result.outcome is RestoreOutcome.RESTORED, result.detail
    assert transport.content_types[0].startswith("application/x-ndjson")
    assert records_of(target) == records


def _cut_before_the_end(body: bytes) -> bytes:
    return body[:-9]


def _repeated(body: bytes) -> bytes:
    objects = frames_of(body)
    return framed([*objects[:3], objects[2], *objects[3:]])


def _swapped(body: bytes) -> bytes:
    objects = frames_of(body)
    return framed([objects[1], objects[0], *objects[2:]])


def _dropped(body: bytes) -> bytes:
    return framed(frames_of(body)[1:])


def _miscounted(body: bytes) -> bytes:
    objects = frames_of(body)
    return framed(objects, len(objects) + 1)


def _oversized(body: bytes) -> bytes:
    # The first frame's length field claims 2^32 - 1 bytes.
    at = len(FRAMES_MAGIC) + 1 + 32 + 8 + (16 if body[len(FRAMES_MAGIC)] == 2 else 0)
    return body[:at] + b"\xff\xff\xff\xff" + body[at + 4 :]


def _garbage(body: bytes) -> bytes:
    return body[: len(FRAMES_MAGIC)] + b"\x07" + body[len(FRAMES_MAGIC) + 1 :]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("alter", "detail"),
    [
        (_cut_before_the_end, "cut short"),
        (_repeated, "repeats"),
        (_swapped, "out of key order"),
        (_dropped, "manifest"),
        (_miscounted, "counts"),
        (_oversized, "size limit"),
        (_garbage, "unknown type"),
    ],
)
async def test_a_damaged_frame_export_is_refused_and_nothing_is_switched(
    backupd, tmp_path, alter: Alter, detail: str
):
    await backed_up(backupd, tmp_path)
    target = tmp_path / "restored.sqlite"
    target.write_bytes(b"the old file")
    result = await restore_through(AlteredExport(alter), backupd.url, target)
    assert result.outcome is RestoreOutcome.CORRUPT
    assert detail in result.detail
    assert target.read_bytes() == b"the old file"
    assert [p.name for p in tmp_path.iterdir() if "staging" in p.name] == []
