"""Lanes: tasks that keep a pooled PostgreSQL connection while statements queue up for them.

Acquiring a pooled connection from asyncpg and releasing it costs about as much CPU as the
statement's own protocol work (a release runs in a task of its own, behind `asyncio.shield`).
Under load, a lane that already holds a connection runs the next queued statement on it at
once; it gives the connection back to the pool as soon as the queue is empty, and after any
error (the pool replaces a broken connection). Fewer lanes than pooled connections leave the
rest to every other request.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg

_Job = tuple[str, tuple[Any, ...], "asyncio.Future[Any]"]


class Lanes:
    def __init__(self, pool: asyncpg.Pool, lanes: int) -> None:
        self._pool = pool
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._tasks = [
            asyncio.create_task(self._run(), name=f"cairn-backupd-pg-lane-{i}")
            for i in range(lanes)
        ]
        self._closed = False

    async def fetchrow(self, query: str, *args: Any) -> Any:
        """`pool.fetchrow(query, *args)`, run by the next free lane."""
        if self._closed:
            raise RuntimeError("the PostgreSQL backend is closed")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((query, args, future))
        return await future

    async def _run(self) -> None:
        while True:
            job = await self._queue.get()
            if job[2].done():  # its caller went away
                continue
            try:
                conn = await self._pool.acquire()
            except Exception as exc:  # e.g. the database is down: this caller is told
                _fail(job[2], exc)
                continue
            try:
                await self._serve(conn, job)
            finally:
                await self._pool.release(conn)

    async def _serve(self, conn: asyncpg.Connection, job: _Job) -> None:
        """Run `job`, then every job already queued, on `conn`; return at an empty queue."""
        while True:
            query, args, future = job
            if not future.done():
                try:
                    row = await conn.fetchrow(query, *args)
                except asyncio.CancelledError:  # the backend is closing
                    _fail(future, RuntimeError("the PostgreSQL backend is closed"))
                    raise
                except Exception as exc:
                    _fail(future, exc)
                    return  # released: the pool checks and replaces the connection
                if not future.done():
                    future.set_result(row)
            try:
                job = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return

    async def close(self) -> None:
        """Stop every lane (their connections go back to the pool); queued callers fail."""
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        while not self._queue.empty():
            _fail(self._queue.get_nowait()[2], RuntimeError("the PostgreSQL backend is closed"))


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
