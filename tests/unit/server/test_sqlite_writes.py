"""What crosses the link between a worker and the writer process: frames, and refusals intact."""

from __future__ import annotations

import asyncio
import pickle
import socket
import threading
from pathlib import Path

import pytest

from cairn.server import sqlite_ops
from cairn.server.backend import (
    BackendError,
    Conflict,
    QuotaExceeded,
    RateLimited,
    Replayed,
    ResyncRequired,
    StoreRef,
)
from cairn.server.sqlite_schema import migrate_file
from cairn.server.sqlite_writes import Frames, RemoteWrites, frame
from cairn.server.writer_process import serve_writes
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


def _writer_thread(path: Path) -> tuple[socket.socket, socket.socket, threading.Thread]:
    """The writer's loop (as in the writer process) on a thread; a link to it, and its control."""
    migrate_file(path)
    control, control_end = socket.socketpair()
    link, link_end = socket.socketpair()
    thread = threading.Thread(target=serve_writes, args=(path, control_end), daemon=True)
    thread.start()
    socket.send_fds(control, [b"L"], [link_end.fileno()])
    link_end.close()
    return control, link, thread


@pytest.mark.asyncio
async def test_a_write_that_does_not_pickle_leaves_the_answers_in_order(tmp_path: Path) -> None:
    control, link, thread = _writer_thread(tmp_path / "w.sqlite")
    writes = await RemoteWrites.connect(link)
    try:
        with pytest.raises((pickle.PicklingError, AttributeError)):
            await writes.run(lambda conn: None)  # only module-level functions cross over
        store = StoreRef("02" + "ab" * 32, "regtest")
        assert await asyncio.wait_for(writes.run(sqlite_ops.erase_store, store), 10) is False
        assert writes.pending == 0
    finally:
        await writes.close()
        control.close()
        await asyncio.to_thread(thread.join, 10)
    assert not thread.is_alive()  # the writer ends once its control and its links are closed


@pytest.mark.asyncio
async def test_a_link_that_ends_under_the_worker_is_reported_once(tmp_path: Path) -> None:
    lost: list[str] = []
    link, other = socket.socketpair()
    writes = await RemoteWrites.connect(link, lambda: lost.append("lost"))
    pending = asyncio.ensure_future(writes.run(sqlite_ops.purge_nonces, 0))
    await asyncio.sleep(0)
    other.close()  # the writer's end goes
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(pending, 10)
    with pytest.raises(ConnectionError):
        await writes.run(sqlite_ops.purge_nonces, 0)
    assert lost == ["lost"]
    # Closing its own end is not a loss.
    mine, theirs = socket.socketpair()
    quiet = await RemoteWrites.connect(mine, lambda: lost.append("again"))
    await quiet.close()
    await asyncio.sleep(0.05)
    theirs.close()
    assert lost == ["lost"]
