"""Ctrl+Q (the platform's Quit keys) quits from the main window as from the wizard."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from cairn.session import Session
from cairn.ui.app import CairnApp
from cairn.ui.shortcuts import quit_keys

from .wizard_support import RESTORE_WORDS, data_dir_for, run, wait_for_main_window

pytestmark = pytest.mark.gui


async def existing_wallet(data_dir) -> None:
    session = await Session.open(data_dir)
    try:
        await session.create_wallet(RESTORE_WORDS.split())
    finally:
        await session.close()


def test_the_quit_keys_include_ctrl_q():
    assert "Ctrl+Q" in [keys.toString() for keys in quit_keys()]


def test_ctrl_q_in_the_main_window_closes_it(qasync_loop, qtbot, tmp_path, devnet):
    data_dir = data_dir_for(tmp_path / "data", None, devnet.url)
    run(qtbot, qasync_loop, existing_wallet(data_dir))
    app = CairnApp(data_dir)
    app.start()
    wait_for_main_window(qtbot, app, timeout=30_000)
    window = app.main_window
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    # Closing the last window is what makes the app quit (see cairn.ui.app.run).
    qtbot.waitUntil(lambda: not window.isVisible())
    run(qtbot, qasync_loop, app.shutdown())
