"""How the wizard's pages read and line up: titles for the path taken, words in straight columns."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from cairn.onboarding import View
from cairn.ui.app import CairnApp
from cairn.ui.wizard.restore import RestoreWordsPage
from cairn.ui.wizard.seed import ShowWordsPage
from cairn.ui.wizard.server import BackupServerPage
from tests.support.words import PHRASE

from .wizard_support import data_dir_for, run

pytestmark = pytest.mark.gui

NO_SERVER_NEEDED = "http://127.0.0.1:9"  # nothing on these pages talks to a server


def open_wizard(qtbot, tmp_path, backup_url: str | None) -> CairnApp:
    app = CairnApp(data_dir_for(tmp_path / "data", backup_url, NO_SERVER_NEEDED))
    app.start()
    qtbot.waitUntil(lambda: app.wizard_window is not None, timeout=10_000)
    return app


def test_the_restore_path_asks_where_the_backup_is(qasync_loop, qtbot, tmp_path):
    app = open_wizard(qtbot, tmp_path, backup_url=None)
    window = app.wizard_window
    qtbot.mouseClick(window.current_page.restore_button, Qt.MouseButton.LeftButton)
    app.wizard.update(words=tuple(PHRASE.split()))
    qtbot.mouseClick(window.next_button, Qt.MouseButton.LeftButton)
    page = window.current_page
    assert isinstance(page, BackupServerPage)
    assert page.title_label.text() == "Where is your backup?"
    assert "backed up to" in page.explanation.text()
    run(qtbot, qasync_loop, app.shutdown())


def test_the_create_path_asks_where_backups_should_go(qasync_loop, qtbot, tmp_path):
    app = open_wizard(qtbot, tmp_path, backup_url=None)
    window, wizard = app.wizard_window, app.wizard
    qtbot.mouseClick(window.current_page.create_button, Qt.MouseButton.LeftButton)
    wizard.next()
    wizard.update(
        confirm_answers=tuple(wizard.state.words[p] for p in wizard.state.confirm_positions)
    )
    wizard.next()
    wizard.update(acknowledged=True)
    wizard.next()
    qtbot.mouseClick(window.skip_button, Qt.MouseButton.LeftButton)
    page = window.current_page
    assert isinstance(page, BackupServerPage)
    assert page.title_label.text() == "Where should backups go?"
    run(qtbot, qasync_loop, app.shutdown())


def test_written_down_words_start_in_line_whatever_their_number(qasync_loop, qtbot, tmp_path):
    app = open_wizard(qtbot, tmp_path, backup_url="https://backup.example.com")
    window = app.wizard_window
    qtbot.mouseClick(window.current_page.create_button, Qt.MouseButton.LeftButton)
    page = window.current_page
    assert isinstance(page, ShowWordsPage)
    qtbot.waitUntil(lambda: all(label.isVisible() for label in page.word_labels))
    lefts = [label.geometry().left() for label in page.word_labels]
    # Three columns of four: 1–4, 5–8, 9–12; "9" and "10" start their words at the same place.
    assert len(set(lefts[0:4])) == len(set(lefts[4:8])) == len(set(lefts[8:12])) == 1
    assert [label.text() for label in page.word_labels] == list(app.wizard.state.words)
    run(qtbot, qasync_loop, app.shutdown())


def test_restore_fields_line_up_and_do_not_repeat_their_numbers(qasync_loop, qtbot, tmp_path):
    app = open_wizard(qtbot, tmp_path, backup_url="https://backup.example.com")
    window = app.wizard_window
    qtbot.mouseClick(window.current_page.restore_button, Qt.MouseButton.LeftButton)
    page = window.current_page
    assert isinstance(page, RestoreWordsPage)
    for count in (12, 24):
        page.count_buttons[count].click()
        qtbot.waitUntil(lambda: all(field.isVisible() for field in page.fields))
        assert all(field.placeholderText() == "" for field in page.fields)
        rows = 4 if count == 12 else 6
        widths = {field.width() for field in page.fields}
        assert len(widths) == 1, widths  # every column of fields as wide as the others
        for column in range(count // rows):
            lefts = {f.geometry().left() for f in page.fields[column * rows : (column + 1) * rows]}
            assert len(lefts) == 1
    assert app.wizard.view is View.RESTORE_WORDS
    run(qtbot, qasync_loop, app.shutdown())
