"""The transaction details dialog: txid (copy), status, amount, fee and fee rate, label, and every
input and output with its address, amount and label. Opened with .open(), never exec()."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication
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

from cairn.config import explorer_link
from cairn.ui.main.amounts import Amounts
from cairn.ui.main.errors import user_message
from cairn.ui.main.fee_rate import FeeRateField
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


class FeeBumper:
    """What the dialog needs to bump a fee: the wallet's calls (see `cairn.wallet.feebump`)."""

    def __init__(
        self,
        plan: Callable[[str, float], Any],  # blocking: CannotBumpFee, InvalidAmount, ...
        send: Callable[[Any], Awaitable[str]],
        start: Callable[[Any], object],  # runs a coroutine (the window's task group)
    ) -> None:
        self.plan, self.send, self.start = plan, send, start


class TransactionDetailsDialog(QDialog):
    fee_bumped = Signal(str)  # the replacement's txid

    def __init__(
        self,
        details: TransactionDetails,
        amounts: Amounts,
        parent: QWidget | None = None,
        *,
        bumper: FeeBumper | None = None,
        explorer: str | None = None,
    ) -> None:
        super().__init__(parent)
        self.amounts = amounts
        self.bumper = bumper
        self.bump_plan: Any = None
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
        self.explorer_url = explorer_link(explorer, item.txid) if explorer else None
        self.explorer_button = QPushButton("Open in block explorer")
        self.explorer_button.setToolTip(self.explorer_url or "")
        self.explorer_button.clicked.connect(self.open_in_explorer)
        # No public explorer knows a local regtest chain: no button unless one is configured.
        self.explorer_button.setVisible(self.explorer_url is not None)
        txid_row = QHBoxLayout()
        txid_row.addWidget(self.txid_label, 1)
        txid_row.addWidget(self.copy_button)
        txid_row.addWidget(self.explorer_button)
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
        layout.addWidget(self._bump_row(details, direction))
        layout.addLayout(buttons)
        self.resize(760, 520)

    def _bump_row(self, details: TransactionDetails, direction: str) -> QWidget:
        """Bump fee (RBF): for this wallet's own payments while they are unconfirmed."""
        holder = QWidget()
        holder.setObjectName("feeBump")
        row = QHBoxLayout(holder)
        row.setContentsMargins(0, 0, 0, 0)
        rate = details.fee_rate_sat_vb
        self.bump_rate = FeeRateField(self.amounts)
        self.bump_rate.setObjectName("bumpFeeRate")
        self.bump_rate.setAccessibleName("New fee rate in sat/vB")
        self.bump_rate.setPlaceholderText("sat/vB")
        if rate is not None:
            self.bump_rate.setValue(float(int(rate + 1.999)))
        self.bump_rate.textEdited.connect(self._bump_edited)
        self.bump_button = QPushButton("Bump fee…")
        self.bump_button.setToolTip(
            "Replace this payment with one paying a higher fee rate, so it confirms sooner "
            "(RBF, BIP125). The recipient gets the same amount; your change pays the fee."
        )
        self.bump_button.clicked.connect(self.bump_clicked)
        self.bump_result = QLabel("")
        self.bump_result.setWordWrap(True)
        row.addWidget(QLabel("New fee rate"))
        row.addWidget(self.bump_rate)
        row.addWidget(QLabel("sat/vB"))
        row.addWidget(self.bump_button)
        row.addWidget(self.bump_result, 1)
        can_bump = (
            self.bumper is not None
            and details.item.confirmations == 0
            and direction in ("out", "self")
        )
        holder.setVisible(can_bump)
        return holder

    def _bump_edited(self) -> None:
        # A reviewed replacement is for the rate reviewed: a new rate needs a new review.
        self.bump_plan = None
        self.bump_button.setText("Bump fee…")
        self._bump_says("")

    def _bump_says(self, text: str, tone: str = "hint") -> None:
        self.bump_result.setObjectName(tone)
        self.bump_result.setText(text)
        self.bump_result.style().unpolish(self.bump_result)
        self.bump_result.style().polish(self.bump_result)

    def bump_clicked(self) -> None:
        """First click: build the replacement and show its fee; second click: send it."""
        bumper = self.bumper
        if bumper is None:
            return
        if self.bump_plan is not None:
            self._send_bump(bumper)
            return
        try:
            rate = self.bump_rate.value()
        except ValueError as error:
            self._bump_says(str(error), "error")
            return
        self.bump_button.setEnabled(False)

        async def review() -> None:
            try:
                plan = await asyncio.to_thread(bumper.plan, self.txid, rate)
            except Exception as error:
                self._bump_says(user_message(error, "The fee cannot be bumped"), "error")
            else:
                self.bump_plan = plan
                self.bump_button.setText("Replace payment")
                self._bump_says(
                    f"New fee {self.amounts.text(plan.fee_sat)} "
                    f"({self.amounts.fee_rate_text(plan.fee_rate_sat_vb)} sat/vB), was "
                    f"{self.amounts.text(plan.original_fee_sat)}. Click Replace payment to send."
                )
            finally:
                self.bump_button.setEnabled(True)

        bumper.start(review())

    def _send_bump(self, bumper: FeeBumper) -> None:
        plan = self.bump_plan
        self.bump_button.setEnabled(False)
        self.bump_rate.setEnabled(False)
        self._bump_says("Sending the replacement…")

        async def send() -> None:
            try:
                txid = await bumper.send(plan)
            except Exception as error:
                self._bump_says(user_message(error, "The replacement was not sent"), "error")
                self.bump_button.setEnabled(True)
                self.bump_rate.setEnabled(True)
            else:
                self._bump_says(f"Fee bumped: the payment is now {txid}.", "success")
                self.fee_bumped.emit(txid)

        bumper.start(send())

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

    def open_in_explorer(self) -> None:
        if self.explorer_url is not None:
            QDesktopServices.openUrl(QUrl(self.explorer_url))

    def copy_txid(self) -> None:
        QGuiApplication.clipboard().setText(self.txid)
        self.copy_button.setText("Copied")
        self._copied_timer.start()
