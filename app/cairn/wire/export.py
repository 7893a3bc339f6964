"""Backup wire protocol v2: the export stream, one NDJSON line per object (docs/PROTOCOL.md)."""

from __future__ import annotations

import binascii
import re

from cairn.wire.addressing import is_valid_object_key
from cairn.wire.jsonbody import _canonical_tail, loads
from cairn.wire.messages import StoredObject, decode_object, encode_object

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
