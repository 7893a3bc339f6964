"""Backup wire protocol v2: signing a request and verifying its signature (docs/PROTOCOL.md).

Pure: time is passed in; only signing reads the clock when the caller leaves `ts` out.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Final

from coincurve import PrivateKey

from cairn.wire.addressing import is_valid_node_id, public_key
from cairn.wire.constants import AUTH_SCHEME, MAX_SKEW, NONCE_BYTES, SIGNATURE_DOMAIN, AuthCode

_CURVE_ORDER: Final = 0xFFFFFFFF_FFFFFFFF_FFFFFFFF_FFFFFFFE_BAAEDCE6_AF48A03B_BFD25E8C_D0364141
_NONCE_RE: Final = re.compile(r"[0-9a-f]{32}")
_TS_RE: Final = re.compile(r"0|[1-9][0-9]{0,18}")
_SIG_RE: Final = re.compile(r"(?:[0-9a-f]{2}){8,72}")
_METHOD_RE: Final = re.compile(r"[A-Z]{1,16}")
# The header as sign_request writes it, parsed in one match (a server parses one per request);
# any other spelling takes the field-by-field parser, which names what is wrong. The signature's
# even length is checked apart: a repeated pair group makes the match three times slower.
_CANONICAL_HEADER: Final = re.compile(
    re.escape(AUTH_SCHEME)
    + r" node=([0-9a-f]{66}),ts=(0|[1-9][0-9]{0,18}),nonce=([0-9a-f]{32}),"
    + r"sig=([0-9a-f]{16,144})"
)


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


class RequestSigner:
    """Signs requests with one key; the key's public halves are derived once, not per request
    (deriving them cost more than the signature itself)."""

    __slots__ = ("_key", "node_id")

    def __init__(self, signing_key: bytes) -> None:
        self._key = PrivateKey(signing_key)
        self.node_id = self._key.public_key.format(compressed=True).hex()

    def sign(
        self,
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
        # coincurve signs with RFC 6979 nonces and returns the low-S DER form.
        signature = self._key.sign(request_digest(method, target, ts, nonce, body), hasher=None)
        return f"{AUTH_SCHEME} node={self.node_id},ts={ts},nonce={nonce},sig={signature.hex()}"


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
    return RequestSigner(signing_key).sign(method, target, body, ts=ts, nonce=nonce)


def parse_authorization(header: str | None) -> Credentials:
    """The fields of a `Cairn-Sig` header; AuthError("unauthorized") if it is malformed."""
    if not header:
        raise AuthError("unauthorized", "missing Authorization header")
    canonical = _CANONICAL_HEADER.fullmatch(header)
    if canonical is not None and len(canonical[4]) % 2 == 0 and is_valid_node_id(canonical[1]):
        return Credentials(
            node_id=canonical[1],
            ts=int(canonical[2]),
            nonce=canonical[3],
            signature=bytes.fromhex(canonical[4]),
        )
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
        valid = public_key(credentials.node_id).verify(credentials.signature, digest, hasher=None)
    except ValueError:
        valid = False
    if not valid:
        raise AuthError("bad_signature", "signature does not match the request")
    return credentials
