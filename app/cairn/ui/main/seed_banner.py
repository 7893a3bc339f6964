"""The banner shown when the recovery words are stored unencrypted: what it means, how to fix
it (a system keyring, then "Encrypt now"), and a way to hide it on this computer."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

PLAIN_SEED_WARNING = (
    "Your recovery words are stored unencrypted on this computer: no system keyring is "
    "available. Anyone who can read your files can read them. To fix this, install and unlock "
    "a keyring (GNOME Keyring or KWallet on Linux; macOS and Windows have one built in), then "
    "choose Encrypt now. Keep your written copy safe either way."
)
NOTICE = "plain-seed-warning"


class SeedWarningBanner(QFrame):
    protect_requested = Signal()
    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("warningBanner")
        self.text = QLabel(PLAIN_SEED_WARNING)
        self.text.setObjectName("warningText")
        self.text.setWordWrap(True)
        self.result = QLabel("")
        self.result.setObjectName("warningText")
        self.result.setWordWrap(True)
        self.result.hide()
        self.protect_button = QPushButton("Encrypt now")
        self.protect_button.clicked.connect(self.protect_requested)
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

    def text_shown(self) -> str:
        return self.text.text()

    def show_result(self, message: str) -> None:
        self.result.setText(message)
        self.result.setVisible(bool(message))

    def _dismiss(self) -> None:
        self.hide()
        self.dismissed.emit()
