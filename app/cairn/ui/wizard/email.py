"""The optional email page (create path only; on restore the address comes from the backup)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QLineEdit

from cairn.onboarding import View, WizardState
from cairn.onboarding.validation import email_problem
from cairn.ui.wizard.base import WizardPage


class EmailPage(WizardPage):
    view = View.EMAIL
    title = "Stay in touch (optional)"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.explain(
            "Your backup server can tell you if your backups stop arriving. The address is "
            "stored in your encrypted backup. You can skip this and add it later in Settings."
        )
        self.field = QLineEdit()
        self.field.setObjectName("emailField")
        self.field.setPlaceholderText("name@example.com")
        self.field.setProperty("invalid", False)
        self.field.textEdited.connect(self._edited)
        self.field.returnPressed.connect(self._submit)
        self.body.addWidget(self.field)
        self.problem = QLabel("")
        self.problem.setObjectName("fieldProblem")
        self.body.addWidget(self.problem)
        self.body.addStretch(1)

    def load(self, state: WizardState) -> None:
        self.field.setText(state.email)
        self._show_problem(state.email, final=False)

    def entered(self) -> None:
        self.field.setFocus()

    def _edited(self, text: str) -> None:
        self.wizard.update(email=text, email_skipped=False)
        self._show_problem(text, final=False)

    def _show_problem(self, text: str, *, final: bool) -> None:
        # While typing, only complain once the address has an @ and something after it.
        problem = email_problem(text) if (final or "@" in text) else None
        if not text.strip():
            problem = None
        self.problem.setText(problem or "")
        invalid = problem is not None
        if bool(self.field.property("invalid")) != invalid:
            self.field.setProperty("invalid", invalid)
            self.field.style().unpolish(self.field)
            self.field.style().polish(self.field)

    def _submit(self) -> None:
        self._show_problem(self.field.text(), final=True)
        if self.wizard.status.can_next:
            self.wizard.next()
