"""The balance header: what the user can spend, large; payments on their way to them, beneath.

Own unconfirmed change is the user's money (nobody else can take it back), so it counts as
spendable; only payments from others wait for a block. Each number says what it means in its
tooltip. Until the wallet has been read the panel says it is loading, never a zero it does not
know.
"""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from cairn.ui.main.amounts import Amounts
from cairn.ui.main.model import BalanceView

SPENDABLE_HELP = (
    "What you can send now: coins confirmed in a block, plus the change of your own payments "
    "that is still waiting for one."
)
INCOMING_HELP = (
    "Payments to you that are not in a block yet. They become spendable once confirmed "
    "(usually within an hour)."
)


class BalancePanel(QWidget):
    def __init__(self, amounts: Amounts, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("balancePanel")
        self.amounts = amounts
        self.balance: BalanceView | None = None
        # Until the first sync has looked, a zero may only mean "not scanned yet".
        self.checking = True
        self.caption = QLabel("Spendable")
        self.caption.setObjectName("caption")
        self.caption.setToolTip(SPENDABLE_HELP)
        self.spendable = QLabel("Loading…")
        self.spendable.setObjectName("balanceAmount")
        self.incoming = QLabel("")
        self.incoming.setObjectName("balancePending")
        self.incoming.setToolTip(INCOMING_HELP)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.caption)
        layout.addWidget(self.spendable)
        layout.addWidget(self.incoming)
        amounts.changed.connect(self._show_again)

    @property
    def loaded(self) -> bool:
        return self.balance is not None

    def show_balance(self, balance: BalanceView) -> None:
        self.balance = balance
        text = self.amounts.text
        self.spendable.setText(text(balance.spendable_sat))
        parts = [f"{SPENDABLE_HELP}\n", f"Confirmed: {text(balance.confirmed_sat)}"]
        if balance.own_pending_sat:
            parts.append(f"Your change, waiting for a block: {text(balance.own_pending_sat)}")
        parts.append(f"({self.amounts.other_unit_text(balance.spendable_sat)})")
        self.spendable.setToolTip("\n".join(parts))
        if balance.incoming_sat:
            self.incoming.setText(
                f"{text(balance.incoming_sat, signed=True)} incoming, waiting for confirmation"
            )
        elif self.checking and not balance.confirmed_sat and not balance.pending_sat:
            self.incoming.setText("Checking the blockchain for your coins…")
        else:
            self.incoming.setText("Nothing incoming")
        self.incoming.setToolTip(
            f"{INCOMING_HELP}\n({self.amounts.other_unit_text(balance.incoming_sat)})"
        )

    def set_checking(self, checking: bool) -> None:
        self.checking = checking
        self._show_again()

    def _show_again(self) -> None:
        if self.balance is not None:
            self.show_balance(self.balance)
