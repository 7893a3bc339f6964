"""The export's frame encoding (docs/PROTOCOL.md 7.5): round trips, and hostile bodies refused."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.wire.export import (
    FRAMES_MAGIC,
    MAX_FRAME_VALUE,
    ExportFrameError,
    ExportFrameReader,
    accepts_frames,
    export_end_frame,
    export_frame,
)
from cairn.wire.messages import StoredObject

objects = st.lists(
    st.builds(
        StoredObject,
        st.binary(min_size=32, max_size=32).map(bytes.hex),
        st.integers(0, 2**63 - 1),
        st.none() | st.binary(min_size=16, max_size=16).map(bytes.hex),
        st.binary(max_size=300),
    ),
    max_size=12,
)


def body_of(objs: list[StoredObject]) -> bytes:
    return FRAMES_MAGIC + b"".join(export_frame(o) for o in objs) + export_end_frame(len(objs))


def read_all(body: bytes, cuts: tuple[int, ...] | list[int] = ()) -> list[StoredObject]:
    reader = ExportFrameReader()
    got: list[StoredObject] = []
    start = 0
    for cut in sorted(c % (len(body) + 1) for c in cuts):
        got += reader.feed(body[start:cut])
        start = cut
    got += reader.feed(body[start:])
    reader.finish()
    return got


@settings(max_examples=200, deadline=None)
@given(objs=objects, cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_frames_round_trip_however_the_body_is_cut_into_reads(
    objs: list[StoredObject], cuts: list[int]
) -> None:
    assert read_all(body_of(objs), cuts) == objs


def test_one_byte_reads_give_the_same_objects() -> None:
    objs = [
        StoredObject("ab" * 32, 7, "cd" * 16, b"sealed" * 50),
        StoredObject("ac" * 32, 1, None, b""),
    ]
    body = body_of(objs)
    assert read_all(body, list(range(len(body)))) == objs


def test_the_layout_is_the_documented_one() -> None:
    obj = StoredObject("01" * 32, 258, "ff" * 16, b"xyz")
    assert export_frame(obj) == (
        b"\x02" + bytes([1]) * 32 + struct.pack(">Q", 258) + b"\xff" * 16 + b"\x00\x00\x00\x03xyz"
    )
    legacy = StoredObject("01" * 32, 3, None, b"")
    assert export_frame(legacy) == b"\x01" + bytes([1]) * 32 + struct.pack(">QI", 3, 0)
    assert export_end_frame(2) == b"\x00" + struct.pack(">Q", 2)
    assert FRAMES_MAGIC == b"CRNX\x01"


def frame_header(length: int, version: int = 1) -> bytes:
    return b"\x01" + b"\xaa" * 32 + struct.pack(">QI", version, length)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"CRNX\x02" + export_end_frame(0), "magic"),
        (b'{"key":"' + b"a" * 64, "magic"),
        (FRAMES_MAGIC + b"\x03" + b"\x00" * 60, "unknown type"),
        (FRAMES_MAGIC + frame_header(MAX_FRAME_VALUE + 1), "size limit"),
        (FRAMES_MAGIC + frame_header(0, version=2**63), "version"),
        (FRAMES_MAGIC + export_end_frame(1), "counts"),
        (body_of([]) + b"\x00", "after its end frame"),
    ],
)
def test_a_malformed_body_is_refused(body: bytes, message: str) -> None:
    with pytest.raises(ExportFrameError, match=message):
        read_all(body)


def test_an_oversized_length_is_refused_before_its_value_is_waited_for() -> None:
    reader = ExportFrameReader()
    with pytest.raises(ExportFrameError, match="size limit"):
        reader.feed(FRAMES_MAGIC + frame_header(2**32 - 1))


@pytest.mark.parametrize("cut", [0, 3, 5, 6, 40, 49, 60, -9, -1])
def test_a_body_cut_short_anywhere_is_refused(cut: int) -> None:
    body = body_of([StoredObject("ab" * 32, 1, "cd" * 16, b"v" * 20)])
    reader = ExportFrameReader()
    reader.feed(body[:cut])
    with pytest.raises(ExportFrameError, match="cut short"):
        reader.finish()


def test_bytes_after_the_end_frame_in_a_later_read_are_refused() -> None:
    reader = ExportFrameReader()
    assert reader.feed(body_of([])) == []
    reader.finish()
    with pytest.raises(ExportFrameError, match="after its end frame"):
        reader.feed(b"\x01")


@settings(max_examples=300, deadline=None)
@given(garbage=st.binary(max_size=200), magic=st.booleans())
def test_garbage_is_only_ever_refused_as_a_damaged_export(garbage: bytes, magic: bool) -> None:
    reader = ExportFrameReader()
    try:
        reader.feed((FRAMES_MAGIC if magic else b"") + garbage)
        reader.finish()
    except ExportFrameError:
        return


@pytest.mark.parametrize(
    ("accept", "frames"),
    [
        ("application/x-cairn-export", True),
        ("application/x-cairn-export, application/x-ndjson;q=0.5", True),
        ("application/x-ndjson, Application/X-Cairn-Export ; q=0.9", True),
        ("application/x-cairn-export;q=0", False),
        ("application/x-cairn-export;q=0.0, application/x-ndjson", False),
        ("application/x-ndjson", False),
        ("*/*", False),
        ("", False),
        # q=0 is "not acceptable" and no other mention overrides it (RFC 9110 12.5.1).
        ("application/x-cairn-export, application/x-cairn-export;q=0", False),
        # A repeated q, or one that is not a qvalue, makes the media range invalid: ignored.
        ("application/x-cairn-export;q=1;q=0", False),
        ("application/x-cairn-export;q=0;q=1, application/x-cairn-export", True),
        ("application/x-cairn-export;q=2, application/x-cairn-export;q=0.3", True),
    ],
)
def test_frames_are_served_only_to_a_client_that_asks_for_them(accept: str, frames: bool) -> None:
    assert accepts_frames(accept) is frames


@pytest.mark.parametrize(
    "obj",
    [
        StoredObject("AB" * 32, 1, None, b""),
        StoredObject("ab" * 31, 1, None, b""),
        StoredObject("ab " * 32, 1, None, b""),
        StoredObject("ab" * 32, -1, None, b""),
        StoredObject("ab" * 32, 2**63, None, b""),
        StoredObject("ab" * 32, 1, "CD" * 16, b""),
        StoredObject("ab" * 32, 1, "cd" * 15, b""),
    ],
)
def test_a_malformed_object_is_never_framed(obj: StoredObject) -> None:
    with pytest.raises(ValueError):
        export_frame(obj)
