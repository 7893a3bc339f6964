"""`cairn-backupd serve --workers N`: one listening socket, N server processes sharing it.

The event loop of one process uses one core; the kernel spreads the connections accepted on a
shared socket over every process waiting on it. The parent binds the socket, brings the schema
up to date once (so workers never race a migration), forks the workers before it starts any
thread, and then only supervises: a worker that dies is replaced, and SIGTERM or SIGINT makes
it send SIGTERM to every worker, each of which finishes its requests in flight and exits. Never
SIGINT: a Ctrl-C in a terminal reaches the workers too, and uvicorn takes a second SIGINT as
"force quit", which would drop the requests in flight; a second Ctrl-C still forces them.

uvicorn's own `--workers` supervisor would re-import the app in spawned processes from an
import string and environment variables; forking keeps the settings the command line parsed.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from types import FrameType
from typing import Protocol

log = logging.getLogger("cairn.server")
PR_SET_PDEATHSIG = 1  # linux/prctl.h
PR_SET_NAME = 15
RESPAWN_PAUSE = 1.0  # a worker that dies at once is not restarted in a tight loop


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def die_with(parent: int, name: bytes | None = None) -> None:
    """End this process (a worker, the writer) the moment its supervisor ends, however it ends.

    A worker left behind would keep serving the port with nobody to stop or replace it. A
    supervisor that was killed is a crash: its workers go at once too, which loses nothing,
    since no write is answered before it is durable. `name` is the process's name in ps.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if name is not None:
            libc.prctl(PR_SET_NAME, name[:15])
    if os.getppid() != parent:  # it ended before the line above took effect
        os._exit(1)


class Writer(Protocol):
    """A process the workers write through (writer_process.py), started before them."""

    pid: int | None

    def start(self, listening: socket.socket) -> None: ...

    def connect(self) -> socket.socket: ...

    def forget(self) -> None: ...

    def stop(self) -> int: ...


WorkerMain = Callable[[socket.socket, socket.socket | None], None]


def supervise(
    workers: int, sock: socket.socket, run_worker: WorkerMain, writer: Writer | None = None
) -> int:
    """Run `run_worker(sock, link)` in `workers` forked processes until told to stop; the exit
    code. With a `writer`, it is started first and each worker gets a link of its own to it; a
    writer that dies is replaced, and every worker after it (their links went with it)."""
    stopping = False
    children: dict[int, int] = {}  # pid -> worker number

    parent = os.getpid()

    # Workers not started: their writer had gone (they start with its replacement), or a link or
    # a fork failed (they are tried again every RESPAWN_PAUSE while the writer runs).
    waiting: set[int] = set()
    relinking: set[int] = set()  # workers stopped to come back linked to a new writer

    def start(number: int) -> None:
        if stopping:
            return
        link = None
        try:
            if writer is not None:
                link = writer.connect()
            pid = os.fork()
        except OSError as exc:
            # The writer died and is not reaped yet (its replacement starts this one), or this
            # process is out of descriptors or processes for now (it is tried again).
            if link is not None:
                link.close()
            if number not in waiting:
                log.warning(
                    "a worker could not be started; trying again",
                    extra={"fields": {"worker": number, "error": exc.strerror or str(exc)}},
                )
            waiting.add(number)
            return
        if pid == 0:  # the worker
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            die_with(parent)
            if writer is not None:
                writer.forget()  # the supervisor's end of the writer's control socket stays there
            code = 0
            try:
                run_worker(sock, link)
            except BaseException:
                log.exception("worker failed", extra={"fields": {"worker": number}})
                code = 1
            finally:
                os._exit(code)
        if link is not None:
            link.close()
        children[pid] = number
        if stopping:  # the stop came while it was forked: it must hear of it too
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def replace_writer() -> None:
        assert writer is not None
        writer.forget()
        if stopping:
            return
        time.sleep(RESPAWN_PAUSE)
        if stopping:
            return
        writer.start(sock)
        for pid in list(children):  # each comes back with a link to the new writer, at once
            relinking.add(pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for number in sorted(waiting):
            waiting.discard(number)
            start(number)

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if writer is not None:
        writer.start(sock)
    for number in range(workers):
        start(number)
    log.info("workers started", extra={"fields": {"workers": workers}})
    failed = False
    while children or (waiting and not stopping):
        try:
            if waiting and not stopping:
                pid, status = os.waitpid(-1, os.WNOHANG)
                if pid == 0:  # nothing to reap, so the writer runs: the waiting ones try again
                    time.sleep(RESPAWN_PAUSE)
                    for number in sorted(waiting):
                        waiting.discard(number)
                        start(number)
                    continue
            else:
                pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if writer is not None and pid == writer.pid:
            log.error(
                "the database writer exited; starting another, and new workers",
                extra={"fields": {"code": os.waitstatus_to_exitcode(status)}},
            )
            replace_writer()
            continue
        if pid not in children:
            continue
        number = children.pop(pid)
        code = os.waitstatus_to_exitcode(status)
        if pid in relinking:
            relinking.discard(pid)
            start(number)
        elif not stopping:
            log.error(
                "worker exited; starting another",
                extra={"fields": {"worker": number, "code": code}},
            )
            time.sleep(RESPAWN_PAUSE)
            if not stopping:
                start(number)
        elif code not in (0, -signal.SIGTERM, -signal.SIGINT):
            failed = True
    sock.close()
    if writer is not None and writer.stop() != 0:
        failed = True
    return 1 if failed else 0
