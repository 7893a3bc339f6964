"""The backup server page: shown only when no server is configured, or to change it."""

from __future__ import annotations

from PySide6.QtWidgets import QLineEdit

from cairn.onboarding import View, WizardState
from cairn.ui.wizard.base import WizardPage


class BackupServerPage(WizardPage):
    view = View.BACKUP_SERVER
    title = "Where should backups go?"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.explain(
            "Enter the address of a Cairn backup server. It stores only encrypted data under "
            "names it cannot read; your recovery words are never sent."
        )
        self.field = QLineEdit()
        self.field.setObjectName("serverField")
        self.field.setPlaceholderText("https://backup.example.com")
        self.field.textEdited.connect(lambda text: self.wizard.update(backup_server_url=text))
        self.field.returnPressed.connect(self._submit)
        self.body.addWidget(self.field)
        self.body.addStretch(1)

    def load(self, state: WizardState) -> None:
        self.field.setText(state.backup_server_url)

    def entered(self) -> None:
        self.field.setFocus()

    def _submit(self) -> None:
        if self.wizard.status.can_next:
            self.wizard.next()
