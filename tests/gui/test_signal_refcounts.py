"""Long sessions survive: signals and worker round trips never use up True or None.

PySide6 6.12.0 took a reference away from True on every Signal.emit() (and from None on slots run
across threads), aborting the interpreter after a few thousand signals; pyproject.toml keeps
PySide6 below it. This test fails on a PySide6 with that bug.
"""

from __future__ import annotations

import asyncio
import sys

import pytest
from PySide6.QtCore import QObject, Signal

pytestmark = pytest.mark.gui


class Emitter(QObject):
    fired = Signal()


def test_signals_and_worker_round_trips_keep_true_and_none_alive(qasync_loop, qtbot):
    emitter = Emitter()
    emitter.fired.connect(lambda: None)
    before = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(500):
        emitter.fired.emit()
    done: list[int] = []

    async def work() -> None:
        for _ in range(500):
            await asyncio.to_thread(lambda: None)
        done.append(1)

    qasync_loop.create_task(work())
    qtbot.waitUntil(lambda: done == [1], timeout=60_000)
    after = sys.getrefcount(True), sys.getrefcount(None)
    assert after[0] >= before[0] - 50, "emitting signals takes references away from True"
    assert after[1] >= before[1] - 50, "worker round trips take references away from None"
