"""Who runs the SQLite backend's writes: a thread of this process, or the writer process.

A server that is one process writes on its own group-commit thread (`LocalWrites`). The
workers of `serve --workers N` send every write to one writer process instead (`RemoteWrites`,
and writer_process.py for the other end): a writer thread inside a worker waited for that
worker's busy event loop at every step of every statement, holding the database's write lock
meanwhile, and the workers' writers took turns on that lock. One writer of its own keeps the
lock for exactly as long as the work takes, and every worker's rate-limit hits count into one
counter, as docs/PROTOCOL.md requires of one deployment.

Both run the functions of sqlite_ops.py: `run(fn, *args, hit=claim)` counts the claim's
rate-limit hit first (a refusal writes nothing), then runs `fn(conn, *args)` in the next group.

The link is a Unix socket pair between processes of one server, made by the supervisor before
it forks a worker; nothing else can reach it, so its messages are pickles: a frame is a 4-byte
big-endian length and a pickle. A worker sends `(fn, args, hit)`, or `(None, (before,), None)`
to forget rate-limit windows that started before `before`; the writer answers every message,
in the order it came, with `(True, result)` or `(False, exception)`.
"""

from __future__ import annotations

import asyncio
import collections
import pickle
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cairn.server.backend import Claim
from cairn.server.ratelimit import FixedWindowCounter
from cairn.server.sqlite_ops import count_hit
from cairn.server.sqlite_worker import GroupCommitWriter

T = TypeVar("T")
_LENGTH = struct.Struct(">I")
WRITER_GONE = "the server's database writer is not running"


class Writes(Protocol):
    @property
    def pending(self) -> int: ...

    async def run(self, fn: Callable[..., T], *args: Any, hit: Claim | None = None) -> T: ...

    async def forget_rates(self, before: int) -> None: ...

    async def close(self) -> None: ...


def frame(message: object) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(body)) + body


class Frames:
    """Splits a byte stream into the messages of its frames."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def partial(self) -> bool:
        """Part of a frame has arrived, not all of it."""
        return bool(self._buffer)

    def feed(self, data: bytes) -> list[Any]:
        buffer = self._buffer
        buffer += data
        messages = []
        start = 0
        while len(buffer) - start >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(buffer, start)
            end = start + _LENGTH.size + length
            if len(buffer) < end:
                break
            # Only processes of this server hold the link (the module's comment).
            messages.append(pickle.loads(buffer[start + _LENGTH.size : end]))  # noqa: S301
            start = end
        del buffer[:start]
        return messages


class LocalWrites:
    """The writes of a server that is one process: its own writer thread and rate counter."""

    def __init__(self, path: Path) -> None:
        self._writer = GroupCommitWriter(path)
        self._rates = FixedWindowCounter()

    @property
    def pending(self) -> int:
        return self._writer.pending

    async def run(self, fn: Callable[..., T], *args: Any, hit: Claim | None = None) -> T:
        count_hit(self._rates, hit)
        result: T = await self._writer.run(lambda conn: fn(conn, *args))
        return result

    async def forget_rates(self, before: int) -> None:
        self._rates.forget_before(before)

    async def close(self) -> None:
        await asyncio.to_thread(self._writer.close)


class RemoteWrites(asyncio.Protocol):
    """A worker's end of its link to the writer process."""

    def __init__(self, on_lost: Callable[[], None] = lambda: None) -> None:
        self._transport: asyncio.Transport | None = None
        self._frames = Frames()
        self._waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._gone = False
        self._closing = False
        self._on_lost = on_lost

    @classmethod
    async def connect(
        cls, link: socket.socket, on_lost: Callable[[], None] = lambda: None
    ) -> RemoteWrites:
        """`on_lost` runs if the link ends while this end is not closing it (the worker then
        has nothing to write through, and should make way for one with a new link)."""
        loop = asyncio.get_running_loop()
        transport, writes = await loop.create_unix_connection(lambda: cls(on_lost), sock=link)
        writes._transport = transport  # uvloop may call connection_made only on the next turn
        return writes

    @property
    def pending(self) -> int:
        return len(self._waiting)

    async def run(self, fn: Callable[..., T], *args: Any, hit: Claim | None = None) -> T:
        result: T = await self._ask((fn, args, hit))
        return result

    async def forget_rates(self, before: int) -> None:
        await self._ask((None, (before,), None))

    @property
    def gone(self) -> bool:
        return self._gone

    async def close(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    async def _ask(self, message: tuple[Any, ...]) -> Any:
        if self._gone or self._transport is None:
            # An OSError: answered 503 `unavailable`, like any database that cannot be reached.
            raise ConnectionError(WRITER_GONE)
        data = frame(message)  # first: a message that does not pickle must leave no answer owed
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        self._transport.write(data)
        return await future

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        for ok, value in self._frames.feed(data):
            future = self._waiting.popleft()
            if future.done():  # its request was cancelled; the answers stay in order
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def connection_lost(self, exc: Exception | None) -> None:
        # Whatever was in flight may or may not have committed: 503, as PROTOCOL.md allows.
        self._gone = True
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(ConnectionError(WRITER_GONE))
        if not self._closing:
            self._on_lost()
