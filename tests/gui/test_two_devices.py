"""Two copies of the app on one seed (offscreen): what one does appears in the other.

Each window has its own data dir and session against the same cairn-backupd and devnet, as a
desktop and a laptop would; nothing but the backup server connects them.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QRadioButton

from cairn.backup.restore import RestoreOutcome
from cairn.session import Session
from cairn.ui.main.history import LABEL
from cairn.ui.main.window import MainWindow

from .main_support import main_window, wait_synced
from .wizard_support import data_dir_for, run

pytestmark = pytest.mark.gui


async def restored_session(data_dir, words):
    session = await Session.open(data_dir)
    result = await session.restore(words.split())
    assert result.outcome is RestoreOutcome.RESTORED, result.detail
    await session.start()
    return session


@pytest.fixture
def two(qasync_loop, qtbot, tmp_path, backupd, devnet):
    with main_window(qtbot, qasync_loop, tmp_path / "desktop", backupd.url, devnet.url) as a:
        qtbot.waitUntil(lambda: a.window.receive.address != "", timeout=10_000)
        txid = devnet.faucet(a.window.receive.address, 700_000)
        devnet.mine()
        wait_synced(qtbot, a.window)
        qtbot.waitUntil(
            lambda: a.session.backup_status.current.pending_changes == 0, timeout=10_000
        )
        laptop = data_dir_for(tmp_path / "laptop", backupd.url, devnet.url)
        session_b = run(qtbot, qasync_loop, restored_session(laptop, a.words))
        window_b = MainWindow(session_b)

        window_b.show()
        try:
            wait_synced(qtbot, window_b)
            qtbot.waitUntil(lambda: window_b.history.model.row_of(txid) >= 0, timeout=20_000)
            yield a, session_b, window_b, txid
        finally:
            window_b.close()
            qtbot.waitUntil(lambda: not window_b.tasks.busy, timeout=10_000)
            run(qtbot, qasync_loop, session_b.close())


def label_in_history(qtbot, window, txid, text):
    """Type a label into the history's label cell, as a user does, and press Enter."""
    window.tabs.setCurrentWidget(window.history)
    model, table = window.history.model, window.history.table
    index = model.index(model.row_of(txid), LABEL)
    table.setCurrentIndex(index)
    table.edit(index)
    assert table.state() == QAbstractItemView.State.EditingState
    editor = table.focusWidget()
    editor.selectAll()
    qtbot.keyClicks(editor, text)
    qtbot.keyClick(editor, Qt.Key.Key_Return)


def shown_label(window, txid):
    model = window.history.model
    row = model.row_of(txid)
    return model.index(row, LABEL).data() if row >= 0 else None


def test_a_label_set_on_one_device_appears_on_the_other(two, qtbot):
    a, _session_b, window_b, txid = two
    label_in_history(qtbot, a.window, txid, "rent, November")
    qtbot.waitUntil(lambda: a.session.wallet.label("tx", txid) == "rent, November", timeout=5000)
    # No restart, no button: the laptop's next pull brings it within a sync interval.
    qtbot.waitUntil(lambda: shown_label(window_b, txid) == "rent, November", timeout=15_000)

    # And back the other way.
    label_in_history(qtbot, window_b, txid, "rent, Nov. (paid)")
    qtbot.waitUntil(lambda: shown_label(a.window, txid) == "rent, Nov. (paid)", timeout=15_000)


def test_concurrent_edits_are_shown_with_both_values_and_the_user_chooses(two, qtbot, qasync_loop):
    a, session_b, window_b, txid = two
    # Both devices edit before either has seen the other's edit: stop B's pulls meanwhile.
    run(qtbot, qasync_loop, session_b._require_service().uploader.stop())
    label_in_history(qtbot, a.window, txid, "from the desktop")
    qtbot.waitUntil(lambda: a.session.backup_status.current.pending_changes == 0, timeout=10_000)
    label_in_history(qtbot, window_b, txid, "from the laptop")
    session_b._require_service().uploader.start()

    for window in (a.window, window_b):
        qtbot.waitUntil(lambda w=window: w.backup_actions.review.isVisible(), timeout=15_000)
    actions = a.window.backup_actions
    assert actions.review.text() == "Review 1 conflict"
    qtbot.mouseClick(actions.review, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: actions.dialog is not None and actions.dialog.isVisible(), timeout=5000)
    dialog = actions.dialog
    choices = dialog.findChildren(QRadioButton)
    texts = [c.text() for c in choices]
    assert any("from the desktop" in t for t in texts) and any(
        "from the laptop" in t for t in texts
    )
    assert all("device " in t for t in texts)
    keep = next(c for c in choices if "from the desktop" in c.text())
    qtbot.mouseClick(keep, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.keep_button, Qt.MouseButton.LeftButton)

    for window in (a.window, window_b):
        qtbot.waitUntil(lambda w=window: shown_label(w, txid) == "from the desktop", timeout=15_000)
        qtbot.waitUntil(lambda w=window: not w.backup_actions.review.isVisible(), timeout=15_000)
