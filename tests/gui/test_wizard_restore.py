"""Restore path: the words (typed, pasted, wrong), then history, labels and email come back from
a real cairn-backupd; an unreachable server is an error with Retry, never an empty wallet."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QKeySequence

from cairn.onboarding import View
from cairn.ui.app import CairnApp
from cairn.ui.wizard.loading import LoadingPage
from cairn.ui.wizard.restore import RestoreWordsPage

from .wizard_support import (
    RESTORE_WORDS,
    cut_full_backup,
    data_dir_for,
    make_backed_up_wallet,
    run,
    wait_for_main_window,
)

pytestmark = pytest.mark.gui


def open_restore_page(qtbot, app: CairnApp) -> RestoreWordsPage:
    app.start()
    qtbot.waitUntil(lambda: app.wizard_window is not None, timeout=10_000)
    window = app.wizard_window
    qtbot.mouseClick(window.current_page.restore_button, Qt.MouseButton.LeftButton)
    page = window.current_page
    assert isinstance(page, RestoreWordsPage)
    return page


def paste_phrase(qtbot, page: RestoreWordsPage, index: int, phrase: str) -> None:
    QGuiApplication.clipboard().setText(phrase)
    field = page.fields[index]
    field.setFocus()
    qtbot.keySequence(field, QKeySequence.StandardKey.Paste)


def test_restore_brings_back_history_labels_and_email_without_asking_for_email(
    qasync_loop, qtbot, tmp_path, backupd, devnet
):
    txid, address = run(
        qtbot,
        qasync_loop,
        make_backed_up_wallet(
            data_dir_for(tmp_path / "old", backupd.url, devnet.url), RESTORE_WORDS
        ),
        timeout=60_000,
    )
    app = CairnApp(data_dir_for(tmp_path / "new", backupd.url, devnet.url))
    page = open_restore_page(qtbot, app)
    window = app.wizard_window
    # Pasting the whole phrase into any field (here the fifth) fills every field.
    paste_phrase(qtbot, page, 4, "  " + RESTORE_WORDS.upper().replace(" ", "\n") + " ")
    assert [f.text() for f in page.fields] == RESTORE_WORDS.split()
    assert page.verdict.text() == "The recovery phrase is correct."
    assert window.next_button.isEnabled()
    qtbot.mouseClick(window.next_button, Qt.MouseButton.LeftButton)

    wait_for_main_window(qtbot, app, timeout=30_000)
    assert View.EMAIL not in app.wizard.history
    assert View.EMAIL not in window.pages
    session = app.session
    assert session.email == "alice@example.com"
    history = session.wallet.history()
    assert [item.txid for item in history] == [txid]
    assert session.wallet.label("tx", txid) == "first coins"
    assert session.wallet.label("addr", address) == "savings from the faucet"
    # The next address handed out is a new one, not the one already used before the restore.
    assert run(qtbot, qasync_loop, session.wallet.next_receive_address()).address != address
    run(qtbot, qasync_loop, app.shutdown())


def test_unknown_words_and_a_bad_checksum_are_shown_before_next(
    qasync_loop, qtbot, tmp_path, devnet
):
    app = CairnApp(data_dir_for(tmp_path / "data", "https://backup.example.com", devnet.url))
    page = open_restore_page(qtbot, app)
    window = app.wizard_window
    words = RESTORE_WORDS.split()
    for field, word in zip(page.fields[:11], words[:11], strict=True):
        qtbot.keyClicks(field, word)
    # A word being typed is not flagged while it can still become a real word…
    qtbot.keyClicks(page.fields[11], "yel")
    assert not page.fields[11].property("invalid")
    # …but is as soon as it cannot.
    qtbot.keyClicks(page.fields[11], "q")
    assert page.fields[11].property("invalid")
    assert "#12" in page.verdict.text()
    assert not window.next_button.isEnabled()

    # Every word valid but the checksum wrong: said before Next, and Next stays disabled.
    page.fields[11].clear()
    qtbot.keyClicks(page.fields[11], "legal")
    page.fields[11].editingFinished.emit()  # the user leaves the field
    assert not page.fields[11].property("invalid")
    assert "not a recovery phrase" in page.verdict.text()
    assert not window.next_button.isEnabled()

    page.fields[11].clear()
    qtbot.keyClicks(page.fields[11], "yellow")
    assert page.verdict.text() == "The recovery phrase is correct."
    assert window.next_button.isEnabled()

    # Switching to 24 words keeps what was typed and waits for the rest.
    page.count_buttons[24].click()
    assert len(page.fields) == 24
    assert [f.text() for f in page.fields[:12]] == words
    assert not window.next_button.isEnabled()
    run(qtbot, qasync_loop, app.shutdown())


def test_unreachable_server_then_retry_succeeds_once_it_is_up(
    qasync_loop, qtbot, tmp_path, backupd, devnet
):
    run(
        qtbot,
        qasync_loop,
        make_backed_up_wallet(
            data_dir_for(tmp_path / "old", backupd.url, devnet.url), RESTORE_WORDS
        ),
        timeout=60_000,
    )
    backupd.stop()
    app = CairnApp(data_dir_for(tmp_path / "new", backupd.url, devnet.url))
    page = open_restore_page(qtbot, app)
    window = app.wizard_window
    paste_phrase(qtbot, page, 0, RESTORE_WORDS)
    qtbot.mouseClick(window.next_button, Qt.MouseButton.LeftButton)
    loading = window.current_page
    assert isinstance(loading, LoadingPage)
    qtbot.waitUntil(lambda: loading.problem.isVisible(), timeout=30_000)
    assert "could not be reached" in loading.problem.text()
    assert loading.retry_button.isVisible()
    assert loading.change_button.isVisible()
    assert loading.without_button.isVisible()
    assert app.main_window is None
    assert not app.session.has_wallet  # no silent empty wallet

    backupd.start()
    qtbot.mouseClick(loading.retry_button, Qt.MouseButton.LeftButton)
    wait_for_main_window(qtbot, app, timeout=30_000)
    assert app.session.email == "alice@example.com"
    run(qtbot, qasync_loop, app.shutdown())


def test_no_backup_found_is_a_choice_never_a_silent_empty_wallet(
    qasync_loop, qtbot, tmp_path, backupd, devnet
):
    app = CairnApp(data_dir_for(tmp_path / "new", backupd.url, devnet.url))
    page = open_restore_page(qtbot, app)
    window = app.wizard_window
    paste_phrase(qtbot, page, 0, RESTORE_WORDS)
    qtbot.keyClick(page.fields[11], Qt.Key.Key_Return)  # Enter on a correct phrase goes on
    loading = window.current_page
    assert isinstance(loading, LoadingPage)
    qtbot.waitUntil(lambda: loading.problem.isVisible(), timeout=30_000)
    assert "No backup was found" in loading.problem.text()
    # The restore has ended: from here only the user's choice can open a window.
    qtbot.waitUntil(lambda: not loading.running, timeout=5_000)
    assert app.wizard.view is View.LOADING
    assert app.main_window is None
    assert not app.session.has_wallet

    # Only the user's explicit choice opens a wallet without its backup.
    qtbot.mouseClick(loading.without_button, Qt.MouseButton.LeftButton)
    wait_for_main_window(qtbot, app, timeout=30_000)
    assert app.wizard.state.without_backup
    assert app.session.has_wallet
    assert app.session.seed_words() == RESTORE_WORDS.split()
    run(qtbot, qasync_loop, app.shutdown())


def test_an_incomplete_backup_is_told_and_restored_only_when_the_user_chooses(
    qasync_loop, qtbot, tmp_path, backupd_factory, devnet
):
    old, new = backupd_factory(), backupd_factory()
    old_dir = data_dir_for(tmp_path / "old", old.url, devnet.url)
    run(qtbot, qasync_loop, make_backed_up_wallet(old_dir, RESTORE_WORDS), timeout=60_000)
    # The old laptop moves to the new server and is switched off after a few records.
    run(qtbot, qasync_loop, cut_full_backup(old_dir, new, RESTORE_WORDS), timeout=60_000)
    new.start()

    app = CairnApp(data_dir_for(tmp_path / "new", new.url, devnet.url))
    page = open_restore_page(qtbot, app)
    window = app.wizard_window
    paste_phrase(qtbot, page, 0, RESTORE_WORDS)
    qtbot.mouseClick(window.next_button, Qt.MouseButton.LeftButton)
    loading = window.current_page
    assert isinstance(loading, LoadingPage)
    qtbot.waitUntil(lambda: loading.problem.isVisible(), timeout=30_000)
    assert "is not complete" in loading.problem.text()
    qtbot.waitUntil(lambda: not loading.running, timeout=5_000)
    assert loading.anyway_button.isVisible() and loading.retry_button.isVisible()
    assert app.main_window is None
    assert not app.session.has_wallet  # nothing was restored unasked

    qtbot.mouseClick(loading.anyway_button, Qt.MouseButton.LeftButton)
    wait_for_main_window(qtbot, app, timeout=30_000)
    assert app.session.has_wallet
    assert not app.wizard.state.without_backup
    run(qtbot, qasync_loop, app.shutdown())
