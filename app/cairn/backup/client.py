"""RemoteBackupClient: the signed HTTP client of the backup protocol v1 (docs/PROTOCOL.md).

A thin adapter over httpx: it signs every request, maps each failure to one small hierarchy of
typed errors (the caller never sees an httpx exception) and streams the export line by line, so
a restore never holds the whole backup in memory twice.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NamedTuple

import httpx

from cairn.backup.protocol import (
    GENERATION_HEADER,
    LIST_LIMIT_MAX,
    list_target,
    object_path,
    sign_request,
    store_path,
)
from cairn.keys import BackupKeys

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
    "BatchResult",
    "DeleteItem",
    "ExportStream",
    "ObjectVersion",
    "PutItem",
    "RateLimited",
    "RemoteBackupClient",
    "StoreInfo",
    "StoredObject",
]

DEFAULT_TIMEOUT = 15.0


# --- errors ----------------------------------------------------------------------------------


class BackupError(Exception):
    """Base of every error the backup client raises; `code` is the server's error code."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class BackupUnreachable(BackupError):
    """The server could not be reached or did not answer in time (offline: retry later)."""


class BackupUnauthorized(BackupError):
    """401/403: the server refused the signature, its timestamp (clock skew) or the node."""


class BackupNotFound(BackupError):
    """404: no such store (never written, deleted, or another seed) or no such object."""


class BackupConflict(BackupError):
    """409: a version did not match; `current` holds the server's version of every batch key."""

    def __init__(self, message: str, current: Mapping[str, int]) -> None:
        super().__init__(message, status=409, code="conflict")
        self.current: dict[str, int] = dict(current)


class BackupQuotaExceeded(BackupError):
    """413 quota_exceeded: the store is full on this server."""


class BackupTooLarge(BackupError):
    """413 too_large: one object or one batch is over the server's limits (a bug of ours)."""


class BackupBadRequest(BackupError):
    """400: the server did not understand a request (a bug, or an incompatible server)."""


class RateLimited(BackupError):
    """429: too many requests; retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, status=429, code="rate_limited")
        self.retry_after = retry_after


class BackupServerError(BackupError):
    """5xx or an answer that does not follow the protocol: the server's fault, retry later."""


# --- shapes ----------------------------------------------------------------------------------


class StoreInfo(NamedTuple):
    """`GET /v1/stores/{node}/{store}`."""

    generation: int
    objects: int
    bytes: int


class StoredObject(NamedTuple):
    """One object as stored: wire key, server version and sealed blob."""

    key: str
    version: int
    value: bytes


class ObjectVersion(NamedTuple):
    """One row of the paginated version listing."""

    key: str
    version: int
    size: int


class PutItem(NamedTuple):
    """Store `value` under `key`; `version` is the version last seen (0: must not exist)."""

    key: str
    version: int
    value: bytes


class DeleteItem(NamedTuple):
    """Delete `key`, which must currently be at `version`."""

    key: str
    version: int


class BatchResult(NamedTuple):
    """A batch the server applied: the store's new generation and every key's new version."""

    generation: int
    versions: dict[str, int]


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
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.store_id = store_id
        self.node_id = keys.node_id
        self._signing_key = keys.signing_key
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient(timeout=timeout)
        self._timeout = httpx.Timeout(timeout)
        self._clock = clock
        self.store_path = store_path(keys.node_id, store_id)

    async def aclose(self) -> None:
        """Close the connection pool if this client created it."""
        if self._owns_http:
            await self._http.aclose()

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
        """Generation, object count and bytes of the store; BackupNotFound if there is none."""
        data = await self._json("GET", self.store_path)
        try:
            return StoreInfo(int(data["generation"]), int(data["objects"]), int(data["bytes"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise BackupServerError(f"malformed store info: {exc}") from None

    async def put_batch(
        self, puts: Sequence[PutItem], deletes: Sequence[DeleteItem] = ()
    ) -> BatchResult:
        """Apply one atomic batch; BackupConflict (nothing applied) on any version mismatch."""
        body = {
            "put": [{"key": p.key, "version": p.version, "value": _b64(p.value)} for p in puts],
            "delete": [{"key": d.key, "version": d.version} for d in deletes],
        }
        data = await self._json("PUT", self.store_path + "/objects", body)
        try:
            versions = {str(k): int(v) for k, v in data["versions"].items()}
            return BatchResult(int(data["generation"]), versions)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BackupServerError(f"malformed batch answer: {exc}") from None

    async def get_object(self, key: str) -> StoredObject:
        """One object; BackupNotFound if the store has no such key."""
        data = await self._json("GET", object_path(self.node_id, self.store_id, key))
        return _stored_object(data)

    async def list_versions(
        self, *, page_size: int = LIST_LIMIT_MAX
    ) -> AsyncIterator[ObjectVersion]:
        """Every key and version in the store, page by page, in key order."""
        after: str | None = None
        while True:
            target = list_target(self.node_id, self.store_id, after=after, limit=page_size)
            data = await self._json("GET", target)
            try:
                items = [
                    ObjectVersion(str(i["key"]), int(i["version"]), int(i["size"]))
                    for i in data["items"]
                ]
                after = data.get("next")
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise BackupServerError(f"malformed listing: {exc}") from None
            for item in items:
                yield item
            if not after:
                return

    def export(self) -> ExportStream:
        """The whole store as a stream: `async with client.export() as stream: async for ...`."""
        return ExportStream(self)

    async def delete_store(self) -> None:
        """Erase the whole store on the server; BackupNotFound if there is none."""
        await self._json("DELETE", self.store_path)

    # -- plumbing -----------------------------------------------------------------------------

    def _signed(self, method: str, target: str, body: bytes) -> httpx.Request:
        url = httpx.URL(self.base_url + target)
        # The signature covers the request target exactly as it goes on the wire.
        sent_target = url.raw_path.decode("ascii")
        header = sign_request(self._signing_key, method, sent_target, body, ts=int(self._clock()))
        headers = {"Authorization": header}
        if body:
            headers["Content-Type"] = "application/json"
        return self._http.build_request(
            method, url, content=body, headers=headers, timeout=self._timeout
        )

    async def _json(self, method: str, target: str, payload: object = None) -> Any:
        body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        request = self._signed(method, target, body)
        try:
            response = await self._http.send(request)
        except httpx.TimeoutException as exc:
            raise BackupUnreachable(f"the backup server did not answer in time ({exc})") from None
        except httpx.TransportError as exc:
            raise BackupUnreachable(f"cannot reach the backup server ({exc})") from None
        if response.status_code >= 400:
            raise _error_from(response.status_code, response.content, response.headers)
        try:
            return response.json()
        except ValueError:
            raise BackupServerError(
                "the backup server answered something that is not JSON"
            ) from None


@dataclass
class ExportStream(AbstractAsyncContextManager["ExportStream"]):
    """An open export: `generation` from the response header, objects in key order."""

    client: RemoteBackupClient
    generation: int = 0
    _response: httpx.Response | None = field(default=None, repr=False)

    async def __aenter__(self) -> ExportStream:
        client = self.client
        request = client._signed("GET", client.store_path + "/export", b"")
        try:
            response = await client._http.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise BackupUnreachable(f"the backup server did not answer in time ({exc})") from None
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
        # The unfinished line, in pieces: a 4 MiB object spans many reads, and joining them
        # once its newline arrives keeps that linear.
        pending: list[bytes] = []
        try:
            # Lines are split here rather than with aiter_lines: no text decoding of a
            # stream that is ASCII JSON, one split per network read instead of per chunk.
            async for block in self._response.aiter_bytes():
                if b"\n" not in block:
                    pending.append(block)
                    continue
                data = b"".join([*pending, block]) if pending else block
                objects, consumed = _parse_lines(data)
                pending = [data[consumed:]] if consumed < len(data) else []
                if objects:
                    yield objects
            rest = b"".join(pending)
            if rest.strip():
                yield [_parse_line(rest)]
        except httpx.TimeoutException as exc:
            raise BackupUnreachable(f"the export stalled ({exc})") from None
        except httpx.TransportError as exc:
            raise BackupUnreachable(f"the export was cut off ({exc})") from None


# --- helpers ---------------------------------------------------------------------------------


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


# The compact line cairn-backupd writes: {"key":"<64 hex>","version":<n>,"value":"<base64>"}.
_LINE_HEAD = b'{"key":"'
_LINE_VERSION = b'","version":'
_LINE_VALUE = b',"value":"'
_LINE_TAIL = b'"}'
_KEY_END = len(_LINE_HEAD) + 64
_VERSION_START = _KEY_END + len(_LINE_VERSION)
_HEX_KEY = re.compile(rb"[0-9a-f]{64}")


def _parse_lines(data: bytes) -> tuple[list[StoredObject], int]:
    """The objects of every complete line of `data`, and the offset of the unfinished rest."""
    objects: list[StoredObject] = []
    # Lines and values are read in place: copying each one out first costs as much as the
    # parsing itself.
    view = memoryview(data)
    start = 0
    while (end := data.find(b"\n", start)) >= 0:
        obj = _parse_compact(data, view, start, end)
        if obj is None and data[start:end].strip():
            obj = _parse_json(data[start:end])
        if obj is not None:
            objects.append(obj)
        start = end + 1
    return objects, start


def _parse_line(line: bytes) -> StoredObject:
    return _parse_compact(line, memoryview(line), 0, len(line)) or _parse_json(line)


def _parse_json(line: bytes) -> StoredObject:
    try:
        data = json.loads(line)
    except ValueError:
        raise BackupServerError("the export has a line that is not JSON") from None
    return _stored_object(data)


def _parse_compact(data: bytes, view: memoryview, start: int, end: int) -> StoredObject | None:
    """The line data[start:end] if it has exactly the server's compact form, else None.

    json.loads costs as much as decrypting the object, so the server's own form is read by
    slicing. Only a line that is exactly the JSON text {"key":K,"version":N,"value":V} with K
    64 hex digits, N an integer without leading zeros and V strict base64 is read here, so this
    gives the same object json would; every other line goes through json and its checks.
    """
    if not (
        data.startswith(_LINE_HEAD, start, end)
        and data.startswith(_LINE_VERSION, start + _KEY_END, end)
        and data.endswith(_LINE_TAIL, start, end)
    ):
        return None
    value_at = data.find(_LINE_VALUE, start + _VERSION_START, end)
    value_start = value_at + len(_LINE_VALUE)
    value_end = end - len(_LINE_TAIL)
    if value_at < 0 or value_start > value_end:
        return None
    digits = data[start + _VERSION_START : value_at]
    if not digits.isdigit() or (digits[0] == 0x30 and len(digits) > 1):
        return None
    if _HEX_KEY.fullmatch(data, start + len(_LINE_HEAD), start + _KEY_END) is None:
        return None
    try:
        # Strict: the standard alphabet only, so a quote or backslash (JSON syntax) is refused.
        value = binascii.a2b_base64(view[value_start:value_end], strict_mode=True)
    except binascii.Error:
        return None
    key = data[start + len(_LINE_HEAD) : start + _KEY_END].decode("ascii")
    return StoredObject(key, int(digits), value)


def _stored_object(data: Any) -> StoredObject:
    try:
        value = binascii.a2b_base64(data["value"], strict_mode=True)
        return StoredObject(str(data["key"]), int(data["version"]), value)
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise BackupServerError(f"malformed object: {exc}") from None


def _error_from(status: int, content: bytes, headers: httpx.Headers) -> BackupError:
    try:
        data = json.loads(content)
        code = str(data.get("error", ""))
        detail = str(data.get("detail", "") or code)
    except (ValueError, AttributeError):
        data, code, detail = {}, "", content[:200].decode("utf-8", "replace")
    message = f"backup server answered {status}: {detail}"
    if status == 409:
        current = data.get("current") if isinstance(data, dict) else None
        if not isinstance(current, dict):
            return BackupServerError("409 without the current versions", status=status, code=code)
        try:
            return BackupConflict(message, {str(k): int(v) for k, v in current.items()})
        except (TypeError, ValueError):
            return BackupServerError("409 with malformed versions", status=status, code=code)
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
