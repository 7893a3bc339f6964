"""The asyncio loop the app runs on: qasync's, with plain Python worker threads.

qasync's default executor runs `asyncio.to_thread` work on QThreads. A QThread still alive when
the process exits makes Qt abort ("QThread: Destroyed while thread is still running", exit
134); a standard ThreadPoolExecutor does not have that problem.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import qasync
from PySide6.QtWidgets import QApplication

WORKER_THREADS = 8


def new_event_loop(app: QApplication, *, already_running: bool = False) -> qasync.QEventLoop:
    loop = qasync.QEventLoop(app, already_running=already_running)
    loop.set_default_executor(
        ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="cairn-worker")
    )
    return loop
