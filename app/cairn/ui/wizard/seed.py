"""The create path: show the words, confirm three of them, acknowledge the risk."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QGridLayout, QLabel, QLineEdit, QWidget

from cairn.onboarding import PageStatus, View, WizardState
from cairn.onboarding.navmap import wrong_confirmations
from cairn.ui.wizard.base import WizardPage
from cairn.ui.wizard.completion import make_completer, mark_invalid


class ShowWordsPage(WizardPage):
    view = View.SHOW_WORDS
    title = "Write down your recovery words"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.explain(
            "These words are the only key to your money. Write them on paper, in order, and keep "
            "the paper somewhere safe. <b>Do not photograph, copy or type them anywhere</b> — "
            "anyone who sees them can take your bitcoin.",
            "warning",
        )
        self.grid_host = QWidget()
        self.grid_host.setObjectName("seedGrid")
        self.grid = QGridLayout(self.grid_host)
        self.grid.setHorizontalSpacing(10)
        self.grid.setVerticalSpacing(8)
        self.body.addWidget(self.grid_host)
        self.passphrase_note = self.explain(
            "You chose a passphrase: write it down with the words. The words alone open "
            "another, empty wallet, and your backup cannot be restored without it."
        )
        self.body.addStretch(1)
        self.word_labels: list[QLabel] = []
        self.number_labels: list[QLabel] = []
        self.shown_words: tuple[str, ...] = ()

    def load(self, state: WizardState) -> None:
        for label in [*self.word_labels, *self.number_labels]:
            label.hide()
            self.grid.removeWidget(label)
            label.deleteLater()
        self.word_labels = []
        self.number_labels = []
        self.shown_words = state.words
        self.passphrase_note.setVisible(bool(state.passphrase))
        columns = 3 if len(state.words) <= 12 else 4
        rows = (len(state.words) + columns - 1) // columns
        for i, word in enumerate(state.words):
            # Number and word in columns of their own, so "9" and "10" start their words in line.
            number = QLabel(f"{i + 1}")
            number.setObjectName("wordNumber")
            number.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            number.setMinimumWidth(number.fontMetrics().horizontalAdvance("24") + 4)
            label = QLabel(word)
            label.setObjectName("seedWord")
            # Copying is discouraged: the words cannot be selected, dragged or copied.
            label.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
            label.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
            self.grid.addWidget(number, i % rows, 2 * (i // rows))
            self.grid.addWidget(label, i % rows, 2 * (i // rows) + 1)
            self.word_labels.append(label)
            self.number_labels.append(number)
        for column in range(4):
            self.grid.setColumnStretch(2 * column + 1, 1 if column < columns else 0)


class ConfirmWordsPage(WizardPage):
    view = View.CONFIRM_WORDS
    title = "Check your paper"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.explain("Type these words from what you wrote down, to be sure the paper is right.")
        self.form = QGridLayout()
        self.form.setVerticalSpacing(10)
        self.body.addLayout(self.form)
        self.body.addStretch(1)
        self.fields: list[QLineEdit] = []

    def load(self, state: WizardState) -> None:
        while self.form.count():
            item = self.form.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.hide()
                widget.deleteLater()
        self.fields = []
        for row, (pos, answer) in enumerate(
            zip(state.confirm_positions, state.confirm_answers, strict=True)
        ):
            caption = QLabel(f"Word #{pos + 1}")
            caption.setObjectName("fieldCaption")
            field = QLineEdit(answer)
            field.setObjectName("confirmWord")
            field.setPlaceholderText(f"word {pos + 1}")
            field.setProperty("invalid", False)
            field.setCompleter(make_completer(field))
            field.textEdited.connect(self._edited)
            field.returnPressed.connect(self._submit)
            self.form.addWidget(caption, row, 0)
            self.form.addWidget(field, row, 1)
            self.fields.append(field)

    def _edited(self, _: str) -> None:
        self.wizard.update(confirm_answers=tuple(f.text() for f in self.fields))

    def show_status(self, status: PageStatus) -> None:
        # A refused Next names the wrong words; the fields that hold them are marked too,
        # until the next edit.
        wrong = wrong_confirmations(self.wizard.state) if status.error else ()
        for index, field in enumerate(self.fields):
            mark_invalid(field, index in wrong)

    def _submit(self) -> None:
        if self.wizard.status.can_next:
            self.wizard.next()

    def entered(self) -> None:
        if self.fields:
            self.fields[0].setFocus()


class DisclaimerPage(WizardPage):
    view = View.DISCLAIMER
    title = "One thing to understand"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.explain(
            "Cairn backs up your wallet's history, labels and settings, encrypted so that only "
            "your recovery words can read them. The backup does <b>not</b> contain your words."
            "<br><br>If you lose your words <b>and</b> this computer, nobody — not Cairn, not the "
            "backup server — can give your money back."
        )
        self.checkbox = QCheckBox("I understand: lost words and a lost computer mean lost funds.")
        self.checkbox.setObjectName("acknowledge")
        self.checkbox.toggled.connect(lambda on: self.wizard.update(acknowledged=on))
        self.body.addWidget(self.checkbox)
        self.body.addStretch(1)

    def load(self, state: WizardState) -> None:
        self.checkbox.blockSignals(True)
        self.checkbox.setChecked(state.acknowledged)
        self.checkbox.blockSignals(False)

    def entered(self) -> None:
        # Space ticks the box, then Tab reaches Next (never Back, which would leave the page).
        self.checkbox.setFocus()
