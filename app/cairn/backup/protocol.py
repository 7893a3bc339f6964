"""Backup wire protocol v1: addressing, request signing and JSON bodies (docs/PROTOCOL.md).

Sans-I/O and shared by the client and the server (the server's only import from the backup
package), so the two cannot drift apart. Time is passed in; nothing here reads a clock except
`sign_request` when the caller leaves `ts` out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, TypedDict
from urllib.parse import quote, urlencode

from coincurve import PrivateKey, PublicKey

# --- Constants ----------------------------------------------------------------------------

PROTOCOL_PREFIX: Final = "/v1"
SIGNATURE_DOMAIN: Final = b"cairn-backup/v1"
AUTH_SCHEME: Final = "Cairn-Sig"
MAX_SKEW: Final = 300  # seconds between the client's ts and the server's clock
NONCE_BYTES: Final = 16
GENERATION_HEADER: Final = "X-Cairn-Generation"
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
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
    "quota_exceeded": 413,
    "rate_limited": 429,
}
AuthCode = Literal["unauthorized", "stale_timestamp", "replayed", "bad_signature"]

_CURVE_ORDER: Final = 0xFFFFFFFF_FFFFFFFF_FFFFFFFF_FFFFFFFE_BAAEDCE6_AF48A03B_BFD25E8C_D0364141
_OBJECT_KEY_RE: Final = re.compile(r"[0-9a-f]{64}")
_NODE_ID_RE: Final = re.compile(r"0[23][0-9a-f]{64}")
_NONCE_RE: Final = re.compile(r"[0-9a-f]{32}")
_TS_RE: Final = re.compile(r"0|[1-9][0-9]{0,18}")
_SIG_RE: Final = re.compile(r"(?:[0-9a-f]{2}){8,72}")
_METHOD_RE: Final = re.compile(r"[A-Z]{1,16}")


# --- Validators and addressing ------------------------------------------------------------


def is_valid_object_key(key: str) -> bool:
    """64 lower-case hex characters (an HMAC-SHA256 in hex)."""
    return _OBJECT_KEY_RE.fullmatch(key) is not None


def is_valid_store_id(store_id: str) -> bool:
    return store_id in STORE_IDS


def is_valid_node_id(node_id: str) -> bool:
    """66 lower-case hex characters encoding a valid compressed secp256k1 point."""
    if _NODE_ID_RE.fullmatch(node_id) is None:
        return False
    try:
        PublicKey(bytes.fromhex(node_id))
    except ValueError:
        return False
    return True


def wire_key(key_name_key: bytes, name: str) -> str:
    """The object key the server sees for a record name: hex(HMAC-SHA256(key, name))."""
    return hmac.new(key_name_key, name.encode("utf-8"), hashlib.sha256).hexdigest()


def store_path(node_id: str, store_id: str) -> str:
    """`/v1/stores/{node_id}/{store_id}`: one namespace per node and network."""
    return f"{PROTOCOL_PREFIX}/stores/{node_id}/{quote(store_id, safe='')}"


def objects_path(node_id: str, store_id: str) -> str:
    return f"{store_path(node_id, store_id)}/objects"


def object_path(node_id: str, store_id: str, object_key: str) -> str:
    return f"{objects_path(node_id, store_id)}/{object_key}"


def export_path(node_id: str, store_id: str) -> str:
    return f"{store_path(node_id, store_id)}/export"


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
    """Strict standard base64 (padding required, no whitespace); ValueError otherwise."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError("value is not standard base64") from exc


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
        valid = PublicKey(bytes.fromhex(credentials.node_id)).verify(
            credentials.signature, digest, hasher=None
        )
    except ValueError:
        valid = False
    if not valid:
        raise AuthError("bad_signature", "signature does not match the request")
    return credentials


# --- JSON bodies --------------------------------------------------------------------------


class ProtocolError(ValueError):
    """A request or response body that does not follow the protocol (HTTP 400)."""


class PutItemJSON(TypedDict):
    key: str
    version: int
    value: str


class DeleteItemJSON(TypedDict):
    key: str
    version: int


class BatchJSON(TypedDict):
    put: list[PutItemJSON]
    delete: list[DeleteItemJSON]


class BatchResultJSON(TypedDict):
    generation: int
    versions: dict[str, int]


class ConflictJSON(TypedDict):
    error: Literal["conflict"]
    detail: str
    current: dict[str, int]


class ObjectJSON(TypedDict):
    key: str
    version: int
    value: str


class ListItemJSON(TypedDict):
    key: str
    version: int
    size: int


class ListPageJSON(TypedDict):
    items: list[ListItemJSON]
    next: str | None


class StoreInfoJSON(TypedDict):
    node_id: str
    store_id: str
    generation: int
    objects: int
    bytes: int


class ErrorJSON(TypedDict):
    error: str
    detail: str


@dataclass(frozen=True)
class PutItem:
    key: str
    version: int  # the version the client last saw; 0 = must not exist yet
    value: bytes  # a sealed envelope


@dataclass(frozen=True)
class DeleteItem:
    key: str
    version: int


@dataclass(frozen=True)
class Batch:
    puts: tuple[PutItem, ...]
    deletes: tuple[DeleteItem, ...]

    @property
    def keys(self) -> list[str]:
        return [item.key for item in self.puts] + [item.key for item in self.deletes]

    @property
    def value_bytes(self) -> int:
        return sum(len(item.value) for item in self.puts)


def batch_body(puts: Iterable[PutItem] = (), deletes: Iterable[DeleteItem] = ()) -> BatchJSON:
    """The JSON body of a PUT .../objects batch."""
    return {
        "put": [{"key": p.key, "version": p.version, "value": encode_value(p.value)} for p in puts],
        "delete": [{"key": d.key, "version": d.version} for d in deletes],
    }


def _version(value: object) -> int:
    # bool is an int in Python but not a version on the wire.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise ProtocolError("version must be an integer from 0 to 2^63-1")
    return value


def _key(value: object) -> str:
    if not isinstance(value, str) or not is_valid_object_key(value):
        raise ProtocolError("key must be 64 lower-case hex characters")
    return value


def _items(data: Mapping[str, object], name: str) -> list[dict[str, object]]:
    items = data.get(name, [])
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ProtocolError(f"{name} must be a list of objects")
    return items


def parse_batch(data: object) -> Batch:
    """A validated batch from a decoded JSON body; ProtocolError if it is malformed.

    Size limits are the server's to apply (they are configurable); this checks shape,
    key format, versions, base64 and that no key appears twice.
    """
    if not isinstance(data, dict) or not set(data) <= {"put", "delete"}:
        raise ProtocolError('body must be an object with "put" and/or "delete"')
    puts: list[PutItem] = []
    for item in _items(data, "put"):
        if set(item) != {"key", "version", "value"}:
            raise ProtocolError("a put has exactly key, version and value")
        if not isinstance(item["value"], str):
            raise ProtocolError("value must be a base64 string")
        try:
            value = decode_value(item["value"])
        except ValueError as exc:
            raise ProtocolError(str(exc)) from None
        puts.append(PutItem(_key(item["key"]), _version(item["version"]), value))
    deletes: list[DeleteItem] = []
    for item in _items(data, "delete"):
        if set(item) != {"key", "version"}:
            raise ProtocolError("a delete has exactly key and version")
        deletes.append(DeleteItem(_key(item["key"]), _version(item["version"])))
    batch = Batch(tuple(puts), tuple(deletes))
    if len(set(batch.keys)) != len(batch.keys):
        raise ProtocolError("a key may appear at most once per batch")
    return batch


def error_body(code: str, detail: str) -> ErrorJSON:
    return {"error": code, "detail": detail}
