"""The transaction details dialog: txid (copy), status, amount, fee and fee rate, label, and every
input and output with its address, amount and label. Opened with .open(), never exec()."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cairn.ui.main.amounts import Amounts
from cairn.ui.main.formatting import local_time
from cairn.ui.main.history import DIRECTION_TEXT, status_text
from cairn.wallet.details import TransactionDetails, TxPart


def _part_row(part: TxPart, amounts: Amounts, *, output: bool) -> list[str]:
    if part.mine:
        whose = "Your change" if part.change else "Yours"
    else:
        whose = "" if output or part.amount_sat is not None else "Someone else's coin"
    return [
        part.address or "(no address)",
        amounts.text(part.amount_sat) if part.amount_sat is not None else "—",
        whose,
        part.label or "",
    ]


class TransactionDetailsDialog(QDialog):
    def __init__(
        self, details: TransactionDetails, amounts: Amounts, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("txDetails")
        self.setWindowTitle("Transaction details")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        item = details.item
        self.txid = item.txid
        direction = str(getattr(item.direction, "value", item.direction))

        self.txid_label = QLabel(item.txid)
        self.txid_label.setObjectName("address")
        self.txid_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.txid_label.setWordWrap(True)
        self.copy_button = QPushButton("Copy")
        self.copy_button.clicked.connect(self.copy_txid)
        self._copied_timer = QTimer(self)
        self._copied_timer.setSingleShot(True)
        self._copied_timer.setInterval(2500)
        self._copied_timer.timeout.connect(lambda: self.copy_button.setText("Copy"))
        txid_row = QHBoxLayout()
        txid_row.addWidget(self.txid_label, 1)
        txid_row.addWidget(self.copy_button)
        txid_holder = QWidget()
        txid_row.setContentsMargins(0, 0, 0, 0)
        txid_holder.setLayout(txid_row)

        status = status_text(item.confirmations)
        if item.height is not None:
            status += f" · block {item.height:,}"
        when = datetime.fromtimestamp(item.time, UTC) if item.time else None
        self.status = QLabel(f"{status} · {local_time(when)}" if when else status)
        signed = item.amount_sat if direction == "in" else -item.amount_sat
        self.amount = QLabel(amounts.text(signed, signed=True))
        if item.fee_sat is not None:
            rate = details.fee_rate_sat_vb
            rate_text = f" at {amounts.fee_rate_text(rate)} sat/vB" if rate is not None else ""
            fee_text = f"{amounts.text(item.fee_sat)}{rate_text} · {details.vsize:,} vB"
        else:
            fee_text = "Unknown (paid by the sender)"
        self.fee = QLabel(fee_text)
        self.label = QLabel(item.shown_label or "—")
        self.label.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Transaction ID", txid_holder)
        form.addRow("Type", QLabel(DIRECTION_TEXT.get(direction, direction)))
        form.addRow("Status", self.status)
        form.addRow("Amount", self.amount)
        form.addRow("Network fee", self.fee)
        form.addRow("Label", self.label)

        self.inputs = self._table(
            [_part_row(p, amounts, output=False) for p in details.inputs], "From (inputs)"
        )
        self.outputs = self._table(
            [_part_row(p, amounts, output=True) for p in details.outputs], "To (outputs)"
        )
        close = QPushButton("Close")
        close.setObjectName("primary")
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(close)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 18)
        layout.setSpacing(10)
        layout.addLayout(form)
        layout.addWidget(QLabel("From (inputs)"))
        layout.addWidget(self.inputs)
        layout.addWidget(QLabel("To (outputs)"))
        layout.addWidget(self.outputs)
        layout.addLayout(buttons)
        self.resize(760, 520)

    @staticmethod
    def _table(rows: list[list[str]], name: str) -> QTreeWidget:
        tree = QTreeWidget()
        tree.setAccessibleName(name)
        tree.setRootIsDecorated(False)
        tree.setHeaderLabels(["Address", "Amount", "", "Label"])
        for row in rows:
            entry = QTreeWidgetItem(row)
            entry.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            tree.addTopLevelItem(entry)
        for column in range(3):
            tree.resizeColumnToContents(column)
        return tree

    def copy_txid(self) -> None:
        QGuiApplication.clipboard().setText(self.txid)
        self.copy_button.setText("Copied")
        self._copied_timer.start()
