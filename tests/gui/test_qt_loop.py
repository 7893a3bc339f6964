"""The shared qasync loop drives asyncio tasks while pytest-qt waits."""

import asyncio

import pytest


@pytest.mark.gui
def test_asyncio_task_runs_during_qtbot_wait(qasync_loop, qtbot):
    done: list[int] = []

    async def work() -> None:
        await asyncio.sleep(0.01)
        done.append(1)

    qasync_loop.create_task(work())
    qtbot.waitUntil(lambda: done == [1], timeout=2000)
