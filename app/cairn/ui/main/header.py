"""The main window's header: the balance on the left; the network, the faucet and Refresh, the
sync state and the news of incoming payments on the right."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from cairn.ui.main.balance import BalancePanel


class WindowHeader(QWidget):
    def __init__(
        self,
        balance: BalancePanel,
        network: str,
        *,
        faucet: bool,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("header")
        self.sync_label = QLabel("")
        self.sync_label.setObjectName("hint")
        self.sync_label.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setObjectName("quiet")
        self.faucet_button = QPushButton("Get test coins")
        self.faucet_button.setObjectName("faucet")
        self.faucet_button.setToolTip("Devnet faucet: sends 0.01 test BTC to your receive address")
        self.faucet_button.setVisible(faucet)
        right = QVBoxLayout()
        right.setSpacing(6)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        if network != "bitcoin":
            # As in the wizard: test networks are said plainly, their coins have no value.
            badge = QLabel(f"{network} · test coins only")
            badge.setObjectName("networkBadge")
            buttons.addWidget(badge, 0, Qt.AlignmentFlag.AlignVCenter)
            buttons.addSpacing(8)
        buttons.addWidget(self.faucet_button)
        buttons.addWidget(self.refresh_button)
        right.addLayout(buttons)
        right.addWidget(self.sync_label)
        self.notice = QLabel("")
        self.notice.setObjectName("notice")
        self.notice.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.notice.setAccessibleName("Wallet news")
        self.notice.hide()
        right.addWidget(self.notice)
        right.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(28, 22, 28, 18)
        layout.addWidget(balance, 1)
        layout.addLayout(right)
