"""BIP39 word completion for a line edit, with a popup that behaves as people expect.

QCompleter's popup, left to itself, swallows a click outside it (so the field clicked never
got the focus and the next word went into the previous field), ignores Enter unless a row
was picked with the arrow keys, and keeps Tab from leaving the field.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QStringListModel, Qt
from PySide6.QtGui import QKeyEvent, QMouseEvent
from PySide6.QtWidgets import QAbstractItemView, QApplication, QCompleter, QLineEdit, QWidget

from cairn.onboarding.phrase import completions, is_known, wordlist


def make_completer(parent: QWidget) -> QCompleter:
    completer = QCompleter(parent)
    completer.setModel(QStringListModel(list(wordlist()), completer))
    completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    completer.setFilterMode(Qt.MatchFlag.MatchStartsWith)
    completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
    completer.setMaxVisibleItems(6)
    CompletionPopupFilter(completer)
    return completer


def mark_invalid(field: QLineEdit, invalid: bool) -> None:
    """Show `field` as holding a wrong word (the style sheet draws it), or not."""
    if bool(field.property("invalid")) != invalid:
        field.setProperty("invalid", invalid)
        field.style().unpolish(field)
        field.style().polish(field)


def take_unique_completion(field: QLineEdit) -> None:
    """A beginning that fits one BIP39 word only ("sausa") becomes that word."""
    typed = field.text()
    if typed.strip() and not is_known(typed):
        candidates = completions(typed, limit=2)
        if len(candidates) == 1:
            field.setText(candidates[0])
            field.textEdited.emit(candidates[0])


class CompletionPopupFilter(QObject):
    """Sees the popup's events before QCompleter does (installed after the popup exists)."""

    def __init__(self, completer: QCompleter) -> None:
        super().__init__(completer)
        self.completer = completer
        popup = completer.popup()  # QCompleter makes it now, and keeps this one
        assert popup is not None
        self.popup: QAbstractItemView = popup
        popup.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.MouseButtonPress and isinstance(event, QMouseEvent):
            return self._mouse_press(event)
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            return self._key_press(event)
        return False

    def _close_popup(self) -> None:
        popup = self.popup
        popup.hide()
        field = self.completer.widget()
        if field is not None and QApplication.activeWindow() is popup:
            # Where the platform made the popup the active window, give it back, or the
            # focus moves below stay in an inactive window.
            field.window().activateWindow()

    def _field(self) -> QLineEdit | None:
        widget = self.completer.widget()
        return widget if isinstance(widget, QLineEdit) else None

    def _key_press(self, event: QKeyEvent) -> bool:
        popup = self.popup
        field = self._field()
        if not popup.isVisible() or field is None:
            return False
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            # Enter takes the one completion there is (four letters always name one word).
            if not popup.currentIndex().isValid() and self.completer.completionCount() == 1:
                popup.setCurrentIndex(self.completer.completionModel().index(0, 0))
            return False  # QCompleter completes and closes the popup
        if event.key() in (Qt.Key.Key_Tab, Qt.Key.Key_Backtab):
            # Tab finishes the word and moves on, popup or not.
            chosen = popup.currentIndex()
            self._close_popup()
            if chosen.isValid():
                word = str(chosen.data())
                field.setText(word)
                field.textEdited.emit(word)
            else:
                take_unique_completion(field)
            QApplication.sendEvent(field, QKeyEvent(event.type(), event.key(), event.modifiers()))
            return True
        return False

    def _mouse_press(self, event: QMouseEvent) -> bool:
        popup = self.popup
        where = event.globalPosition().toPoint()
        if popup.rect().contains(popup.mapFromGlobal(where)):
            return False  # a click on a completion: QCompleter handles it
        self._close_popup()
        field = self._field()
        window = field.window() if field is not None else None
        target = window.childAt(window.mapFromGlobal(where)) if window is not None else None
        if target is not None:
            _focus_as_a_click_does(target)
            # A whole click (Qt ignores the release that follows a press which closed a
            # popup), so a click on Next or Back also does what it says.
            local = target.mapFromGlobal(event.globalPosition())
            for kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease):
                held = (
                    event.buttons()
                    if kind is QEvent.Type.MouseButtonPress
                    else Qt.MouseButton.NoButton
                )
                click = QMouseEvent(
                    kind, local, event.globalPosition(), event.button(), held, event.modifiers()
                )
                QApplication.sendEvent(target, click)
        return True


def _focus_as_a_click_does(widget: QWidget) -> None:
    # Qt moves the focus only for clicks from the window system; a forwarded click must do it.
    current: QWidget | None = widget
    while current is not None and not current.isWindow():
        if current.isEnabled() and current.focusPolicy() & Qt.FocusPolicy.ClickFocus:
            current.setFocus(Qt.FocusReason.MouseFocusReason)
            return
        current = current.parentWidget()
