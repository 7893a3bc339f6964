"""The banner shown when the recovery words are stored unencrypted: what it means, how to fix
it (a system keyring, then "Encrypt now"), and a way to hide it on this computer."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from cairn.ui.main.errors import user_message
from cairn.ui.main.local_state import LocalUiState
from cairn.ui.main.model import MainWindowSession
from cairn.ui.main.tasks import TaskGroup

PLAIN_SEED_WARNING = (
    "Your recovery words are stored unencrypted on this computer: no system keyring is "
    "available. Anyone who can read your files can read them. To fix this, install and unlock "
    "a keyring (GNOME Keyring or KWallet on Linux; macOS and Windows have one built in), then "
    "choose Encrypt now. Keep your written copy safe either way."
)
NOTICE = "plain-seed-warning"


class SeedWarningBanner(QFrame):
    """Shown while the seed file is plain, unless hidden on this computer."""

    protected = Signal()  # the words are encrypted now

    def __init__(
        self,
        session: MainWindowSession,
        tasks: TaskGroup,
        local_state: LocalUiState,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("warningBanner")
        self.session = session
        self.tasks = tasks
        self.local_state = local_state
        self.text = QLabel(PLAIN_SEED_WARNING)
        self.text.setObjectName("warningText")
        self.text.setWordWrap(True)
        self.result = QLabel("")
        self.result.setObjectName("warningText")
        self.result.setWordWrap(True)
        self.result.hide()
        self.protect_button = QPushButton("Encrypt now")
        self.protect_button.clicked.connect(self.protect)
        self.dismiss_button = QPushButton("Hide")
        self.dismiss_button.setObjectName("quiet")
        self.dismiss_button.setToolTip("Hide this warning on this computer")
        self.dismiss_button.clicked.connect(self._dismiss)
        words = QVBoxLayout()
        words.setSpacing(4)
        words.addWidget(self.text)
        words.addWidget(self.result)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(28, 10, 28, 10)
        layout.addLayout(words, 1)
        layout.addWidget(self.protect_button, 0, Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(self.dismiss_button, 0, Qt.AlignmentFlag.AlignVCenter)
        self.setVisible(session.seed_is_plain and not local_state.is_dismissed(NOTICE))

    def text_shown(self) -> str:
        return self.text.text()

    def show_result(self, message: str) -> None:
        self.result.setText(message)
        self.result.setVisible(bool(message))

    def _dismiss(self) -> None:
        self.hide()
        self.local_state.dismiss(NOTICE)

    def protect(self) -> None:
        """Encrypt the seed file under a keyring key, if a keyring works now."""
        self.protect_button.setEnabled(False)
        self.tasks.start(self._protect())

    async def _protect(self) -> None:
        try:
            protected = await self.session.protect_seed()
        except Exception as error:
            self.show_result(user_message(error, "The words could not be encrypted"))
            return
        finally:
            self.protect_button.setEnabled(True)
        if protected:
            self.hide()
            self.protected.emit()
        else:
            self.show_result(
                "Still no working keyring: install one and unlock it (it usually asks for your "
                "login password), then choose Encrypt now again."
            )
