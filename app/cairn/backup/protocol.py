"""Backup wire protocol v2: addressing, request signing and JSON bodies (docs/PROTOCOL.md).

Sans-I/O and shared by the client and the server (the server's only import from the backup
package), so the two cannot drift apart: every message has one encoder and one decoder here. Time is passed in; nothing here reads a clock except
`sign_request` when the caller leaves `ts` out.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, NamedTuple
from urllib.parse import quote, urlencode

from coincurve import PrivateKey, PublicKey

# --- Constants ----------------------------------------------------------------------------

PROTOCOL_VERSION: Final = 2
PROTOCOL_PREFIX: Final = "/v2"
LEGACY_PREFIXES: Final = ("/v1",)  # answered 410 upgrade_required
SIGNATURE_DOMAIN: Final = b"cairn-backup/v2"
AUTH_SCHEME: Final = "Cairn-Sig"
MAX_SKEW: Final = 300  # seconds between the client's ts and the server's clock
NONCE_BYTES: Final = 16
GENERATION_HEADER: Final = "X-Cairn-Generation"
INCARNATION_HEADER: Final = "X-Cairn-Incarnation"
WRITE_ID_BYTES: Final = 16
INCARNATION_BYTES: Final = 16
FEED_LIMIT_DEFAULT: Final = 1000
FEED_LIMIT_MAX: Final = 1000
MAX_JSON_DEPTH: Final = 4  # the deepest body of the protocol: batch → list → item → value
NDJSON_MEDIA_TYPE: Final = "application/x-ndjson"

# Default server limits (configurable on the server; clients should respect them).
MAX_OBJECT_BYTES: Final = 4 * 1024 * 1024  # one decoded value
MAX_BATCH_ITEMS: Final = 1000  # puts + deletes in one batch
MAX_BATCH_BYTES: Final = 16 * 1024 * 1024  # decoded values of one batch
STORE_QUOTA_BYTES: Final = 512 * 1024 * 1024
LIST_LIMIT_DEFAULT: Final = 1000
LIST_LIMIT_MAX: Final = 1000

STORE_IDS: Final = frozenset({"bitcoin", "testnet", "signet", "regtest"})

# Error codes of `{"error": code, "detail": text}` bodies, with their HTTP status.
ERROR_STATUS: Final[Mapping[str, int]] = {
    "bad_request": 400,
    "unauthorized": 401,
    "stale_timestamp": 401,
    "replayed": 401,
    "bad_signature": 401,
    "forbidden": 403,
    "not_allowlisted": 403,
    "invite_required": 403,
    "invite_invalid": 403,
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
    "quota_exceeded": 413,
    "method_not_allowed": 405,
    "gone": 410,
    "resync_required": 410,
    "upgrade_required": 410,
    "rate_limited": 429,
    "too_many_stores": 429,
    "internal": 500,
    "unavailable": 503,
}
AuthCode = Literal["unauthorized", "stale_timestamp", "replayed", "bad_signature"]

_CURVE_ORDER: Final = 0xFFFFFFFF_FFFFFFFF_FFFFFFFF_FFFFFFFE_BAAEDCE6_AF48A03B_BFD25E8C_D0364141
_OBJECT_KEY_RE: Final = re.compile(r"[0-9a-f]{64}")
_NODE_ID_RE: Final = re.compile(r"0[23][0-9a-f]{64}")
_NONCE_RE: Final = re.compile(r"[0-9a-f]{32}")
_ID16_RE: Final = re.compile(r"[0-9a-f]{32}")
_TS_RE: Final = re.compile(r"0|[1-9][0-9]{0,18}")
_SIG_RE: Final = re.compile(r"(?:[0-9a-f]{2}){8,72}")
_METHOD_RE: Final = re.compile(r"[A-Z]{1,16}")


# --- Validators and addressing ------------------------------------------------------------


def is_valid_object_key(key: str) -> bool:
    """64 lower-case hex characters (an HMAC-SHA256 in hex)."""
    return _OBJECT_KEY_RE.fullmatch(key) is not None


def is_valid_store_id(store_id: str) -> bool:
    return store_id in STORE_IDS


@functools.lru_cache(maxsize=4096)
def _public_key(node_id: str) -> PublicKey:
    """A node id parsed as a curve point; parsing costs more than the verification itself, and
    a server hears the same few thousand nodes again and again. ValueError if it is no point."""
    return PublicKey(bytes.fromhex(node_id))


def is_valid_node_id(node_id: str) -> bool:
    """66 lower-case hex characters encoding a valid compressed secp256k1 point."""
    if _NODE_ID_RE.fullmatch(node_id) is None:
        return False
    try:
        _public_key(node_id)
    except ValueError:
        return False
    return True


def wire_key(key_name_key: bytes, name: str) -> str:
    """The object key the server sees for a record name: hex(HMAC-SHA256(key, name))."""
    # hmac.digest is the one-shot C path: a fifth of the cost of an hmac.new object.
    return hmac.digest(key_name_key, name.encode("utf-8"), "sha256").hex()


def store_path(node_id: str, store_id: str) -> str:
    """`/v2/stores/{node_id}/{store_id}`: one namespace per node and network."""
    return f"{PROTOCOL_PREFIX}/stores/{node_id}/{quote(store_id, safe='')}"


def objects_path(node_id: str, store_id: str) -> str:
    return f"{store_path(node_id, store_id)}/objects"


def object_path(node_id: str, store_id: str, object_key: str) -> str:
    return f"{objects_path(node_id, store_id)}/{object_key}"


def export_path(node_id: str, store_id: str) -> str:
    return f"{store_path(node_id, store_id)}/export"


def changes_target(node_id: str, store_id: str, *, since: int, limit: int | None = None) -> str:
    """The request target of one page of the change feed, query included."""
    query = {"since": str(since)}
    if limit is not None:
        query["limit"] = str(limit)
    return f"{store_path(node_id, store_id)}/changes?{urlencode(query)}"


def is_valid_id16(text: str) -> bool:
    """A write id or incarnation id: 16 bytes as 32 lower-case hex characters."""
    return _ID16_RE.fullmatch(text) is not None


def new_write_id() -> str:
    return secrets.token_hex(WRITE_ID_BYTES)


def new_incarnation() -> str:
    return secrets.token_hex(INCARNATION_BYTES)


def list_target(
    node_id: str, store_id: str, *, after: str | None = None, limit: int | None = None
) -> str:
    """The request target of one page of the object listing, query included."""
    query: dict[str, str] = {}
    if after is not None:
        query["after"] = after
    if limit is not None:
        query["limit"] = str(limit)
    base = objects_path(node_id, store_id)
    return f"{base}?{urlencode(query)}" if query else base


# --- Values -------------------------------------------------------------------------------


def encode_value(blob: bytes) -> str:
    """Standard base64 with padding, as every value travels in JSON."""
    return base64.b64encode(blob).decode("ascii")


def decode_value(text: str) -> bytes:
    """Strict standard base64 (padding required, no whitespace, padding bits zero); else ValueError.

    Every value has exactly one encoding: "/w==" is the byte 0xff, and "/x==", which differs
    only in its padding bits, is refused.
    """
    try:
        blob = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError("value is not standard base64") from exc
    if not _canonical_tail(text, blob):
        raise ValueError("value is not canonical base64: its padding bits are not zero")
    return blob


def _canonical_tail(text: str | bytes | memoryview, blob: bytes | memoryview) -> bool:
    """Whether the last base64 quantum of `text` is the one `blob` encodes to (cheap: 4 chars)."""
    rest = len(blob) % 3
    if rest == 0:
        return True
    tail = base64.b64encode(bytes(blob[-rest:]))
    end = text[-4:]
    return tail == (end.encode("ascii") if isinstance(end, str) else bytes(end))


# --- Request signing ----------------------------------------------------------------------


class AuthError(Exception):
    """A request whose Authorization header does not authenticate it (HTTP 401)."""

    def __init__(self, code: AuthCode, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code: AuthCode = code
        self.detail = detail


@dataclass(frozen=True)
class Credentials:
    """The parsed fields of a `Cairn-Sig` Authorization header."""

    node_id: str
    ts: int
    nonce: str
    signature: bytes  # DER


def new_nonce() -> str:
    """16 random bytes as 32 lower-case hex characters."""
    return secrets.token_hex(NONCE_BYTES)


def request_digest(method: str, target: str, ts: int, nonce: str, body: bytes) -> bytes:
    """SHA256 of the canonical request; the 32 bytes that get signed."""
    message = b"\x00".join(
        [
            SIGNATURE_DOMAIN,
            method.encode("ascii"),
            target.encode("ascii"),
            str(ts).encode("ascii"),
            nonce.encode("ascii"),
            hashlib.sha256(body).digest(),
        ]
    )
    return hashlib.sha256(message).digest()


def sign_request(
    signing_key: bytes,
    method: str,
    target: str,
    body: bytes,
    *,
    ts: int | None = None,
    nonce: str | None = None,
) -> str:
    """The Authorization header value for one request (RFC 6979, so deterministic)."""
    if ts is None:
        ts = int(time.time())
    if nonce is None:
        nonce = new_nonce()
    if _NONCE_RE.fullmatch(nonce) is None:
        raise ValueError("nonce must be 32 lower-case hex characters")
    if ts < 0:
        raise ValueError("ts must be a non-negative unix time")
    key = PrivateKey(signing_key)
    # coincurve signs with RFC 6979 nonces and returns the low-S DER form.
    signature = key.sign(request_digest(method, target, ts, nonce, body), hasher=None)
    node_id = key.public_key.format(compressed=True).hex()
    return f"{AUTH_SCHEME} node={node_id},ts={ts},nonce={nonce},sig={signature.hex()}"


def parse_authorization(header: str | None) -> Credentials:
    """The fields of a `Cairn-Sig` header; AuthError("unauthorized") if it is malformed."""
    if not header:
        raise AuthError("unauthorized", "missing Authorization header")
    scheme, _, params = header.partition(" ")
    if scheme != AUTH_SCHEME:
        raise AuthError("unauthorized", f"Authorization scheme must be {AUTH_SCHEME}")
    fields: dict[str, str] = {}
    for part in params.split(","):
        name, sep, value = part.partition("=")
        if not sep or name in fields:
            raise AuthError("unauthorized", "malformed Authorization parameters")
        fields[name] = value
    if set(fields) != {"node", "ts", "nonce", "sig"}:
        raise AuthError("unauthorized", "Authorization needs exactly node, ts, nonce and sig")
    if not is_valid_node_id(fields["node"]):
        raise AuthError("unauthorized", "node is not a compressed secp256k1 public key in hex")
    if _TS_RE.fullmatch(fields["ts"]) is None:
        raise AuthError("unauthorized", "ts must be unix seconds in canonical decimal")
    if _NONCE_RE.fullmatch(fields["nonce"]) is None:
        raise AuthError("unauthorized", "nonce must be 32 lower-case hex characters")
    if _SIG_RE.fullmatch(fields["sig"]) is None:
        raise AuthError("unauthorized", "sig must be a DER signature in lower-case hex")
    return Credentials(
        node_id=fields["node"],
        ts=int(fields["ts"]),
        nonce=fields["nonce"],
        signature=bytes.fromhex(fields["sig"]),
    )


def _der_integer(data: bytes, offset: int) -> tuple[int, int]:
    """One strict-DER positive INTEGER at `offset`: (value, offset after it)."""
    if offset + 2 > len(data) or data[offset] != 0x02:
        raise ValueError("expected an INTEGER")
    length = data[offset + 1]
    start, end = offset + 2, offset + 2 + length
    if length == 0 or length > 33 or end > len(data):
        raise ValueError("bad INTEGER length")
    raw = data[start:end]
    if raw[0] & 0x80:
        raise ValueError("negative INTEGER")
    if length > 1 and raw[0] == 0 and not raw[1] & 0x80:
        raise ValueError("INTEGER with a superfluous leading zero")
    return int.from_bytes(raw, "big"), end


def der_signature_values(signature: bytes) -> tuple[int, int]:
    """(r, s) of a strict-DER ECDSA signature; ValueError for anything else."""
    if len(signature) < 8 or signature[0] != 0x30 or signature[1] != len(signature) - 2:
        raise ValueError("not a DER SEQUENCE of the right length")
    r, offset = _der_integer(signature, 2)
    s, offset = _der_integer(signature, offset)
    if offset != len(signature):
        raise ValueError("trailing bytes after the signature")
    if not (0 < r < _CURVE_ORDER and 0 < s < _CURVE_ORDER):
        raise ValueError("r or s out of range")
    return r, s


def verify_request(
    header: str | None,
    method: str,
    target: str,
    body: bytes,
    *,
    now: int,
    max_skew: int = MAX_SKEW,
) -> Credentials:
    """The credentials of a correctly signed, fresh request, or AuthError.

    Replay (a nonce seen before) needs state and is the server's check, code "replayed".
    Whether the node owns the store in the path is the server's check too (403).
    """
    credentials = parse_authorization(header)
    if abs(now - credentials.ts) > max_skew:
        raise AuthError("stale_timestamp", f"ts is more than {max_skew} s from the server clock")
    try:
        _, s = der_signature_values(credentials.signature)
    except ValueError as exc:
        raise AuthError("bad_signature", f"signature is not strict DER: {exc}") from None
    if s > _CURVE_ORDER // 2:
        raise AuthError("bad_signature", "signature is not in low-S form")
    if _METHOD_RE.fullmatch(method) is None or not target.isascii():
        raise AuthError("bad_signature", "method or target cannot have been signed")
    digest = request_digest(method, target, credentials.ts, credentials.nonce, body)
    try:
        valid = _public_key(credentials.node_id).verify(credentials.signature, digest, hasher=None)
    except ValueError:
        valid = False
    if not valid:
        raise AuthError("bad_signature", "signature does not match the request")
    return credentials


# --- JSON bodies --------------------------------------------------------------------------
#
# One encoder and one decoder per message, used by the client and the server alike.


class ProtocolError(ValueError):
    """A request or response body that does not follow the protocol (HTTP 400)."""


def _reject_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for name, value in pairs:
        if name in result:
            raise ProtocolError(f"duplicate member {name!r}")
        result[name] = value
    return result


def loads(body: bytes) -> object:
    """Strict JSON: UTF-8, no duplicate member names, no NaN, bounded nesting; else ProtocolError."""
    _check_nesting(body)
    try:
        return json.loads(
            body.decode("utf-8"),
            object_pairs_hook=_reject_duplicates,
            parse_constant=_no_constant,
            parse_int=_non_negative_int,
        )
    except ProtocolError:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise ProtocolError(f"not valid JSON: {type(exc).__name__}") from None


MAX_NESTING = 64  # no body of the protocol nests deeper than a few levels
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _check_nesting(body: bytes) -> None:
    """Refuse a body nesting deeper than MAX_NESTING, so the parser never recurses that far.

    A cheap upper bound first: a body with few brackets cannot nest deeply. Otherwise only
    its brackets are walked (those inside strings count too, so this errs on the strict side).
    """
    if body.count(b"[") + body.count(b"{") <= MAX_NESTING:
        return
    depth = 0
    for byte in body.translate(None, _NOT_BRACKETS):
        if byte in (0x5B, 0x7B):
            depth += 1
            if depth > MAX_NESTING:
                raise ProtocolError("JSON nests too deeply")
        else:
            depth -= 1


def _no_constant(name: str) -> object:
    raise ProtocolError(f"{name} is not a JSON number")


def _non_negative_int(text: str) -> int:
    # No number of the protocol is negative, so a sign (even "-0") is refused, and none has
    # more than 19 digits (2^63-1), so a longer one is refused before it is converted.
    if text.startswith("-"):
        raise ProtocolError("numbers in protocol bodies are never negative (not even -0)")
    if len(text) > 19:
        raise ProtocolError("number out of range")
    return int(text)


def dumps(document: object) -> bytes:
    """Compact JSON as every Cairn peer sends it."""
    return json.dumps(document, separators=(",", ":")).encode()


def _version(value: object, what: str = "version") -> int:
    # bool is an int in Python but not a version on the wire.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise ProtocolError(f"{what} must be an integer from 0 to 2^63-1")
    return value


def _key(value: object) -> str:
    if not isinstance(value, str) or not is_valid_object_key(value):
        raise ProtocolError("key must be 64 lower-case hex characters")
    return value


def _id16(value: object, what: str) -> str:
    if not isinstance(value, str) or not is_valid_id16(value):
        raise ProtocolError(f"{what} must be 32 lower-case hex characters")
    return value


def _optional_id16(value: object, what: str) -> str | None:
    return None if value is None else _id16(value, what)


def _value(value: object) -> bytes:
    if not isinstance(value, str):
        raise ProtocolError("value must be a base64 string")
    try:
        return decode_value(value)
    except ValueError as exc:
        raise ProtocolError(str(exc)) from None


def _object(
    data: object, members: set[str], what: str, optional: frozenset[str] | set[str] = frozenset()
) -> dict[str, object]:
    if not isinstance(data, dict):
        raise ProtocolError(f"{what} must be a JSON object")
    missing = members - set(data)
    unknown = set(data) - members - set(optional)
    if missing or unknown:
        allowed = ", ".join(sorted(members | set(optional)))
        raise ProtocolError(f"{what} has exactly the members {allowed}")
    return data


def _list(data: dict[str, object], name: str) -> list[object]:
    items = data.get(name, [])
    if not isinstance(items, list):
        raise ProtocolError(f"{name} must be a list")
    return items


@dataclass(frozen=True)
class PutItem:
    key: str
    version: int  # the version the client last saw; 0 = absent
    value: bytes  # a sealed envelope


@dataclass(frozen=True)
class DeleteItem:
    key: str
    version: int
    value: bytes  # a sealed tombstone payload: other devices learn which record went


@dataclass(frozen=True)
class Batch:
    """One atomic write: every item, under the store-wide precondition, or nothing."""

    incarnation: str
    generation: int  # the store generation the client has seen everything up to
    write_id: str
    puts: tuple[PutItem, ...]
    deletes: tuple[DeleteItem, ...]

    @functools.cached_property
    def keys(self) -> tuple[str, ...]:
        # Cached: a server asks for the keys of a batch several times while applying it.
        return tuple(item.key for item in self.puts) + tuple(item.key for item in self.deletes)

    @functools.cached_property
    def value_bytes(self) -> int:
        return sum(len(item.value) for item in self.puts) + sum(
            len(item.value) for item in self.deletes
        )


def encode_batch(batch: Batch) -> bytes:
    """The body of PUT {S}/objects."""
    return dumps(
        {
            "incarnation": batch.incarnation,
            "generation": batch.generation,
            "write_id": batch.write_id,
            "put": [
                {"key": p.key, "version": p.version, "value": encode_value(p.value)}
                for p in batch.puts
            ],
            "delete": [
                {"key": d.key, "version": d.version, "value": encode_value(d.value)}
                for d in batch.deletes
            ],
        }
    )


def parse_batch(data: object) -> Batch:
    """A validated batch from a decoded JSON body; ProtocolError if it is malformed.

    Size limits are the server's to apply (they are configurable); this checks shape, key
    format, versions, base64, that the batch is not empty and that no key appears twice.
    """
    body = _object(
        data, {"incarnation", "generation", "write_id"}, "a batch", optional={"put", "delete"}
    )

    def items(name: str) -> list[tuple[str, int, bytes]]:
        parsed = []
        for raw in _list(body, name):
            item = _object(raw, {"key", "version", "value"}, f"a {name} item")
            parsed.append((_key(item["key"]), _version(item["version"]), _value(item["value"])))
        return parsed

    batch = Batch(
        incarnation=_id16(body["incarnation"], "incarnation"),
        generation=_version(body["generation"], "generation"),
        write_id=_id16(body["write_id"], "write_id"),
        puts=tuple(PutItem(*item) for item in items("put")),
        deletes=tuple(DeleteItem(*item) for item in items("delete")),
    )
    if not batch.keys:
        raise ProtocolError("a batch holds at least one item")
    if len(set(batch.keys)) != len(batch.keys):
        raise ProtocolError("a key may appear at most once per batch")
    return batch


@dataclass(frozen=True)
class BatchResult:
    """A batch the server applied: the new generation, which is every item's new version."""

    generation: int
    versions: dict[str, int]


def encode_batch_result(result: BatchResult) -> bytes:
    return dumps({"generation": result.generation, "versions": result.versions})


def decode_batch_result(data: object) -> BatchResult:
    body = _object(data, {"generation", "versions"}, "a batch result")
    versions = body["versions"]
    if not isinstance(versions, dict):
        raise ProtocolError("versions must be an object")
    return BatchResult(
        _version(body["generation"], "generation"),
        {_key(k): _version(v) for k, v in versions.items()},
    )


@dataclass(frozen=True)
class StoreState:
    """Where the store stands: its generation and incarnation (None: none yet, or erased)."""

    generation: int
    incarnation: str | None
    erased: bool = False


@dataclass(frozen=True)
class Conflict:
    """A 409: the store moved on (or the incarnation differs); nothing was applied."""

    state: StoreState
    current: dict[str, int]  # every batch key: its current version, 0 if absent
    write_ids: dict[str, str | None]  # every batch key present: the write that made it


def encode_conflict(conflict: Conflict, detail: str) -> bytes:
    return dumps(
        {
            "error": "conflict",
            "detail": detail,
            "generation": conflict.state.generation,
            "incarnation": conflict.state.incarnation,
            "erased": conflict.state.erased,
            "current": conflict.current,
            "write_ids": conflict.write_ids,
        }
    )


def _state(body: dict[str, object]) -> StoreState:
    erased = body.get("erased", False)
    if not isinstance(erased, bool):
        raise ProtocolError("erased must be true or false")
    return StoreState(
        _version(body["generation"], "generation"),
        _optional_id16(body.get("incarnation"), "incarnation"),
        erased,
    )


def decode_conflict(data: object) -> Conflict:
    body = _object(
        data,
        {"error", "detail", "generation", "current"},
        "a conflict",
        optional={"incarnation", "erased", "write_ids"},
    )
    current = body["current"]
    write_ids = body.get("write_ids", {})
    if not isinstance(current, dict) or not isinstance(write_ids, dict):
        raise ProtocolError("current and write_ids must be objects")
    return Conflict(
        _state(body),
        {_key(k): _version(v) for k, v in current.items()},
        {_key(k): _optional_id16(v, "write_id") for k, v in write_ids.items()},
    )


@dataclass(frozen=True)
class FeedItem:
    """One object or tombstone changed after the feed's `since`."""

    key: str
    version: int
    deleted: bool
    write_id: str | None  # None: written by a v1 client before the server's upgrade
    value: bytes


@dataclass(frozen=True)
class FeedPage:
    state: StoreState
    compacted: int  # tombstones up to this generation may be gone
    items: tuple[FeedItem, ...]
    next: int | None  # more follow: ask again with since=next


def encode_feed_page(page: FeedPage) -> bytes:
    return dumps(
        {
            "incarnation": page.state.incarnation,
            "erased": page.state.erased,
            "generation": page.state.generation,
            "compacted": page.compacted,
            "items": [
                {
                    "key": i.key,
                    "version": i.version,
                    "deleted": i.deleted,
                    "write_id": i.write_id,
                    "value": encode_value(i.value),
                }
                for i in page.items
            ],
            "next": page.next,
        }
    )


def decode_feed_page(data: object) -> FeedPage:
    body = _object(
        data, {"incarnation", "erased", "generation", "compacted", "items", "next"}, "a feed page"
    )
    items = []
    for raw in _list(body, "items"):
        item = _object(raw, {"key", "version", "deleted", "write_id", "value"}, "a feed item")
        if not isinstance(item["deleted"], bool):
            raise ProtocolError("deleted must be true or false")
        items.append(
            FeedItem(
                _key(item["key"]),
                _version(item["version"]),
                item["deleted"],
                _optional_id16(item["write_id"], "write_id"),
                _value(item["value"]),
            )
        )
    nxt = body["next"]
    return FeedPage(
        _state(body),
        _version(body["compacted"], "compacted"),
        tuple(items),
        None if nxt is None else _version(nxt, "next"),
    )


@dataclass(frozen=True)
class StoreInfo:
    state: StoreState
    compacted: int
    objects: int  # live objects
    bytes: int  # decoded value bytes of live objects and tombstones


def encode_store_info(node_id: str, store_id: str, info: StoreInfo) -> bytes:
    return dumps(
        {
            "node_id": node_id,
            "store_id": store_id,
            "generation": info.state.generation,
            "incarnation": info.state.incarnation,
            "erased": info.state.erased,
            "compacted": info.compacted,
            "objects": info.objects,
            "bytes": info.bytes,
        }
    )


def decode_store_info(data: object) -> StoreInfo:
    body = _object(
        data,
        {
            "node_id",
            "store_id",
            "generation",
            "incarnation",
            "erased",
            "compacted",
            "objects",
            "bytes",
        },
        "store information",
    )
    return StoreInfo(
        _state(body),
        _version(body["compacted"], "compacted"),
        _version(body["objects"], "objects"),
        _version(body["bytes"], "bytes"),
    )


class StoredObject(NamedTuple):
    """One live object as stored: wire key, version, the write that made it, sealed blob."""

    key: str
    version: int
    write_id: str | None
    value: bytes


def encode_object(obj: StoredObject) -> bytes:
    return dumps(
        {
            "key": obj.key,
            "version": obj.version,
            "write_id": obj.write_id,
            "value": encode_value(obj.value),
        }
    )


def decode_object(data: object) -> StoredObject:
    body = _object(data, {"key", "version", "write_id", "value"}, "an object")
    return StoredObject(
        _key(body["key"]),
        _version(body["version"]),
        _optional_id16(body["write_id"], "write_id"),
        _value(body["value"]),
    )


@dataclass(frozen=True)
class ListItem:
    key: str
    version: int
    size: int


def encode_list_page(items: Iterable[ListItem], next_key: str | None) -> bytes:
    return dumps(
        {
            "items": [{"key": i.key, "version": i.version, "size": i.size} for i in items],
            "next": next_key,
        }
    )


def decode_list_page(data: object) -> tuple[list[ListItem], str | None]:
    body = _object(data, {"items", "next"}, "a listing")
    items = []
    for raw in _list(body, "items"):
        item = _object(raw, {"key", "version", "size"}, "a listing item")
        items.append(ListItem(_key(item["key"]), _version(item["version"]), _version(item["size"])))
    nxt = body["next"]
    return items, None if nxt is None else _key(nxt)


# --- The export stream (NDJSON) -----------------------------------------------------------

_LINE_HEAD = b'{"key":"'
_LINE_VERSION = b'","version":'
_LINE_WRITE = b',"write_id":'
_LINE_VALUE = b',"value":"'
_LINE_TAIL = b'"}'
_KEY_END = len(_LINE_HEAD) + 64
_VERSION_START = _KEY_END + len(_LINE_VERSION)
_HEX_KEY = re.compile(rb"[0-9a-f]{64}")
_WRITE_ID = re.compile(rb'"[0-9a-f]{32}"|null')


def export_line(obj: StoredObject) -> bytes:
    """One export line: exactly the compact JSON of `encode_object`, newline-terminated.

    Keys are 64 hex digits and base64 needs no escaping, so the line is formatted directly,
    at a third of json.dumps' cost.
    """
    if not is_valid_object_key(obj.key):
        return encode_object(obj) + b"\n"
    write_id = b"null" if obj.write_id is None else b'"%s"' % obj.write_id.encode("ascii")
    encoded = binascii.b2a_base64(obj.value, newline=False)
    return b'{"key":"%s","version":%d,"write_id":%s,"value":"%s"}\n' % (
        obj.key.encode("ascii"),
        obj.version,
        write_id,
        encoded,
    )


def parse_export_lines(data: bytes) -> tuple[list[StoredObject], int]:
    """The objects of every complete line of `data`, and the offset of the unfinished rest."""
    objects: list[StoredObject] = []
    # Lines and values are read in place: copying each one out first costs as much as the
    # parsing itself.
    view = memoryview(data)
    start = 0
    while (end := data.find(b"\n", start)) >= 0:
        obj = _parse_compact(data, view, start, end)
        if obj is None and data[start:end].strip():
            obj = decode_object(loads(data[start:end]))
        if obj is not None:
            objects.append(obj)
        start = end + 1
    return objects, start


def parse_export_line(line: bytes) -> StoredObject:
    return _parse_compact(line, memoryview(line), 0, len(line)) or decode_object(loads(line))


def _parse_compact(data: bytes, view: memoryview, start: int, end: int) -> StoredObject | None:
    """The line data[start:end] if it has exactly the compact form `export_line` writes.

    json.loads costs as much as decrypting the object, so that form is read by slicing; it
    gives the same object json would. Every other line goes through json and its checks.
    """
    if not (
        data.startswith(_LINE_HEAD, start, end)
        and data.startswith(_LINE_VERSION, start + _KEY_END, end)
        and data.endswith(_LINE_TAIL, start, end)
    ):
        return None
    write_at = data.find(_LINE_WRITE, start + _VERSION_START, end)
    if write_at < 0:
        return None
    write_start = write_at + len(_LINE_WRITE)
    value_at = data.find(_LINE_VALUE, write_start, end)
    value_start = value_at + len(_LINE_VALUE)
    value_end = end - len(_LINE_TAIL)
    if value_at < 0 or value_start > value_end:
        return None
    digits = data[start + _VERSION_START : write_at]
    if not digits.isdigit() or (digits[0] == 0x30 and len(digits) > 1) or len(digits) > 19:
        return None
    if _HEX_KEY.fullmatch(data, start + len(_LINE_HEAD), start + _KEY_END) is None:
        return None
    if _WRITE_ID.fullmatch(data, write_start, value_at) is None:
        return None
    try:
        # Strict: the standard alphabet only, so a quote or backslash (JSON syntax) is refused.
        value = binascii.a2b_base64(view[value_start:value_end], strict_mode=True)
    except binascii.Error:
        return None
    if not _canonical_tail(view[value_start:value_end], value):
        return None
    version = int(digits)
    if version >= 2**63:
        return None
    key = data[start + len(_LINE_HEAD) : start + _KEY_END].decode("ascii")
    raw_write = data[write_start:value_at]
    write_id = None if raw_write == b"null" else raw_write[1:-1].decode("ascii")
    return StoredObject(key, version, write_id, value)


def error_body(code: str, detail: str) -> dict[str, str]:
    return {"error": code, "detail": detail}
