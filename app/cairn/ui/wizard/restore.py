"""The restore path: enter 12 or 24 recovery words, checked as they are typed."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QButtonGroup, QGridLayout, QHBoxLayout, QLabel, QRadioButton, QWidget

from cairn.onboarding import View, WizardState
from cairn.onboarding.phrase import WORD_COUNTS, Verdict, check_phrase, could_become_word, is_known
from cairn.ui.wizard.base import WizardPage
from cairn.ui.wizard.wordfield import WordField


class RestoreWordsPage(WizardPage):
    view = View.RESTORE_WORDS
    title = "Enter your recovery words"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.explain(
            "Type the words in order, or paste the whole phrase into any field. Your history, "
            "labels and settings come back from your backup."
        )
        counts = QHBoxLayout()
        self.count_group = QButtonGroup(self)
        self.count_buttons: dict[int, QRadioButton] = {}
        for count in WORD_COUNTS:
            button = QRadioButton(f"{count} words")
            button.setObjectName(f"count{count}")
            self.count_group.addButton(button, count)
            self.count_buttons[count] = button
            counts.addWidget(button)
        counts.addStretch(1)
        self.body.addLayout(counts)
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setHorizontalSpacing(10)
        self.grid.setVerticalSpacing(8)
        self.body.addWidget(self.grid_host)
        self.verdict = QLabel("")
        self.verdict.setObjectName("verdict")
        self.verdict.setWordWrap(True)
        self.body.addWidget(self.verdict)
        self.body.addStretch(1)
        self.fields: list[WordField] = []
        self.numbers: list[QLabel] = []
        self._typing: int | None = None
        self.count_group.idToggled.connect(self._count_toggled)

    # --- building --------------------------------------------------------------------------------

    def _build(self, count: int, words: tuple[str, ...]) -> None:
        old = [f.text() for f in self.fields]
        for widget in [*self.fields, *self.numbers]:
            widget.hide()
            self.grid.removeWidget(widget)
            widget.deleteLater()
        self.fields = []
        self.numbers = []
        columns = 3 if count == 12 else 4
        rows = count // columns
        for i in range(count):
            field = WordField(i)
            if i < len(words):
                field.setText(words[i])
            elif i < len(old):
                field.setText(old[i])
            field.textEdited.connect(lambda _text, i=i: self._edited(i))
            field.phrase_pasted.connect(self._spread)
            field.advance.connect(self._advance)
            field.editingFinished.connect(lambda i=i: self._finished(i))
            field.returnPressed.connect(lambda i=i: self._return_pressed(i))
            number = QLabel(f"{i + 1}")
            number.setObjectName("wordNumber")
            number.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            # Every number column as wide as "24", every field column as wide as the others:
            # the fields of 9 and of 10–12 line up.
            number.setMinimumWidth(number.fontMetrics().horizontalAdvance("24") + 4)
            self.grid.addWidget(number, i % rows, 2 * (i // rows))
            self.grid.addWidget(field, i % rows, 2 * (i // rows) + 1)
            self.fields.append(field)
            self.numbers.append(number)
        for column in range(max(WORD_COUNTS) // rows):
            self.grid.setColumnStretch(2 * column + 1, 1 if column < columns else 0)
        button = self.count_buttons[count]
        button.blockSignals(True)
        button.setChecked(True)
        button.blockSignals(False)

    def load(self, state: WizardState) -> None:
        count = len(state.words) if len(state.words) in WORD_COUNTS else WORD_COUNTS[0]
        self.fields_for(count, state.words)

    def fields_for(self, count: int, words: tuple[str, ...] = ()) -> None:
        self._typing = None
        self._build(count, words)
        self._publish()

    def entered(self) -> None:
        for field in self.fields:
            if not field.text():
                field.setFocus()
                return

    # --- editing ---------------------------------------------------------------------------------

    def _count_toggled(self, count: int, checked: bool) -> None:
        if checked and count != len(self.fields):
            self.fields_for(count)

    def _spread(self, index: int, words: list[str]) -> None:
        """A pasted phrase fills every field: a whole phrase from the first, else from here."""
        if len(words) in WORD_COUNTS:
            if len(words) != len(self.fields):
                self._build(len(words), ())
            start = 0
        else:
            start = index
        for offset, word in enumerate(words):
            if start + offset < len(self.fields):
                self.fields[start + offset].setText(word)
        self._typing = None
        self._publish()
        self.entered()

    def _advance(self, index: int) -> None:
        self._finished(index)
        if index + 1 < len(self.fields):
            self.fields[index + 1].setFocus()

    def _return_pressed(self, index: int) -> None:
        """Enter finishes this word; once the phrase is right it goes on to the next page.

        It never moves to the next field: people press Enter to take a completion and then Tab
        out of habit, which would skip a field.
        """
        self._finished(index)
        if self.wizard.status.can_next:
            self.wizard.next()

    def _edited(self, index: int) -> None:
        self._typing = index
        self._publish()

    def _finished(self, index: int) -> None:
        if self._typing == index:
            self._typing = None
        self._publish()

    def _typing_index(self) -> int | None:
        """The field the user is typing in: its word may still be unfinished."""
        return self._typing

    def _publish(self) -> None:
        words = tuple(f.text().strip().lower() for f in self.fields)
        typing = self._typing_index()
        for field, word in zip(self.fields, words, strict=True):
            if field.index == typing:
                field.mark(bool(word) and not could_become_word(word))
            else:
                field.mark(bool(word) and not is_known(word))
        result = check_phrase(words, len(self.fields), typing_index=typing)
        self.verdict.setText(result.message)
        tone = {
            Verdict.VALID: "ok",
            Verdict.INCOMPLETE: "muted",
            Verdict.UNKNOWN_WORDS: "error",
            Verdict.BAD_CHECKSUM: "error",
        }[result.verdict]
        self.verdict.setProperty("tone", tone)
        self.verdict.style().unpolish(self.verdict)
        self.verdict.style().polish(self.verdict)
        self.wizard.update(words=words)
