"""The backup server page: shown only when no server is configured, or to change it."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QLineEdit

from cairn.onboarding import Flow, View, WizardState
from cairn.onboarding.validation import invite_problem
from cairn.ui.wizard.base import WizardPage

RESTORE_TITLE = "Where is your backup?"
BACKUP_TO = (
    "Enter the address of a Cairn backup server. It stores only encrypted data under names it "
    "cannot read; your recovery words are never sent."
)
INVITE_CAPTION = "Invite code, only if the server's operator gave you one:"
RESTORE_FROM = (
    "Enter the address of the Cairn backup server your wallet was backed up to. Your recovery "
    "words are never sent: they only unlock the encrypted backup on this computer."
)


class BackupServerPage(WizardPage):
    view = View.BACKUP_SERVER
    title = "Where should backups go?"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.explanation = self.explain(BACKUP_TO)
        self.field = QLineEdit()
        self.field.setObjectName("serverField")
        self.field.setPlaceholderText("https://backup.example.com")
        self.field.textEdited.connect(lambda text: self.wizard.update(backup_server_url=text))
        self.field.returnPressed.connect(self._submit)
        self.body.addWidget(self.field)
        # A backup that already exists needs no invite: the field is for a new wallet only.
        self.invite_caption = QLabel(INVITE_CAPTION)
        self.invite_field = QLineEdit()
        self.invite_field.setObjectName("inviteField")
        self.invite_field.setPlaceholderText("32 characters, 0-9 and a-f")
        self.invite_field.textEdited.connect(self._invite_edited)
        self.invite_field.returnPressed.connect(self._submit)
        self.problem = QLabel("")
        self.problem.setObjectName("fieldProblem")
        self.problem.setWordWrap(True)
        for widget in (self.invite_caption, self.invite_field, self.problem):
            self.body.addWidget(widget)
        self.body.addStretch(1)

    def load(self, state: WizardState) -> None:
        restoring = state.flow is Flow.RESTORE
        if self.title_label is not None:
            self.title_label.setText(RESTORE_TITLE if restoring else self.title)
        self.explanation.setText(RESTORE_FROM if restoring else BACKUP_TO)
        self.field.setText(state.backup_server_url)
        self.invite_field.setText(state.backup_invite)
        self.invite_caption.setVisible(not restoring)
        self.invite_field.setVisible(not restoring)
        self.problem.setText(invite_problem(state.backup_invite) or "")

    def entered(self) -> None:
        self.field.setFocus()

    def _invite_edited(self, text: str) -> None:
        self.wizard.update(backup_invite=text)
        self.problem.setText(invite_problem(text) or "")

    def _submit(self) -> None:
        if self.wizard.status.can_next:
            self.wizard.next()
