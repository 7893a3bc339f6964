"""Qt test set-up: one qasync loop for the whole session, driven by pytest-qt's waits.

qtbot.waitUntil / waitSignal / wait spin the Qt event loop, and with this loop installed as the
asyncio loop they drive asyncio tasks too. Never stop() or close() this loop in a test: it calls
QApplication.exit() and every later wait returns at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pytest
import qasync
from PySide6.QtCore import QLocale
from PySide6.QtWidgets import QApplication

from cairn.ui.loop import new_event_loop


@pytest.fixture(scope="session", autouse=True)
def _english_numbers(qapp: QApplication) -> None:
    # Amounts read and show by the locale: tests compare them with "." decimals and ","
    # groups, whatever the machine's locale is. Tests of other locales pass theirs in.
    QLocale.setDefault(QLocale(QLocale.Language.English, QLocale.Country.UnitedStates))


@pytest.fixture(scope="session")
def qasync_loop(qapp: QApplication) -> Iterator[qasync.QEventLoop]:
    # The app's loop, with plain worker threads (QThreads alive at exit abort the process).
    # A loop left behind by earlier non-GUI tests is closed first, or it leaks its sockets.
    with contextlib.suppress(RuntimeError):
        old = asyncio.get_event_loop_policy().get_event_loop()
        if not old.is_running() and not old.is_closed():
            old.close()
    loop = new_event_loop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    yield loop


@pytest.fixture(autouse=True)
def _cancel_leftover_tasks(qasync_loop: qasync.QEventLoop, qtbot) -> Iterator[None]:
    # The qasync loop is the running loop only while a GUI test runs: pytest-asyncio tests
    # later in the same run must be able to start their own loops.
    asyncio.events._set_running_loop(qasync_loop)
    asyncio.set_event_loop(qasync_loop)
    yield
    for task in asyncio.all_tasks(qasync_loop):
        if not task.done():
            task.cancel()
    qtbot.wait(10)
    asyncio.events._set_running_loop(None)
    asyncio.set_event_loop(None)
