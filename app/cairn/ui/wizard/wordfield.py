"""A field for one recovery word: BIP39 completion, and a whole pasted phrase spread out."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import QApplication, QLineEdit, QWidget

from cairn.onboarding.phrase import split_phrase
from cairn.ui.wizard.completion import make_completer, mark_invalid, take_unique_completion


class WordField(QLineEdit):
    """One word of the phrase; emits `phrase_pasted` instead of holding several words."""

    phrase_pasted = Signal(int, list)  # (index of this field, the words)
    advance = Signal(int)  # the user finished this word with space or enter

    def __init__(self, index: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.index = index
        self.setObjectName("wordField")
        self.setProperty("invalid", False)
        self.setCompleter(make_completer(self))
        # No placeholder: the number stands beside the field already.
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
        self.textEdited.connect(self._spread_if_many)
        # Leaving a field with a beginning that names one word ("sausa") leaves the word.
        self.editingFinished.connect(lambda: take_unique_completion(self))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Paste):
            text = QApplication.clipboard().text()
            words = split_phrase(text)
            if len(words) > 1:
                self.phrase_pasted.emit(self.index, words)
                return
        if event.key() == Qt.Key.Key_Space and self.text().strip():
            popup = self.completer().popup()
            if popup is not None and popup.isVisible():
                popup.hide()
            take_unique_completion(self)
            self.advance.emit(self.index)
            return
        super().keyPressEvent(event)

    def _spread_if_many(self, text: str) -> None:
        # Covers paste paths that bypass keyPressEvent (middle click, drag and drop, input methods).
        words = split_phrase(text)
        if len(words) > 1:
            self.phrase_pasted.emit(self.index, words)

    def mark(self, invalid: bool) -> None:
        mark_invalid(self, invalid)
