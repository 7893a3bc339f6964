"""The wizard by keyboard and mouse as people really use it: completion popups, Tab, Enter,
focus on arrival, and Ctrl+Q."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget

from cairn.onboarding import View
from cairn.ui.app import CairnApp
from cairn.ui.wizard.restore import RestoreWordsPage
from cairn.ui.wizard.seed import ConfirmWordsPage, DisclaimerPage
from tests.support.words import PHRASE

from .wizard_support import data_dir_for, run

pytestmark = pytest.mark.gui

NO_SERVER_NEEDED = "http://127.0.0.1:9"  # nothing on these pages talks to a server


@pytest.fixture(autouse=True)
def words_whose_popup_is_one_line(monkeypatch):
    """New words none of which begins another BIP39 word ("sad" begins "saddle"): typed in
    full, each leaves a popup of one line, which covers no other field. (A longer popup lies
    over the next field, and a click there picks a completion, as it should.)"""
    from mnemonic import Mnemonic

    import cairn.keys

    wordlist = Mnemonic("english").wordlist
    begins_another = {w for w in wordlist if any(o != w and o.startswith(w) for o in wordlist)}
    generate = cairn.keys.generate_mnemonic

    def without_prefixes(words: int = 12) -> str:
        while True:
            phrase = generate(words)
            if not set(phrase.split()) & begins_another:
                return phrase

    monkeypatch.setattr(cairn.keys, "generate_mnemonic", without_prefixes)


def open_wizard(qtbot, tmp_path) -> CairnApp:
    app = CairnApp(data_dir_for(tmp_path / "data", "https://backup.example.com", NO_SERVER_NEEDED))
    app.start()
    qtbot.waitUntil(lambda: app.wizard_window is not None, timeout=10_000)
    window = app.wizard_window
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None)
    return app


def click_as_the_window_system_does(widget: QWidget) -> None:
    """A click delivered through the window, as a real mouse's is: an open popup sees it first.

    (qtbot.mouseClick on a widget hands the event straight to it, past any popup.)
    """
    window = widget.window()
    where = widget.mapTo(window, widget.rect().center())
    QTest.mouseClick(
        window.windowHandle(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, where
    )


def popup_settled(qtbot, popup: QWidget) -> None:
    """The popup is up and every window-system event its showing caused has been handled."""
    qtbot.waitUntil(lambda: popup.isVisible() and popup.windowHandle().isExposed())
    QApplication.processEvents()


def keyboard() -> QWidget:
    """Where a real keyboard's keys go: an open popup (it grabs the keyboard), else the focus."""
    target = QApplication.activePopupWidget() or QApplication.focusWidget()
    assert target is not None
    return target


def type_where_the_focus_is(qtbot, text: str) -> None:
    """Keys go where the user's focus is, as on a real keyboard (not to a chosen widget)."""
    for char in text:
        qtbot.keyClick(keyboard(), char)


def test_a_click_on_the_next_field_while_the_popup_is_open_moves_there(
    qasync_loop, qtbot, tmp_path
):
    app = open_wizard(qtbot, tmp_path)
    window, wizard = app.wizard_window, app.wizard
    qtbot.mouseClick(window.current_page.create_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(window.next_button, Qt.MouseButton.LeftButton)
    page = window.current_page
    assert isinstance(page, ConfirmWordsPage)
    words = wizard.state.words
    first, second = page.fields[0], page.fields[1]
    qtbot.waitUntil(lambda: QApplication.focusWidget() is first)
    wanted = [words[p] for p in wizard.state.confirm_positions]
    type_where_the_focus_is(qtbot, wanted[0][:2])
    popup = first.completer().popup()
    popup_settled(qtbot, popup)
    type_where_the_focus_is(qtbot, wanted[0][2:])

    click_as_the_window_system_does(second)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is second)
    assert not popup.isVisible()
    type_where_the_focus_is(qtbot, wanted[1])
    assert first.text() == wanted[0]
    assert second.text() == wanted[1]
    assert wizard.state.confirm_answers[:2] == tuple(wanted[:2])

    # The last word typed, its popup still open: one click on Next is enough.
    popup_settled(qtbot, second.completer().popup())
    third = page.fields[2]
    click_as_the_window_system_does(third)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is third)
    type_where_the_focus_is(qtbot, wanted[2])
    popup_settled(qtbot, third.completer().popup())
    click_as_the_window_system_does(window.next_button)
    qtbot.waitUntil(lambda: wizard.view is View.DISCLAIMER)
    run(qtbot, qasync_loop, app.shutdown())


def test_the_acknowledgement_page_starts_on_the_box_and_tab_goes_on_to_next(
    qasync_loop, qtbot, tmp_path
):
    app = open_wizard(qtbot, tmp_path)
    window, wizard = app.wizard_window, app.wizard
    qtbot.mouseClick(window.current_page.create_button, Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.next_button)
    qtbot.keyClick(window.next_button, Qt.Key.Key_Space)  # "I wrote them down"
    page = window.current_page
    assert isinstance(page, ConfirmWordsPage)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is page.fields[0])
    words = wizard.state.words
    for index, pos in enumerate(wizard.state.confirm_positions):
        type_where_the_focus_is(qtbot, words[pos])
        popup_settled(qtbot, page.fields[index].completer().popup())
        qtbot.keyClick(keyboard(), Qt.Key.Key_Tab)
    assert wizard.state.confirm_answers == tuple(words[p] for p in wizard.state.confirm_positions)
    # The last field's Tab went to Next, not to Back.
    assert QApplication.focusWidget() is window.next_button
    qtbot.keyClick(window.next_button, Qt.Key.Key_Space)

    disclaimer = window.current_page
    assert isinstance(disclaimer, DisclaimerPage)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is disclaimer.checkbox)
    qtbot.keyClick(disclaimer.checkbox, Qt.Key.Key_Space)
    assert disclaimer.checkbox.isChecked()
    qtbot.keyClick(disclaimer.checkbox, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is window.next_button
    qtbot.keyClick(window.next_button, Qt.Key.Key_Space)
    assert wizard.view is View.EMAIL
    email = window.current_page
    qtbot.waitUntil(lambda: QApplication.focusWidget() is email.field)
    # Tab order on the page: the field, then Next is disabled (no address yet), so Skip, Back.
    qtbot.keyClick(email.field, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is window.skip_button
    qtbot.keyClick(window.skip_button, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is window.back_button
    run(qtbot, qasync_loop, app.shutdown())


def test_restore_enter_takes_the_completion_and_tab_moves_one_field(qasync_loop, qtbot, tmp_path):
    app = open_wizard(qtbot, tmp_path)
    window = app.wizard_window
    qtbot.mouseClick(window.current_page.restore_button, Qt.MouseButton.LeftButton)
    page = window.current_page
    assert isinstance(page, RestoreWordsPage)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is page.fields[0])
    words = PHRASE.split()
    for index, word in enumerate(words):
        # Four letters name a BIP39 word; Enter takes the completion, then a habitual Tab.
        type_where_the_focus_is(qtbot, word[:4])
        popup = page.fields[index].completer().popup()
        popup_settled(qtbot, popup)
        qtbot.keyClick(keyboard(), Qt.Key.Key_Enter)
        qtbot.waitUntil(lambda popup=popup: not popup.isVisible())
        if index < len(words) - 1:
            assert QApplication.focusWidget() is page.fields[index], "Enter moved on"
            qtbot.keyClick(keyboard(), Qt.Key.Key_Tab)
    assert [f.text() for f in page.fields] == words
    # With the phrase complete, the last word's Enter goes on to the next page.
    qtbot.waitUntil(lambda: app.wizard.view is not View.RESTORE_WORDS)
    run(qtbot, qasync_loop, app.shutdown())


def test_ctrl_q_closes_the_wizard_and_quits(qasync_loop, qtbot, tmp_path):
    app = open_wizard(qtbot, tmp_path)
    window = app.wizard_window
    qtbot.mouseClick(window.current_page.restore_button, Qt.MouseButton.LeftButton)
    page = window.current_page
    qtbot.waitUntil(lambda: QApplication.focusWidget() is page.fields[0])
    qtbot.keyClick(keyboard(), Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    # Closing the last window is what makes the app quit (see cairn.ui.app.run).
    qtbot.waitUntil(lambda: not window.isVisible())
    run(qtbot, qasync_loop, app.shutdown())
