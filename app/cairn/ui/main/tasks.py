"""Running coroutines from Qt slots without losing them or their errors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def _loop() -> asyncio.AbstractEventLoop:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        # A Qt slot runs outside any coroutine; qasync installed its loop as the policy's loop.
        return asyncio.get_event_loop_policy().get_event_loop()


class TaskGroup:
    """Owns the tasks a panel starts: keeps them referenced, reports failures, cancels on close."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._lasting: set[asyncio.Task[Any]] = set()

    def start(
        self,
        coro: Coroutine[Any, Any, T],
        *,
        on_error: Callable[[BaseException], None] | None = None,
        lasting: bool = False,
    ) -> asyncio.Task[T]:
        """Run `coro`; `lasting` for one that runs as long as the window (not "busy")."""
        task = _loop().create_task(coro)
        self._tasks.add(task)
        if lasting:
            self._lasting.add(task)

        def finished(done: asyncio.Task[T]) -> None:
            self._tasks.discard(done)
            self._lasting.discard(done)
            if done.cancelled():
                return
            error = done.exception()
            if error is None:
                return
            if on_error is not None:
                on_error(error)
            else:
                log.error("background task failed: %s", type(error).__name__, exc_info=error)

        task.add_done_callback(finished)
        return task

    @property
    def busy(self) -> bool:
        """Whether work that ends is still running (a lasting task, such as the chain
        watcher, does not count)."""
        return any(not t.done() for t in self._tasks - self._lasting)

    def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def aclose(self) -> None:
        """Cancel every task and wait until each has finished: nothing is left pending."""
        self.cancel_all()
        running = list(self._tasks)
        if running:
            await asyncio.gather(*running, return_exceptions=True)
