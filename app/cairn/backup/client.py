"""RemoteBackupClient: the signed HTTP client of the backup protocol v1 (docs/PROTOCOL.md).

A thin adapter over httpx: it signs every request, maps each failure to one small hierarchy of
typed errors (the caller never sees an httpx exception) and streams the export as it arrives
(in the frame encoding where the server has it, NDJSON otherwise), so a restore never holds the
whole backup in memory.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NamedTuple, TypeVar

import httpx

from cairn import httpclient
from cairn.backup.errors import (
    BackupBadRequest,
    BackupConflict,
    BackupCorrupt,
    BackupError,
    BackupNotFound,
    BackupQuotaExceeded,
    BackupServerError,
    BackupTooLarge,
    BackupUnauthorized,
    BackupUnreachable,
    BackupUnsupported,
    RateLimited,
    ResyncRequired,
)
from cairn.backup.exportconn import DirectResponse, direct_get, goes_direct
from cairn.keys import BackupKeys
from cairn.wire.addressing import (
    changes_target,
    is_valid_id16,
    list_target,
    object_path,
    store_path,
)
from cairn.wire.constants import GENERATION_HEADER, INCARNATION_HEADER, LIST_LIMIT_MAX
from cairn.wire.export import (
    FRAMES_MEDIA_TYPE,
    ExportFrameError,
    ExportFrameReader,
    parse_export_line,
    parse_export_lines,
)
from cairn.wire.jsonbody import ProtocolError, loads
from cairn.wire.messages import (
    Batch,
    BatchResult,
    FeedPage,
    StoredObject,
    StoreInfo,
    decode_batch_result,
    decode_conflict,
    decode_feed_page,
    decode_list_page,
    decode_object,
    decode_store_info,
    encode_batch,
)
from cairn.wire.signing import RequestSigner

__all__ = [
    "BackupBadRequest",
    "BackupConflict",
    "BackupError",
    "BackupNotFound",
    "BackupQuotaExceeded",
    "BackupServerError",
    "BackupTooLarge",
    "BackupUnauthorized",
    "BackupUnreachable",
    "BackupUnsupported",
    "ExportStream",
    "ObjectVersion",
    "RateLimited",
    "RemoteBackupClient",
    "ResyncRequired",
]

DEFAULT_TIMEOUT = 15.0
# A batch with more bytes of values than this is encoded on a worker thread: a full backup's
# batches of a megabyte take several milliseconds of JSON and base64 each.
ENCODE_ON_LOOP_BYTES = 64 * 1024
# The export's encodings, the denser first: a server without frames answers NDJSON.
EXPORT_ACCEPT = f"{FRAMES_MEDIA_TYPE}, application/x-ndjson;q=0.5"
# An invite for a server in invite mode (docs/PROTOCOL.md section 7.1): the one in config.json
# (cairn.invitecode), else this variable's, for clients an operator provisions; sent only with
# a batch that creates a store.
INVITE_ENV = "CAIRN_BACKUP_INVITE"
INVITE_HEADER = "Cairn-Invite"
HEALTH_PATH = "/healthz"  # unsigned (docs/PROTOCOL.md)


# --- shapes (the wire messages are owned by cairn.wire) -------------------------------------


class ObjectVersion(NamedTuple):
    """One row of the paginated version listing."""

    key: str
    version: int
    size: int


# --- the client ------------------------------------------------------------------------------


class RemoteBackupClient:
    """Signed requests against one store (`node_id` from the keys, `store_id` the network)."""

    def __init__(
        self,
        base_url: str,
        keys: BackupKeys,
        store_id: str,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.time,
        invite: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._invite: str | None = None
        self.use_invite(invite)
        self.store_id = store_id
        self.node_id = keys.node_id
        self._signer = RequestSigner(keys.signing_key)
        self._owns_http = http is None
        self._http = http if http is not None else httpclient.async_client(timeout)
        self._timeout = httpx.Timeout(timeout)
        self._clock = clock
        self.store_path = store_path(keys.node_id, store_id)

    async def aclose(self) -> None:
        """Close the connection pool if this client created it."""
        if self._owns_http:
            await self._http.aclose()

    def use_invite(self, invite: str | None) -> None:
        """The invite the batch that creates the store carries (None: the environment's)."""
        self._invite = invite or os.environ.get(INVITE_ENV) or None

    async def __aenter__(self) -> RemoteBackupClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- endpoints ----------------------------------------------------------------------------

    async def store_info(self) -> StoreInfo:
        """The store's generation, incarnation, object count and bytes; BackupNotFound if none."""
        return _decoded(decode_store_info, await self._json("GET", self.store_path))

    async def answers_as_a_backup_server(self) -> bool:
        """Whether the server's address answers `GET /healthz` as cairn-backupd does (its
        status, up or with its database down): a 404 from anything else is not "no backup"."""
        try:
            response = await self._http.get(self.base_url + HEALTH_PATH, timeout=self._timeout)
            data = loads(response.content)
        except (httpx.HTTPError, ProtocolError):
            return False
        if not isinstance(data, dict):
            return False
        return data.get("status") == "ok" or data.get("error") == "unavailable"

    async def put_batch(self, batch: Batch) -> BatchResult:
        """Apply one atomic batch; BackupConflict (nothing applied) if the store moved on."""
        extra = {INVITE_HEADER: self._invite} if self._invite and batch.generation == 0 else None
        if batch.value_bytes > ENCODE_ON_LOOP_BYTES:
            body = await asyncio.to_thread(encode_batch, batch)
        else:
            body = encode_batch(batch)
        data = await self._json("PUT", self.store_path + "/objects", body, extra)
        return _decoded(decode_batch_result, data)

    async def get_object(self, key: str) -> StoredObject:
        """One live object; BackupNotFound if the store has no such key."""
        data = await self._json("GET", object_path(self.node_id, self.store_id, key))
        return _decoded(decode_object, data)

    async def changes(self, since: int, *, limit: int | None = None) -> FeedPage:
        """One page of the change feed after generation `since` (ResyncRequired if too old)."""
        target = changes_target(self.node_id, self.store_id, since=since, limit=limit)
        return _decoded(decode_feed_page, await self._json("GET", target))

    async def list_versions(
        self, *, page_size: int = LIST_LIMIT_MAX
    ) -> AsyncIterator[ObjectVersion]:
        """Every live key and version in the store, page by page, in key order."""
        after: str | None = None
        while True:
            target = list_target(self.node_id, self.store_id, after=after, limit=page_size)
            items, after = _decoded(decode_list_page, await self._json("GET", target))
            for item in items:
                yield ObjectVersion(item.key, item.version, item.size)
            if not after:
                return

    def export(self) -> ExportStream:
        """The whole store as a stream: `async with client.export() as stream: async for ...`."""
        return ExportStream(self)

    async def delete_store(self) -> None:
        """Erase the whole store on the server; BackupNotFound if there is none."""
        await self._json("DELETE", self.store_path)

    # -- plumbing -----------------------------------------------------------------------------

    def _signed(
        self, method: str, target: str, body: bytes, extra: dict[str, str] | None = None
    ) -> httpx.Request:
        url = httpx.URL(self.base_url + target)
        # The signature covers the request target exactly as it goes on the wire.
        sent_target = url.raw_path.decode("ascii")
        header = self._signer.sign(method, sent_target, body, ts=int(self._clock()))
        headers = {"Authorization": header, **(extra or {})}
        if body:
            headers["Content-Type"] = "application/json"
        return self._http.build_request(
            method, url, content=body, headers=headers, timeout=self._timeout
        )

    async def _json(
        self, method: str, target: str, body: bytes = b"", extra: dict[str, str] | None = None
    ) -> Any:
        request = self._signed(method, target, body, extra)
        try:
            response = await self._http.send(request)
        except httpx.TimeoutException as exc:
            raise BackupUnreachable(f"the backup server did not answer in time ({exc})") from None
        except httpx.TransportError as exc:
            raise BackupUnreachable(f"cannot reach the backup server ({exc})") from None
        if response.status_code >= 400:
            raise _error_from(response.status_code, response.content, response.headers)
        try:
            return loads(response.content)
        except ProtocolError:
            raise BackupServerError(
                "the backup server answered something that is not JSON"
            ) from None


@dataclass
class ExportStream(AbstractAsyncContextManager["ExportStream"]):
    """An open export: `generation` from the response header, objects in key order.

    `framed` says which encoding the server answered with (docs/PROTOCOL.md 7.5).
    """

    client: RemoteBackupClient
    generation: int = 0
    incarnation: str | None = None
    framed: bool = False
    _response: httpx.Response | DirectResponse | None = field(default=None, repr=False)

    async def __aenter__(self) -> ExportStream:
        client = self.client
        request = client._signed(
            "GET", client.store_path + "/export", b"", {"Accept": EXPORT_ACCEPT}
        )
        response: httpx.Response | DirectResponse
        if client._owns_http and goes_direct(request.url):
            response = await direct_get(request, httpclient.tls_context(), client._timeout.read)
            if response.status_code >= 400:
                try:
                    content = await response.read()
                finally:
                    await response.aclose()
                raise _error_from(response.status_code, content, response.headers)
        else:
            try:
                response = await client._http.send(request, stream=True)
            except httpx.TimeoutException as exc:
                raise BackupUnreachable(
                    f"the backup server did not answer in time ({exc})"
                ) from None
            except httpx.TransportError as exc:
                raise BackupUnreachable(f"cannot reach the backup server ({exc})") from None
            if response.status_code >= 400:
                content = await response.aread()
                await response.aclose()
                raise _error_from(response.status_code, content, response.headers)
        try:
            self.generation = int(response.headers.get(GENERATION_HEADER, "0"))
        except ValueError:
            await response.aclose()
            raise BackupServerError("malformed X-Cairn-Generation header") from None
        incarnation = response.headers.get(INCARNATION_HEADER, "")
        if incarnation and not is_valid_id16(incarnation):
            await response.aclose()
            raise BackupServerError("malformed X-Cairn-Incarnation header")
        self.incarnation = incarnation or None
        media_type = response.headers.get("Content-Type", "").partition(";")[0].strip().lower()
        self.framed = media_type == FRAMES_MEDIA_TYPE
        self._response = response
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._response is not None:
            await self._response.aclose()
            self._response = None

    async def __aiter__(self) -> AsyncIterator[StoredObject]:
        async for objects in self.batches():
            for obj in objects:
                yield obj

    async def batches(self) -> AsyncIterator[list[StoredObject]]:
        """The objects in key order, one list per network read: one await per read, not object."""
        if self._response is None:
            raise RuntimeError("use the export inside `async with`")
        response = self._response
        pieces = (
            response.pieces() if isinstance(response, DirectResponse) else response.aiter_bytes()
        )
        try:
            batches = _frame_batches(pieces) if self.framed else _line_batches(pieces)
            async for objects in batches:
                yield objects
        except httpx.TimeoutException as exc:
            raise BackupUnreachable(f"the export stalled ({exc})") from None
        except httpx.TransportError as exc:
            raise BackupUnreachable(f"the export was cut off ({exc})") from None


async def _frame_batches(pieces: AsyncIterator[bytes]) -> AsyncIterator[list[StoredObject]]:
    reader = ExportFrameReader()
    try:
        async for piece in pieces:
            objects = reader.feed(piece)
            if objects:
                yield objects
        reader.finish()
    except ExportFrameError as exc:
        # Damaged, cut short by the server or forged: never something a retry would mend.
        raise BackupCorrupt(f"the server's export is damaged: {exc}") from None


async def _line_batches(pieces: AsyncIterator[bytes]) -> AsyncIterator[list[StoredObject]]:
    # The unfinished line, in pieces: a 4 MiB object spans many reads, and joining them
    # once its newline arrives keeps that linear.
    pending: list[bytes] = []
    # Lines are split here rather than with aiter_lines: no text decoding of a stream that
    # is ASCII JSON, one split per network read instead of per chunk.
    async for block in pieces:
        if b"\n" not in block:
            pending.append(block)
            continue
        data = b"".join([*pending, block]) if pending else block
        objects, consumed = _lines(data)
        pending = [data[consumed:]] if consumed < len(data) else []
        if objects:
            yield objects
    rest = b"".join(pending)
    if rest.strip():
        yield [_decoded(parse_export_line, rest)]


# --- helpers ---------------------------------------------------------------------------------

_T = TypeVar("_T")


def _decoded(decoder: Callable[[Any], _T], data: Any) -> _T:
    """A server answer through its protocol decoder; BackupServerError if it does not fit."""
    try:
        return decoder(data)
    except ProtocolError as exc:
        raise BackupServerError(
            f"the backup server's answer does not follow the protocol: {exc}"
        ) from None


def _lines(data: bytes) -> tuple[list[StoredObject], int]:
    return _decoded(parse_export_lines, data)


def _error_from(status: int, content: bytes, headers: httpx.Headers) -> BackupError:
    try:
        data = json.loads(content)
        code = str(data.get("error", ""))
        detail = str(data.get("detail", "") or code)
        message = f"backup server answered {status}: {detail}"
    except (ValueError, AttributeError, RecursionError):
        # Not the server's JSON: a proxy in front of it, or another program. Its page (often
        # HTML) would tell the user nothing.
        phrase = httpx.codes.get_reason_phrase(status) or "error"
        data, code = {}, ""
        message = f"the backup server's address answered {status} {phrase}, not as the server does"
    if status == 409:
        try:
            return BackupConflict(message, decode_conflict(data))
        except ProtocolError:
            return BackupServerError("409 without a well-formed conflict", status=status, code=code)
    if status == 410:
        if code == "resync_required":
            return ResyncRequired(message, status=status, code=code)
        return BackupUnsupported(
            "the backup server speaks another protocol version: update Cairn or the server",
            status=status,
            code=code,
        )
    if status == 429:
        try:
            retry_after = float(headers.get("Retry-After", "1"))
        except ValueError:
            retry_after = 1.0
        return RateLimited(message, retry_after)
    if status in (401, 403):
        return BackupUnauthorized(message, status=status, code=code)
    if status == 404:
        return BackupNotFound(message, status=status, code=code)
    if status in (413, 507):
        if code == "quota_exceeded" or status == 507:
            return BackupQuotaExceeded(message, status=status, code=code)
        return BackupTooLarge(message, status=status, code=code)
    if status == 400:
        return BackupBadRequest(message, status=status, code=code)
    if status in (502, 503, 504):
        # The server (or the proxy in front of it) cannot serve now: like being offline.
        return BackupUnreachable(message, status=status, code=code)
    return BackupServerError(message, status=status, code=code)
