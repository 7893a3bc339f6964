"""Reading and checking a request before a handler acts on it: the body within its limit, one
header, the query's exact spelling, and a batch against the server's limits."""

from __future__ import annotations

import re

from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive, Scope

from cairn.server.config import Limits
from cairn.server.errors import ApiError
from cairn.server.schemas import MAX_VERSION
from cairn.wire.jsonbody import ProtocolError, loads
from cairn.wire.messages import Batch, parse_batch

# Every query value the protocol defines, exactly as it must be written: canonical decimal or
# 64 lower-case hex, so no value ever needs (or may use) percent-encoding.
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")
_QUERY_VALUES = {"since": _DECIMAL, "limit": _DECIMAL, "after": re.compile(r"[0-9a-f]{64}")}


# Where the server's HTTP protocol (http_protocol.py) puts the request target as received.
RAW_TARGET = "cairn.raw_target"


def target_as_sent(scope: Scope) -> str:
    """The request target exactly as sent: raw path and query, no scheme or host."""
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else str(scope["path"])
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path


def spelled_as_sent(scope: Scope) -> bool:
    """Whether `target_as_sent` is the request line's target: False for `/x?` (an empty query)
    and for a fragment, which the parsed path and query leave out. True where the raw target is
    unknown (the app run without the server's HTTP protocol, as in tests)."""
    raw = scope.get("extensions", {}).get(RAW_TARGET)
    if raw is None:
        return True
    if not raw.startswith(b"/"):  # absolute-form: scheme://authority/path?query
        rest = raw.partition(b"://")[2]
        slash = rest.find(b"/")
        raw = rest[slash:] if slash >= 0 else b"/"
    return bool(raw.decode("latin-1") == target_as_sent(scope))


async def read_body(scope: Scope, receive: Receive, limit: int, start: bytes = b"") -> bytes:
    """The whole body (after `start`, read before), refusing with 413 as soon as it is known
    to exceed `limit`."""
    declared = header(scope, b"content-length")
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "too_large", f"the request body exceeds {limit} bytes")
    chunks: list[bytes] = [start]
    total = len(start)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise ApiError(413, "too_large", f"the request body exceeds {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def read_start(receive: Receive, size: int) -> tuple[bytes, bool]:
    """The body's first `size` bytes or more (whole messages), and whether that was all of it."""
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        chunks.append(chunk)
        total += len(chunk)
        if not message.get("more_body", False) or total > size:
            return b"".join(chunks), not message.get("more_body", False)


def header(scope: Scope, name: bytes) -> str:
    """The first value of a header (its name in lower case), or ""."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def check_query(request: Request, allowed: frozenset[str] = frozenset()) -> None:
    """Refuse an escaped path, and a query with unknown or repeated parameters or escaped values.

    The framework would ignore unknown names, take the last of repeated ones and percent-decode
    values; the protocol has one spelling of every request instead (docs/PROTOCOL.md section 7).
    """
    if not spelled_as_sent(request.scope):
        raise ApiError(400, "bad_request", "a request target has no fragment and no empty query")
    if b"%" in (request.scope.get("raw_path") or b""):
        # The framework routes on the decoded path ("regtest%2Fobjects" would reach /objects);
        # no path of the protocol needs an escape, so none is taken.
        raise ApiError(400, "bad_request", "protocol paths are never percent-encoded")
    raw = request.scope.get("query_string", b"").decode("latin-1")
    if not raw:
        return
    seen: set[str] = set()
    for pair in raw.split("&"):
        name, sep, value = pair.partition("=")
        rule = _QUERY_VALUES.get(name)
        if name not in allowed or rule is None:
            raise ApiError(400, "bad_request", f"unknown query parameter {name[:16]!r}")
        if name in seen:
            raise ApiError(400, "bad_request", f"query parameter {name!r} appears twice")
        if not sep or rule.fullmatch(value) is None:
            raise ApiError(400, "bad_request", f"query parameter {name!r} is not written literally")
        seen.add(name)


def parse_and_check_batch(body: bytes, limits: Limits) -> Batch:
    try:
        batch = parse_batch(loads(body))
    except ProtocolError as exc:
        raise ApiError(400, "bad_request", f"malformed batch: {exc}") from None
    if len(batch.keys) > limits.max_batch_items:
        raise ApiError(413, "too_large", f"a batch holds at most {limits.max_batch_items} items")
    largest = max(len(item.value) for items in (batch.puts, batch.deletes) for item in items)
    if largest > limits.max_object_bytes:
        raise ApiError(413, "too_large", f"an object holds at most {limits.max_object_bytes} bytes")
    if batch.value_bytes > limits.max_batch_bytes:
        raise ApiError(413, "too_large", f"a batch holds at most {limits.max_batch_bytes} bytes")
    if batch.generation >= MAX_VERSION:
        raise ApiError(400, "bad_request", "the store's generation cannot grow any further")
    return batch
