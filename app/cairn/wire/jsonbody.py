"""Backup wire protocol v2: strict JSON bodies and base64 values, and the checks every message
decoder shares (docs/PROTOCOL.md)."""

from __future__ import annotations

import binascii
import json
import re

import pybase64

from cairn.wire.addressing import is_valid_id16, is_valid_object_key

# --- Values -------------------------------------------------------------------------------
#
# pybase64 rather than the standard library's base64: a full backup's batch is a megabyte of
# base64, and the standard decoder took about 10 µs per 2 KB value (its strict check a regex
# over the text), a fifth of the server's work on such a batch; pybase64's SIMD decoder, which
# also refuses padding beyond the one the length needs, takes about 1 µs.


def encode_value(blob: bytes) -> str:
    """Standard base64 with padding, as every value travels in JSON."""
    return pybase64.b64encode_as_string(blob)


def encode_value_ascii(blob: bytes) -> bytes:
    """`encode_value`'s text as ASCII bytes, for bodies written out directly."""
    return pybase64.b64encode(blob)


def decode_value(text: str | bytes | memoryview) -> bytes:
    """Strict standard base64 (padding required and exact, no whitespace, padding bits zero);
    else ValueError.

    Every value has exactly one encoding: "/w==" is the byte 0xff, and "/x==", which differs
    only in its padding bits, is refused, as is "/w===".
    """
    try:
        blob = pybase64.b64decode(text, validate=True)
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
    tail = pybase64.b64encode(bytes(blob[-rest:]))
    end = text[-4:]
    return tail == (end.encode("ascii") if isinstance(end, str) else bytes(end))


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
    # A backslash first: one byte is found by memchr, several times faster than a pair, and
    # no body Cairn writes has one (base64, hex and plain names need no escapes).
    if b"\\" in body and b"\\u" in body and _LONE_SURROGATE.search(body) is not None:
        # json accepts "\ud800" and makes a string no UTF-8 can hold; it would fail later, as
        # a 500 or in a log line, instead of now as the malformed body it is.
        raise ProtocolError("not valid JSON: a \\u escape names half a surrogate pair")
    try:
        return _DECODER.decode(body.decode("utf-8"))
    except ProtocolError:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise ProtocolError(f"not valid JSON: {type(exc).__name__}") from None


MAX_NESTING = 64  # no body of the protocol nests deeper than a few levels
# A high surrogate escape not followed by a low one, or a low one not after a high one.
_LONE_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_COUNT_FIRST = 64 * 1024  # bytes


def _check_nesting(body: bytes) -> None:
    """Refuse a body nesting deeper than MAX_NESTING, so the parser never recurses that far.

    Only its brackets are walked (those inside strings count too, so this errs on the strict
    side), and none at all when there are too few to nest that deep. In a small body counting
    the openers tells that soonest; in a batch of megabytes, which has many, picking out the
    brackets in one pass takes less time than counting first did.
    """
    if len(body) <= _COUNT_FIRST and body.count(b"[") + body.count(b"{") <= MAX_NESTING:
        return
    brackets = body.translate(None, _NOT_BRACKETS)
    if len(brackets) <= MAX_NESTING:
        return
    depth = 0
    for byte in brackets:
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


# One decoder for every body: json.loads with hooks builds a new one (and its scanner) per call.
_DECODER = json.JSONDecoder(
    object_pairs_hook=_reject_duplicates,
    parse_constant=_no_constant,
    parse_int=_non_negative_int,
)


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
    names = data.keys()
    if names == members or (members <= names and names - members <= optional):
        return data  # the common case, without building the sets of the error below
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
