"""Helpers for the main-window GUI tests: a real session (wallet on devnet, backups on a real
cairn-backupd) with the main window open on it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from cairn.keys import generate_mnemonic
from cairn.session import Session
from cairn.ui.main.window import MainWindow

from .wizard_support import data_dir_for, run


@dataclass
class Opened:
    session: Session
    window: MainWindow
    data_dir: Path
    words: str


async def open_session(data_dir: Path, words: str) -> Session:
    """A new wallet, its first backup acknowledged, uploads running: what the wizard leaves."""
    session = await Session.open(data_dir)
    await session.create_wallet(words.split())
    await session.run_initial_backup()
    await session.start()
    return session


@contextmanager
def main_window(
    qtbot: Any, loop: asyncio.AbstractEventLoop, data_dir: Path, backup_url: str, devnet_url: str
) -> Iterator[Opened]:
    words = generate_mnemonic()
    data_dir_for(data_dir, backup_url, devnet_url)
    session = run(qtbot, loop, open_session(data_dir, words))
    window = MainWindow(session)
    qtbot.addWidget(window)
    window.show()
    try:
        yield Opened(session, window, data_dir, words)
    finally:
        try:
            window.close()  # cancels the window's tasks; let them unwind before the session closes
        except RuntimeError:
            pass  # a test closed and deleted it already
        else:
            qtbot.waitUntil(lambda: not window.tasks.busy, timeout=10_000)
        run(qtbot, loop, session.close())


def wait_synced(qtbot: Any, window: MainWindow, timeout: int = 20_000) -> None:
    """Sync now and wait until the window has re-read balance, history and address."""
    qtbot.waitUntil(lambda: not window.syncing, timeout=timeout)
    window.sync_now()
    qtbot.waitUntil(lambda: not window.syncing, timeout=timeout)


def review(qtbot: Any, send: Any, recipient: str, amount: str | None) -> None:
    """Fill in Send as a user types it and click "Review payment"; wait for the review or an error."""
    if send.review_box.isVisible():
        qtbot.mouseClick(send.edit_button, Qt.MouseButton.LeftButton)
    send.recipient.clear()
    qtbot.keyClicks(send.recipient, recipient)
    send.everything.setChecked(amount is None)
    if amount is not None:
        send.amount.clear()
        qtbot.keyClicks(send.amount, amount)
    send.show_error("")
    qtbot.mouseClick(send.review_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: send.review_box.isVisible() or send.error.isVisible(), timeout=10_000)


def screenshot(window: MainWindow, name: str) -> None:
    """Save a picture of the window when CAIRN_SCREENSHOTS names a folder."""
    folder = os.environ.get("CAIRN_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        window.grab().save(str(Path(folder) / f"{name}.png"))
