"""Create path: welcome → words → confirm → disclaimer → email → loading → main window,
with the first backup acknowledged by a real cairn-backupd."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from cairn.onboarding import View
from cairn.ui.app import CairnApp
from cairn.ui.wizard.email import EmailPage
from cairn.ui.wizard.loading import LoadingPage
from cairn.ui.wizard.seed import ConfirmWordsPage, DisclaimerPage, ShowWordsPage
from cairn.ui.wizard.server import BackupServerPage
from cairn.ui.wizard.welcome import WelcomePage

from .wizard_support import (
    create_past_the_email,
    data_dir_for,
    run,
    server_store_info,
    wait_for_main_window,
)

pytestmark = pytest.mark.gui


def test_create_path_reaches_the_main_window_with_the_first_backup_on_the_server(
    qasync_loop, qtbot, tmp_path, backupd, devnet
):
    app = CairnApp(data_dir_for(tmp_path / "data", backupd.url, devnet.url))
    app.start()
    qtbot.waitUntil(lambda: app.wizard_window is not None, timeout=10_000)
    window = app.wizard_window
    wizard = app.wizard
    assert window.current_page.view is View.WELCOME
    assert not window.button_row.isVisible()  # the welcome screen has its own two buttons

    welcome = window.current_page
    assert isinstance(welcome, WelcomePage)
    qtbot.mouseClick(welcome.create_button, Qt.MouseButton.LeftButton)
    show = window.current_page
    assert isinstance(show, ShowWordsPage)
    words = show.shown_words
    assert len(words) == 12
    # The words cannot be selected or copied.
    for label in show.word_labels:
        assert label.textInteractionFlags() == Qt.TextInteractionFlag.NoTextInteraction
        assert label.contextMenuPolicy() == Qt.ContextMenuPolicy.NoContextMenu

    qtbot.mouseClick(window.next_button, Qt.MouseButton.LeftButton)
    confirm = window.current_page
    assert isinstance(confirm, ConfirmWordsPage)
    assert not window.next_button.isEnabled()
    positions = wizard.state.confirm_positions
    # A wrong word first: Next refuses and says which one.
    for field, pos in zip(confirm.fields, positions, strict=True):
        qtbot.keyClicks(field, words[pos])
    confirm.fields[-1].clear()
    qtbot.keyClicks(confirm.fields[-1], "zoo" if words[positions[-1]] != "zoo" else "abandon")
    qtbot.mouseClick(window.next_button, Qt.MouseButton.LeftButton)
    assert wizard.view is View.CONFIRM_WORDS
    assert window.error.isVisible()
    assert f"Word #{positions[-1] + 1} does not match" in window.error.text()
    # The field holding the wrong word is marked, the others are not.
    assert [bool(f.property("invalid")) for f in confirm.fields] == [False, False, True]
    confirm.fields[-1].clear()
    qtbot.keyClicks(confirm.fields[-1], words[positions[-1]])
    assert not window.error.isVisible()
    assert not any(f.property("invalid") for f in confirm.fields)
    qtbot.mouseClick(window.next_button, Qt.MouseButton.LeftButton)

    disclaimer = window.current_page
    assert isinstance(disclaimer, DisclaimerPage)
    assert not window.next_button.isEnabled()
    disclaimer.checkbox.setChecked(True)
    assert window.next_button.isEnabled()
    qtbot.mouseClick(window.next_button, Qt.MouseButton.LeftButton)

    email = window.current_page
    assert isinstance(email, EmailPage)
    assert window.skip_button.isVisible()
    qtbot.keyClicks(email.field, "alice@example")
    assert not window.next_button.isEnabled()
    qtbot.keyClicks(email.field, ".com")
    assert window.next_button.isEnabled()
    qtbot.mouseClick(window.next_button, Qt.MouseButton.LeftButton)

    assert wizard.view in (View.LOADING, View.MAIN)
    wait_for_main_window(qtbot, app, timeout=30_000)
    session = app.session
    status = session.backup_status.current
    assert status.pending_changes == 0
    assert status.last_success is not None
    info = run(qtbot, qasync_loop, server_store_info(backupd.url, " ".join(words)))
    assert info.objects >= 3  # descriptor, wallet changeset, email, …
    assert session.email == "alice@example.com"
    assert session.seed_words() == list(words)
    run(qtbot, qasync_loop, app.shutdown())


def test_back_from_the_confirmation_shows_the_same_words(qasync_loop, qtbot, tmp_path, devnet):
    app = CairnApp(data_dir_for(tmp_path / "data", "https://backup.example.com", devnet.url))
    app.start()
    qtbot.waitUntil(lambda: app.wizard_window is not None, timeout=10_000)
    window = app.wizard_window
    qtbot.mouseClick(window.current_page.create_button, Qt.MouseButton.LeftButton)
    first = window.current_page.shown_words
    qtbot.mouseClick(window.next_button, Qt.MouseButton.LeftButton)
    assert window.back_button.isVisible()
    qtbot.mouseClick(window.back_button, Qt.MouseButton.LeftButton)
    assert app.wizard.view is View.SHOW_WORDS
    assert window.current_page.shown_words == first
    qtbot.mouseClick(window.back_button, Qt.MouseButton.LeftButton)
    assert app.wizard.view is View.WELCOME
    run(qtbot, qasync_loop, app.shutdown())


def test_initial_backup_failure_then_change_server_backs_up_there(
    qasync_loop, qtbot, tmp_path, backupd_factory, devnet
):
    down = backupd_factory(start=False)
    up = backupd_factory()
    app = CairnApp(data_dir_for(tmp_path / "data", down.url, devnet.url))
    words = create_past_the_email(qtbot, app)
    window = app.wizard_window

    loading = window.current_page
    assert isinstance(loading, LoadingPage)
    qtbot.waitUntil(lambda: loading.problem.isVisible(), timeout=30_000)
    assert loading.problem.text() == (
        f"The backup server at {down.url} could not be reached. Check your connection and try "
        "again, or change the server."
    )
    assert app.session.has_wallet  # the wallet exists; only its backup is missing

    qtbot.mouseClick(loading.change_button, Qt.MouseButton.LeftButton)
    server_page = window.current_page
    assert isinstance(server_page, BackupServerPage)
    assert server_page.field.text() == down.url
    server_page.field.clear()
    qtbot.keyClicks(server_page.field, up.url)
    qtbot.mouseClick(window.next_button, Qt.MouseButton.LeftButton)
    wait_for_main_window(qtbot, app, timeout=30_000)
    assert app.session.backup_server_url == up.url
    assert app.session.email is None
    info = run(qtbot, qasync_loop, server_store_info(up.url, " ".join(words)))
    assert info.objects >= 2
    run(qtbot, qasync_loop, app.shutdown())
