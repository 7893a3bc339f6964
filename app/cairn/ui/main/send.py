"""Send: recipient, amount or everything, fee rate; a review of fee, total and change; sign, broadcast.

Every failure (a bad amount, insufficient funds, dust, an invalid or other-network address, a
rejected broadcast) is shown inline under the form; nothing here raises into Qt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cairn.ui.main.errors import user_message
from cairn.ui.main.formatting import btc, parse_btc
from cairn.ui.main.model import WalletView
from cairn.ui.main.tasks import TaskGroup

DEFAULT_FEE_RATE = 2.0
# Confirmation targets offered as presets, in blocks.
FEE_TARGETS: tuple[tuple[str, int], ...] = (
    ("Fast · next block", 1),
    ("Normal · about an hour", 6),
    ("Slow · about a day", 144),
)


def pick_estimate(estimates: Mapping[Any, float], target: int) -> float | None:
    """The estimate for the nearest target at or above `target` (Esplora gives sparse targets)."""
    by_target = sorted((int(k), float(v)) for k, v in estimates.items())
    for blocks, rate in by_target:
        if blocks >= target:
            return rate
    return by_target[-1][1] if by_target else None


def _row(layout: QHBoxLayout) -> QWidget:
    """A layout as one widget, so the form centres its caption like a plain field's."""
    layout.setContentsMargins(0, 0, 0, 0)
    holder = QWidget()
    holder.setLayout(layout)
    return holder


class FeeRateField(QLineEdit):
    """A fee rate in sat/vB, typed or set from a preset (one decimal)."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("feeRate")
        self.setMaximumWidth(90)
        self.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def value(self) -> float:
        """The rate typed; ValueError with a readable reason if it is not a number."""
        try:
            return float(self.text().strip().replace(",", "."))
        except ValueError:
            raise ValueError(f"“{self.text().strip()}” is not a fee rate in sat/vB.") from None

    def setValue(self, rate: float) -> None:
        self.setText(f"{rate:.1f}")


class SendPanel(QWidget):
    payment_sent = Signal(str)  # txid

    def __init__(self, wallet: WalletView, tasks: TaskGroup, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sendPanel")
        self.wallet = wallet
        self.tasks = tasks
        self.plan: Any = None
        self.estimates: dict[int, float] = {}

        self.recipient = QLineEdit()
        self.recipient.setObjectName("recipient")
        self.recipient.setPlaceholderText("Bitcoin address")
        self.amount = QLineEdit()
        self.amount.setObjectName("amount")
        self.amount.setPlaceholderText("0.00000000")
        self.everything = QCheckBox("Send everything")
        self.everything.toggled.connect(self._everything_toggled)
        amount_row = QHBoxLayout()
        amount_row.addWidget(self.amount, 1)
        amount_row.addSpacing(6)
        amount_row.addWidget(QLabel("BTC"))
        amount_row.addSpacing(16)
        amount_row.addWidget(self.everything)

        self.fee_preset = QComboBox()
        self.fee_preset.setObjectName("feePreset")
        self.fee_rate = FeeRateField()
        self.fee_rate.setValue(DEFAULT_FEE_RATE)
        self.fee_rate.textEdited.connect(self._fee_rate_edited)
        self.fee_preset.activated.connect(self._preset_chosen)
        fee_row = QHBoxLayout()
        fee_row.addWidget(self.fee_preset, 1)
        fee_row.addWidget(self.fee_rate)
        fee_row.addSpacing(6)
        fee_row.addWidget(QLabel("sat/vB"))

        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        form.setHorizontalSpacing(16)
        form.setVerticalSpacing(12)
        form.addRow("Pay to", self.recipient)
        form.addRow("Amount", _row(amount_row))
        form.addRow("Fee", _row(fee_row))

        self.error = QLabel("")
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        self.error.hide()

        self.review_button = QPushButton("Review payment")
        self.review_button.setObjectName("primary")
        self.review_button.clicked.connect(self.review)
        self.recipient.returnPressed.connect(self.review)
        self.amount.returnPressed.connect(self.review)
        review_row = QHBoxLayout()
        review_row.addStretch(1)
        review_row.addWidget(self.review_button)

        self.review_box = self._build_review()
        self.review_box.hide()

        self.result = QLabel("")
        self.result.setObjectName("success")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.result.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 24, 24, 24)
        layout.setSpacing(14)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addLayout(review_row)
        layout.addWidget(self.review_box)
        layout.addWidget(self.result)
        layout.addStretch(1)
        self._fill_presets()

    def _build_review(self) -> QFrame:
        box = QFrame()
        box.setObjectName("review")
        self.review_title = QLabel("Review")
        self.review_title.setObjectName("sectionTitle")
        self.review_to = QLabel()
        self.review_to.setObjectName("address")
        self.review_to.setWordWrap(True)
        self.review_amount = QLabel()
        self.review_fee = QLabel()
        self.review_total = QLabel()
        self.review_total.setObjectName("strong")
        self.review_change = QLabel()
        grid = QFormLayout()
        grid.setHorizontalSpacing(16)
        grid.addRow("To", self.review_to)
        grid.addRow("Amount", self.review_amount)
        grid.addRow("Network fee", self.review_fee)
        grid.addRow("Total", self.review_total)
        grid.addRow("Change back to you", self.review_change)
        self.edit_button = QPushButton("Edit")
        self.edit_button.clicked.connect(self.back_to_edit)
        self.send_button = QPushButton("Sign and send")
        self.send_button.setObjectName("primary")
        self.send_button.clicked.connect(self.sign_and_send)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.edit_button)
        buttons.addWidget(self.send_button)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(16, 14, 16, 14)
        layout.addWidget(self.review_title)
        layout.addLayout(grid)
        layout.addLayout(buttons)
        return box

    # fee estimates -------------------------------------------------------------------------

    async def load_fee_estimates(self) -> None:
        try:
            estimates = await self.wallet.fee_estimates()
        except Exception:
            # Estimates are a convenience: the rate stays editable and the form says why.
            self.fee_preset.setItemText(0, "Estimates unavailable · enter a rate")
            return
        self.estimates = {int(k): float(v) for k, v in dict(estimates).items()}
        self._fill_presets()
        self._preset_chosen(self.fee_preset.currentIndex())

    def _fill_presets(self) -> None:
        self.fee_preset.clear()
        for name, target in FEE_TARGETS:
            rate = pick_estimate(self.estimates, target)
            if rate is not None:
                self.fee_preset.addItem(f"{name} · {rate:.1f} sat/vB", rate)
        if self.fee_preset.count() == 0:
            self.fee_preset.addItem("Custom rate", None)
        else:
            self.fee_preset.addItem("Custom rate", None)
            self.fee_preset.setCurrentIndex(min(1, self.fee_preset.count() - 2))

    def _preset_chosen(self, index: int) -> None:
        rate = self.fee_preset.itemData(index)
        if rate is not None:
            self.fee_rate.setValue(max(1.0, float(rate)))

    def _fee_rate_edited(self, _text: str) -> None:
        self.fee_preset.setCurrentIndex(self.fee_preset.count() - 1)

    # form ----------------------------------------------------------------------------------

    def _everything_toggled(self, on: bool) -> None:
        self.amount.setEnabled(not on)
        if on:
            self.amount.clear()
            self.amount.setPlaceholderText("Everything in the wallet, minus the fee")
        else:
            self.amount.setPlaceholderText("0.00000000")

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))

    def _set_editable(self, editable: bool) -> None:
        for widget in (self.recipient, self.fee_rate, self.fee_preset, self.everything):
            widget.setEnabled(editable)
        self.amount.setEnabled(editable and not self.everything.isChecked())
        self.review_button.setEnabled(editable)

    def review(self) -> None:
        """Check the form, then build the payment in a worker thread and show the review."""
        self.show_error("")
        self.result.hide()
        recipient = self.recipient.text().strip()
        if not recipient:
            self.show_error("Enter the address to pay.")
            return
        amount: int | None = None
        if not self.everything.isChecked():
            try:
                amount = parse_btc(self.amount.text())
            except ValueError as error:
                self.show_error(str(error))
                return
        try:
            rate = self.fee_rate.value()
        except ValueError as error:
            self.show_error(str(error))
            return
        self._set_editable(False)
        self.review_button.setText("Checking…")
        self.tasks.start(self._plan(recipient, amount, rate))

    async def _plan(self, recipient: str, amount: int | None, fee_rate: float) -> None:
        try:
            plan = await asyncio.to_thread(self.wallet.plan_payment, recipient, amount, fee_rate)
        except Exception as error:
            self._set_editable(True)
            self.show_error(user_message(error, "The payment could not be prepared"))
            return
        finally:
            self.review_button.setText("Review payment")
        self.plan = plan
        self.review_to.setText(plan.recipient)
        self.review_amount.setText(btc(plan.amount_sat))
        self.review_fee.setText(
            f"{btc(plan.fee_sat)}  ({plan.fee_sat:,} sat at {plan.fee_rate_sat_vb:.1f} sat/vB)"
        )
        self.review_total.setText(btc(plan.total_sat))
        self.review_change.setText(btc(plan.change_sat) if plan.change_sat else "None")
        self.send_button.setEnabled(True)
        self.edit_button.setEnabled(True)
        self.review_box.show()
        self.send_button.setFocus()

    def back_to_edit(self) -> None:
        self.plan = None
        self.review_box.hide()
        self._set_editable(True)

    def sign_and_send(self) -> None:
        if self.plan is None:
            return
        self.send_button.setEnabled(False)
        self.edit_button.setEnabled(False)
        self.send_button.setText("Sending…")
        self.tasks.start(self._send(self.plan))

    async def _send(self, plan: Any) -> None:
        try:
            txid = await self.wallet.send(plan)
        except Exception as error:
            self.send_button.setText("Sign and send")
            self.edit_button.setEnabled(True)
            self.send_button.setEnabled(True)
            self.show_error(user_message(error, "The payment was not sent"))
            return
        self.send_button.setText("Sign and send")
        self.plan = None
        self.review_box.hide()
        self.recipient.clear()
        self.amount.clear()
        self.everything.setChecked(False)
        self._set_editable(True)
        self.result.setText(f"Sent {btc(plan.amount_sat)}. Transaction {txid}")
        self.result.show()
        self.payment_sent.emit(str(txid))
