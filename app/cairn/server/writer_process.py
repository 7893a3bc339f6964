"""The writer process of `serve --workers N` on SQLite: every worker's writes, one commit a group.

The supervisor forks it before the workers and hands it one end of a socket pair per worker
(over its control socket, as file descriptors). It is one thread: it reads whatever the
workers have sent, counts rate-limit hits, runs the writes in one transaction (sqlite_worker's
`commit_group`, on the same lock file as any other writer of the file), commits once and only
then answers, in order, on each worker's link (the message format is sqlite_writes.py's). While
it commits, the next requests wait in the sockets: the next group.

It ignores SIGINT and SIGTERM: a stop reaches the workers, which finish their requests (and
their writes) first; then the supervisor closes the control socket and the writer ends once
every worker's link has closed. If it dies, the workers answer 503 until the supervisor has
started another and replaced them.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import pickle
import selectors
import signal
import socket
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cairn.server.ratelimit import FixedWindowCounter
from cairn.server.sqlite_ops import count_hit
from cairn.server.sqlite_worker import (
    MAX_GROUP,
    Checkpointer,
    Outcome,
    commit_group,
    connect_writer,
    open_writer_lock,
)
from cairn.server.sqlite_writes import Frames, frame
from cairn.server.workers import die_with

log = logging.getLogger("cairn.server")
PROCESS_NAME = b"backupd-writer"
SEND_TIMEOUT = 30.0  # a worker that stops reading its answers is cut off, not waited for


@dataclass
class _Link:
    sock: socket.socket
    frames: Frames = field(default_factory=Frames)


@dataclass
class _Call:
    link: _Link
    message: tuple[Any, ...]


class WriterProcess:
    """The supervisor's handle on the writer process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pid: int | None = None
        self._control: socket.socket | None = None

    def start(self, listening: socket.socket) -> None:
        """Fork the writer; `listening` (the workers' socket) is closed in it: a stop must not
        leave a process holding the port that accepts nobody."""
        supervisor = os.getpid()
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:
            mine.close()
            listening.close()
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            die_with(supervisor, PROCESS_NAME)
            # As in the workers (app.py): what the import left alive is out of the collector's
            # sight, so a full collection is not a pause every commit waits for.
            gc.freeze()
            code = 0
            try:
                serve_writes(self.path, theirs)
            except BaseException:
                log.exception("the database writer failed")
                code = 1
            finally:
                os._exit(code)
        theirs.close()
        self.pid, self._control = pid, mine

    def connect(self) -> socket.socket:
        """A new link to the writer, for the worker about to be forked."""
        assert self._control is not None
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            socket.send_fds(self._control, [b"L"], [theirs.fileno()])
        except OSError:
            mine.close()
            raise
        finally:
            theirs.close()
        return mine

    def forget(self) -> None:
        """Close this process's end of the control socket (the writer was reaped, or this is a
        worker forked from the supervisor)."""
        if self._control is not None:
            self._control.close()
        self.pid, self._control = None, None

    def stop(self) -> int:
        """After the workers: close the control socket, wait for the writer; its exit code."""
        pid = self.pid
        self.forget()
        if pid is None:
            return 0
        with contextlib.suppress(ChildProcessError):
            return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        return 0


def serve_writes(path: Path, control: socket.socket) -> None:
    """The writer's loop, until the control socket and every worker's link have closed."""
    conn = connect_writer(path)
    lock = open_writer_lock(path)
    checkpointer = Checkpointer(path)
    rates = FixedWindowCounter()
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ)
    links = 0
    control_open = True
    try:
        while control_open or links:
            calls: list[_Call] = []
            for key, _events in selector.select():
                if key.fileobj is control:
                    added = _accept(control, selector)
                    if added is None:  # the supervisor is done: end once the workers are
                        control_open = False
                        selector.unregister(control)
                    else:
                        links += added
                elif not _receive(key.data, calls):
                    selector.unregister(key.fileobj)
                    key.data.sock.close()
                    links -= 1
            for start in range(0, len(calls), MAX_GROUP):
                group = calls[start : start + MAX_GROUP]
                _answer(group, _run(conn, lock, rates, group))
    finally:
        checkpointer.close()
        conn.close()
        os.close(lock)


def _accept(control: socket.socket, selector: selectors.BaseSelector) -> int | None:
    """Register the links the supervisor sent (how many); None when it closed the socket."""
    message, fds, _flags, _address = socket.recv_fds(control, 16, 16)
    if not message:
        return None
    for fd in fds:
        link = socket.socket(fileno=fd)
        link.settimeout(SEND_TIMEOUT)
        selector.register(link, selectors.EVENT_READ, _Link(link))
    return len(fds)


def _receive(link: _Link, calls: list[_Call]) -> bool:
    """Read what a worker sent; False when its link has closed (or broke)."""
    try:
        while True:
            data = link.sock.recv(1 << 20)
            if not data:
                return False
            calls.extend(_Call(link, message) for message in link.frames.feed(data))
            # A large batch fills the socket many times over: read the rest of it now rather
            # than one socketful per group (each group ends in a commit).
            if not link.frames.partial:
                return True
    except (OSError, pickle.UnpicklingError):
        return False


def _run(
    conn: sqlite3.Connection, lock: int, rates: FixedWindowCounter, calls: list[_Call]
) -> list[Outcome]:
    outcomes: list[Outcome | None] = [None] * len(calls)
    jobs: list[Callable[[sqlite3.Connection], Any]] = []
    placed: list[int] = []
    for index, call in enumerate(calls):
        fn, args, hit = call.message
        if fn is None:  # forget rate-limit windows
            rates.forget_before(args[0])
            outcomes[index] = (None, None)
            continue
        try:
            count_hit(rates, hit)
        except Exception as refusal:
            outcomes[index] = (None, refusal)
            continue
        jobs.append(_job(fn, args))
        placed.append(index)
    if jobs:
        for index, outcome in zip(placed, commit_group(conn, lock, jobs), strict=True):
            outcomes[index] = outcome
    return [outcome for outcome in outcomes if outcome is not None]


def _job(fn: Callable[..., Any], args: tuple[Any, ...]) -> Callable[[sqlite3.Connection], Any]:
    return lambda conn: fn(conn, *args)


def _answer(calls: list[_Call], outcomes: list[Outcome]) -> None:
    replies: dict[int, tuple[_Link, list[bytes]]] = {}
    for call, (result, error) in zip(calls, outcomes, strict=True):
        reply = _reply(result, error)
        replies.setdefault(id(call.link), (call.link, []))[1].append(reply)
    for link, frames in replies.values():
        try:
            link.sock.sendall(b"".join(frames))
        except OSError:
            # Gone, or not reading for SEND_TIMEOUT: part of a frame may have left, so the link
            # is of no more use. Shut, it reads as closed here and there (that worker ends).
            with contextlib.suppress(OSError):
                link.sock.shutdown(socket.SHUT_RDWR)


def _reply(result: Any, error: BaseException | None) -> bytes:
    try:
        return frame((True, result) if error is None else (False, error))
    except Exception:  # an exception that does not pickle: its type and message, as an error
        return frame((False, RuntimeError(f"{type(error).__name__}: {error}")))
