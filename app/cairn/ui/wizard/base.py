"""What every wizard page shares: a title, an explanation, and loading from a snapshot."""

from __future__ import annotations

from typing import ClassVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from cairn.onboarding import PageStatus, View, Wizard, WizardState


class WizardPage(QWidget):
    """A page shows one view; edits go to the wizard with `wizard.update(...)`."""

    view: ClassVar[View]
    title: ClassVar[str] = ""
    next_text: ClassVar[str | None] = "Next"  # None: the page has its own buttons

    def __init__(self, wizard: Wizard, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.wizard = wizard
        self.setObjectName(f"page_{self.view.value}")
        self.body = QVBoxLayout(self)
        self.body.setContentsMargins(0, 0, 0, 0)
        self.body.setSpacing(14)
        self.title_label: QLabel | None = None
        if self.title:
            self.title_label = QLabel(self.title)
            self.title_label.setObjectName("pageTitle")
            self.title_label.setWordWrap(True)
            self.body.addWidget(self.title_label)

    def explain(self, text: str, object_name: str = "explanation") -> QLabel:
        label = QLabel(text)
        label.setObjectName(object_name)
        label.setWordWrap(True)
        label.setTextFormat(Qt.TextFormat.RichText)
        self.body.addWidget(label)
        return label

    def load(self, state: WizardState) -> None:
        """Show `state`; called every time the view is entered (also by Back)."""

    def entered(self) -> None:
        """Called once the page is visible: put the focus where typing starts."""

    def show_status(self, status: PageStatus) -> None:
        """Called whenever the page's status changes (a refused Next, an edit that cleared it)."""
