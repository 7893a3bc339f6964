"""What crosses the link between a worker and the writer process: frames, and refusals intact."""

from __future__ import annotations

import pickle

import pytest

from cairn.server.backend import (
    BackendError,
    Conflict,
    QuotaExceeded,
    RateLimited,
    Replayed,
    ResyncRequired,
)
from cairn.server.sqlite_writes import Frames, frame
from cairn.wire.messages import Conflict as ConflictInfo
from cairn.wire.messages import StoreState

STATE = StoreState(7, "ab" * 16)
REFUSALS: list[BackendError] = [
    Replayed("this request was seen before"),
    RateLimited(42),
    Conflict(ConflictInfo(STATE, {"a" * 64: 3}, {"a" * 64: None}), "the store moved on"),
    ResyncRequired(STATE, 5),
    QuotaExceeded(5000, 4096),
]


@pytest.mark.parametrize("refusal", REFUSALS, ids=lambda r: type(r).__name__)
def test_a_refusal_arrives_as_it_was_made(refusal: BackendError) -> None:
    ((ok, arrived),) = Frames().feed(frame((False, refusal)))
    assert ok is False
    assert type(arrived) is type(refusal) and str(arrived) == str(refusal)
    assert vars(arrived) == vars(refusal)


def test_frames_are_found_however_the_stream_is_cut() -> None:
    messages = [("put", bytes(range(256)) * 40), None, (True, {"k": 1}), ""]
    stream = b"".join(frame(m) for m in messages)
    for piece in (1, 3, 7, 1000, len(stream)):
        frames = Frames()
        got = []
        for start in range(0, len(stream), piece):
            got += frames.feed(stream[start : start + piece])
        assert got == messages


def test_a_frame_is_a_length_and_a_pickle() -> None:
    data = frame({"a": 1})
    assert int.from_bytes(data[:4], "big") == len(data) - 4
    assert pickle.loads(data[4:]) == {"a": 1}
