"""What the main window shows where its tabs go while the wallet is still being opened.

The window appears at once on start; opening the wallet (BDK, the record store, the backup
engine) runs after its first frame. Until then this says so, and if opening fails it says
that instead of leaving a bar running (the app also tells the error as it always has).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget

LOADING_TITLE = "Loading wallet…"
LOADING_DETAIL = "Opening your wallet and its backup. This takes a moment."


class WalletLoadingPage(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("walletLoading")
        self.title = QLabel(LOADING_TITLE)
        self.title.setObjectName("caption")
        self.title.setAccessibleName("Wallet loading")
        self.detail = QLabel(LOADING_DETAIL)
        self.detail.setObjectName("hint")
        self.detail.setWordWrap(True)
        self.problem = QLabel("")
        self.problem.setObjectName("error")
        self.problem.setWordWrap(True)
        self.problem.hide()
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)  # how long the wallet takes to open is not known
        self.bar.setTextVisible(False)
        self.bar.setFixedSize(240, 6)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 40, 28, 28)
        layout.setSpacing(10)
        layout.addStretch(1)
        for label in (self.title, self.detail, self.problem):
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            layout.addWidget(label)
        layout.addWidget(self.bar, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)

    def fail(self, message: str) -> None:
        """Opening the wallet failed: say so where the wallet would have been."""
        self.title.setText("The wallet could not be opened")
        self.detail.hide()
        self.problem.setText(message)
        self.problem.show()
        self.bar.hide()
