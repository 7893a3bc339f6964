"""Backup wire protocol v2: the export stream in its two encodings (docs/PROTOCOL.md 7.5).

NDJSON (`application/x-ndjson`) is one JSON line per object, what every server serves. The
frame encoding (`application/x-cairn-export`) is length-prefixed binary, asked for with
`Accept`: no base64 and no JSON, so a restore's reading costs a fraction of its decryption.
One encoder and one decoder for each, used by the server and the client alike.
"""

from __future__ import annotations

import re
import struct
from typing import Final

from cairn.wire.addressing import is_valid_object_key
from cairn.wire.jsonbody import ProtocolError, decode_value, encode_value_ascii, loads
from cairn.wire.messages import StoredObject, decode_object, encode_object

__all__ = [
    "FRAMES_MAGIC",
    "FRAMES_MEDIA_TYPE",
    "MAX_FRAME_VALUE",
    "ExportFrameError",
    "ExportFrameReader",
    "accepts_frames",
    "export_end_frame",
    "export_frame",
    "export_line",
    "parse_export_line",
    "parse_export_lines",
]

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
    encoded = encode_value_ascii(obj.value)
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
        value = decode_value(view[value_start:value_end])
    except ValueError:
        return None
    version = int(digits)
    if version >= 2**63:
        return None
    key = data[start + len(_LINE_HEAD) : start + _KEY_END].decode("ascii")
    raw_write = data[write_start:value_at]
    write_id = None if raw_write == b"null" else raw_write[1:-1].decode("ascii")
    return StoredObject(key, version, write_id, value)


# --- The export stream (frames) -----------------------------------------------------------
#
#   body   = FRAMES_MAGIC || frame* || end
#   frame  = 0x01 || key(32) || u64be(version) || u32be(len) || value          (no write id)
#          | 0x02 || key(32) || u64be(version) || write_id(16) || u32be(len) || value
#   end    = 0x00 || u64be(number of frames before it)            and nothing after it

FRAMES_MEDIA_TYPE: Final = "application/x-cairn-export"
FRAMES_MAGIC: Final = b"CRNX\x01"
MAX_FRAME_VALUE: Final = 16 * 1024 * 1024  # the batch limit: no object can be larger
MAX_FRAME_VERSION: Final = 2**63 - 1  # as in JSON: every version fits both encodings
_TAG_END, _TAG_OBJECT, _TAG_WRITTEN = 0, 1, 2
_OBJECT = struct.Struct(">32sQI")
_WRITTEN = struct.Struct(">32sQ16sI")
_END = struct.Struct(">Q")
# The same with the tag byte: one pack per frame head.
_OBJECT_FRAME = struct.Struct(">B32sQI")
_WRITTEN_FRAME = struct.Struct(">B32sQ16sI")


class ExportFrameError(ProtocolError):
    """A frame-encoded export that is damaged, cut short or does not follow the encoding."""


def accepts_frames(accept: str) -> bool:
    """Whether an `Accept` header (all its lines joined with commas) asks for the frame
    encoding (PROTOCOL.md 7.5, by RFC 9110 section 12.5.1): some media range names it with
    no `q` or a qvalue above 0, and none names it with `q` = 0 ("not acceptable"). A media
    range with a `q` that is not a qvalue, or with `q` twice, is invalid and ignored."""
    listed = False
    for media_range in accept.split(","):
        kind, *params = (part.strip() for part in media_range.split(";"))
        if kind.lower() != FRAMES_MEDIA_TYPE:
            continue
        weights = [
            value.strip()
            for name, _, value in (param.partition("=") for param in params)
            if name.strip().lower() == "q"
        ]
        if len(weights) > 1 or (weights and _QVALUE.fullmatch(weights[0]) is None):
            continue
        if weights and weights[0].strip("0.") == "":
            return False  # q=0: refused, whatever else the list says
        listed = True
    return listed


# RFC 9110 section 12.4.2: 0 to 1 with at most three decimals.
_QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")


def export_frame(obj: StoredObject) -> bytes:
    """One object frame: its key and write id as raw bytes, its value as it is."""
    key, version, write_id, value = obj
    # fromhex and a length check instead of a pattern each: every key and write id was
    # checked when it was written, and this runs for every object of every export.
    raw_key = bytes.fromhex(key)
    if len(key) != 64 or len(raw_key) != 32 or not (key.islower() or key.isdigit()):
        raise ValueError("an object with a malformed key cannot be framed")
    if not 0 <= version <= MAX_FRAME_VERSION or len(value) > MAX_FRAME_VALUE:
        raise ValueError("an object whose version or size is out of range cannot be framed")
    if write_id is None:
        return _OBJECT_FRAME.pack(_TAG_OBJECT, raw_key, version, len(value)) + value
    raw_write = bytes.fromhex(write_id)
    if (
        len(write_id) != 32
        or len(raw_write) != 16
        or not (write_id.islower() or write_id.isdigit())
    ):
        raise ValueError("an object with a malformed write id cannot be framed")
    return _WRITTEN_FRAME.pack(_TAG_WRITTEN, raw_key, version, raw_write, len(value)) + value


def export_end_frame(frames: int) -> bytes:
    return b"\x00" + _END.pack(frames)


class ExportFrameReader:
    """Reads a frame-encoded export as it arrives (sans I/O): bytes in, objects out.

    `feed` returns the objects that each piece completes; `finish` says whether the body ended
    exactly after its end frame. A length is checked before its value is waited for, so a
    hostile length never makes the reader buffer more than MAX_FRAME_VALUE. Every violation
    is an ExportFrameError.
    """

    __slots__ = ("_ended", "_need", "_pending", "_pending_size", "_started", "frames")

    def __init__(self) -> None:
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._need = len(FRAMES_MAGIC)  # bytes the unfinished rest needs before it can be read
        self._started = False
        self._ended = False
        self.frames = 0

    def feed(self, piece: bytes) -> list[StoredObject]:
        if self._ended:
            if piece:
                raise ExportFrameError("the export goes on after its end frame")
            return []
        if self._pending:
            # A frame spread over many reads is joined once, when it is complete: linear in
            # its size however small the reads are.
            self._pending.append(piece)
            self._pending_size += len(piece)
            if self._pending_size < self._need:
                return []
            data = b"".join(self._pending)
        else:
            data = piece
        self._pending = []
        self._pending_size = 0
        objects, offset = self._read(data)
        if offset < len(data):
            self._pending = [data[offset:]]
            self._pending_size = len(data) - offset
        return objects

    def finish(self) -> None:
        """Raise ExportFrameError unless the body ended right after its end frame."""
        if not self._ended:
            raise ExportFrameError("the export ended before its end frame: it was cut short")

    def _read(self, data: bytes) -> tuple[list[StoredObject], int]:
        objects: list[StoredObject] = []
        size = len(data)
        pos = 0
        if not self._started:
            if size < len(FRAMES_MAGIC):
                self._need = len(FRAMES_MAGIC)
                return objects, 0
            if not data.startswith(FRAMES_MAGIC):
                raise ExportFrameError("the export does not start with the frame encoding's magic")
            self._started = True
            pos = len(FRAMES_MAGIC)
        # The tuple built directly: a NamedTuple's own constructor is Python code, per object.
        append, new_object = objects.append, tuple.__new__
        unpack_object, unpack_written = _OBJECT.unpack_from, _WRITTEN.unpack_from
        object_head, written_head = 1 + _OBJECT.size, 1 + _WRITTEN.size
        while pos < size:
            tag = data[pos]
            if tag == _TAG_WRITTEN:
                if pos + written_head > size:
                    self._need = written_head
                    break
                key, version, write_id, length = unpack_written(data, pos + 1)
                start = pos + written_head
                write: str | None = write_id.hex()
            elif tag == _TAG_OBJECT:
                if pos + object_head > size:
                    self._need = object_head
                    break
                key, version, length = unpack_object(data, pos + 1)
                start = pos + object_head
                write = None
            elif tag == _TAG_END:
                if pos + 1 + _END.size > size:
                    self._need = 1 + _END.size
                    break
                (frames,) = _END.unpack_from(data, pos + 1)
                self.frames += len(objects)
                if frames != self.frames:
                    raise ExportFrameError("the export's end frame counts other frames than it has")
                if pos + 1 + _END.size != size:
                    raise ExportFrameError("the export goes on after its end frame")
                self._ended = True
                return objects, size
            else:
                raise ExportFrameError(f"the export has a frame of unknown type 0x{tag:02x}")
            if length > MAX_FRAME_VALUE:
                raise ExportFrameError("an export frame declares a value over the size limit")
            if version > MAX_FRAME_VERSION:
                raise ExportFrameError("an export frame has a version out of range")
            end = start + length
            if end > size:
                self._need = end - pos
                break
            append(new_object(StoredObject, (key.hex(), version, write, data[start:end])))
            pos = end
        else:
            self._need = 1
        self.frames += len(objects)
        return objects, pos
