"""The pieces Settings is built of: its sections and result lines, and the checks of its fields."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cairn.invitecode import checked_invite
from cairn.onboarding.validation import email_problem
from cairn.serverurl import checked_server_url
from cairn.usererrors import RefusedInput

CAPTION_WIDTH = 72  # the same in every section, so fields line up down the page


def check_server_url(text: str) -> str:
    """A backup server URL as typed, normalised; ValueError saying what is wrong.

    The wizard's check (cairn.serverurl), so Settings never accepts what the wizard refuses.
    """
    return checked_server_url(text)


def check_invite(text: str) -> str | None:
    """The invite code as typed, normalised (None: none), or ValueError: the wizard's check."""
    return checked_invite(text)


def check_email(text: str) -> str | None:
    """The email as typed (None: remove it), or ValueError: the wizard's check of an address."""
    email = text.strip()
    if not email:
        return None
    problem = email_problem(email)
    if problem is not None:
        raise RefusedInput(problem)
    return email


class Section(QFrame):
    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        heading = QLabel(title)
        heading.setObjectName("sectionTitle")
        self.grid = QGridLayout()
        self.grid.setHorizontalSpacing(12)
        self.grid.setVerticalSpacing(10)
        self.grid.setColumnStretch(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 14, 18, 16)
        layout.setSpacing(10)
        layout.addWidget(heading)
        layout.addLayout(self.grid)

    def add_field(
        self, caption: str, field: QLineEdit, button: QPushButton, action: Callable[[], None]
    ) -> ResultLabel:
        """A field, the button that acts on it, and the line below that tells how it went."""
        button.clicked.connect(action)
        result = ResultLabel()
        self.add_row(caption, field, button)
        self.add_row("", result)
        return result

    def add_row(self, caption: str, *widgets: QWidget) -> None:
        row = self.grid.rowCount()
        # An empty caption still takes its column, so every section lines up the same; a row of
        # results only (hidden until an action reports) gets none, so it takes no space.
        if caption or not all(isinstance(w, ResultLabel) for w in widgets):
            label = QLabel(caption)
            label.setObjectName("fieldCaption")
            label.setFixedWidth(CAPTION_WIDTH)
            self.grid.addWidget(label, row, 0)
        box = QHBoxLayout()
        for widget in widgets:
            box.addWidget(widget, 3 if isinstance(widget, QLineEdit | QLabel) else 0)
        if not any(isinstance(w, QLineEdit) for w in widgets):
            # Keeps buttons at their natural width while a result label beside them is hidden.
            box.addStretch(1)
        self.grid.addLayout(box, row, 1)


class ResultLabel(QLabel):
    """The outcome of one action, beside its button; hidden until there is something to say."""

    def __init__(self) -> None:
        super().__init__("")
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # Its line stays reserved while hidden: a result appearing never pushes the buttons
        # below it out from under the pointer.
        policy = self.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        self.setSizePolicy(policy)
        self.hide()

    def show_result(self, text: str, tone: str = "hint") -> None:
        self.setObjectName(tone)
        self.setText(text)
        self.setVisible(bool(text))
        self.style().unpolish(self)
        self.style().polish(self)


def result_label() -> ResultLabel:
    return ResultLabel()
