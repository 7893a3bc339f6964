"""Quitting from the main window shuts down in order and logs nothing: the window's timers and
tasks stop, the backup engine stops, the wallet saves, and only then the store closes."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest
from PySide6.QtCore import Qt, QtMsgType, qInstallMessageHandler

from cairn.ui.app import CairnApp

from .test_app import existing_wallet
from .wizard_support import data_dir_for, run, wait_for_main_window

pytestmark = pytest.mark.gui


def test_quitting_from_the_main_window_logs_no_error_and_leaves_no_task(
    qasync_loop, qtbot, tmp_path, backupd, devnet, caplog
):
    data_dir = data_dir_for(tmp_path / "data", backupd.url, devnet.url)
    run(qtbot, qasync_loop, existing_wallet(data_dir))
    qt_messages: list[str] = []

    def on_qt_message(kind, _context, message) -> None:
        if kind in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg):
            qt_messages.append(message)

    previous_handler = qInstallMessageHandler(on_qt_message)
    caplog.set_level(logging.INFO)
    app = CairnApp(data_dir)
    quit_codes: list[int] = []
    app.finished.connect(quit_codes.append)
    try:
        app.start()
        wait_for_main_window(qtbot, app, timeout=30_000)
        window = app.main_window
        if not window.syncing:
            # The first sync is over already (a quick chain server): the user asks for one.
            qtbot.waitUntil(window.refresh_button.isEnabled, timeout=10_000)
            qtbot.mouseClick(window.refresh_button, Qt.MouseButton.LeftButton)
        assert window.syncing  # a chain sync is running in a worker thread as the user quits
        tasks_before = set(asyncio.all_tasks(qasync_loop))

        window.close()  # the user closes the window
        # What Qt's lastWindowClosed does under QApplication.exec() (not running in tests).
        app.last_window_closed()
        assert quit_codes == [0]
        run(qtbot, qasync_loop, app.shutdown())
    finally:
        qInstallMessageHandler(previous_handler)

    # Nothing the window, the wallet or the backup engine started is still pending.
    pending = [t for t in tasks_before if not t.done()]
    assert pending == [], pending
    assert not window.tasks.busy
    gc.collect()  # a pending task destroyed here would log "Task was destroyed but ..."
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert errors == [], [f"{r.name}: {r.getMessage()}" for r in errors]
    # The offscreen platform's own notice about window hints is no error of ours.
    assert [m for m in qt_messages if "plugin does not support" not in m] == []
