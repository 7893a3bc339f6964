"""The guard against PySide6's signal reference leak keeps long sessions alive."""

from __future__ import annotations

import asyncio
import sys

import pytest
from PySide6.QtCore import QObject, Signal

from cairn.ui.qtfix import guard_bool_refcounts

pytestmark = pytest.mark.gui


class Emitter(QObject):
    fired = Signal()


def test_many_signals_and_worker_results_do_not_exhaust_true_or_none(qasync_loop, qtbot):
    guard_bool_refcounts()
    emitter = Emitter()
    emitter.fired.connect(lambda: None)
    before = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(20_000):
        emitter.fired.emit()
    # Far more worker round trips than True or None had references before the guard.
    done: list[int] = []

    async def work() -> None:
        for _ in range(3_000):
            await asyncio.to_thread(lambda: None)
        done.append(1)

    qasync_loop.create_task(work())
    qtbot.waitUntil(lambda: done == [1], timeout=60_000)
    assert sys.getrefcount(True) > 1_000 and sys.getrefcount(None) > 1_000
    assert before[0] > 1_000
