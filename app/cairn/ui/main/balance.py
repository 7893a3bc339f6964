"""The balance header: confirmed funds large, pending funds beneath."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from cairn.ui.main.formatting import btc, sats_text
from cairn.ui.main.model import BalanceView


class BalancePanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("balancePanel")
        caption = QLabel("Balance")
        caption.setObjectName("caption")
        self.confirmed = QLabel("—")
        self.confirmed.setObjectName("balanceAmount")
        self.pending = QLabel("")
        self.pending.setObjectName("balancePending")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(caption)
        layout.addWidget(self.confirmed)
        layout.addWidget(self.pending)

    def show_balance(self, balance: BalanceView) -> None:
        self.confirmed.setText(btc(balance.confirmed_sat))
        self.confirmed.setToolTip(sats_text(balance.confirmed_sat))
        if balance.pending_sat:
            self.pending.setText(f"{btc(balance.pending_sat, signed=True)} pending confirmation")
        else:
            self.pending.setText("No pending payments")
        self.pending.setToolTip(sats_text(balance.pending_sat))
