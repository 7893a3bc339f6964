"""Send: recipient, amount or everything, fee rate; a review of fee, total and change; sign, broadcast.

Every failure (a bad amount, insufficient funds, dust, an invalid or other-network address, a
rejected broadcast) is shown inline below the buttons, so no button moves under the pointer, and
is cleared as soon as the user edits the form; nothing here raises into Qt. A `bitcoin:` link
pasted as the recipient fills in address, amount and description. The description becomes the
transaction's label.
"""

from __future__ import annotations

import asyncio
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from cairn.ui.main.amounts import Amounts
from cairn.ui.main.errors import user_message
from cairn.ui.main.fee_rate import FeeRateField, pick_estimate
from cairn.ui.main.model import WalletView
from cairn.ui.main.tasks import TaskGroup
from cairn.wallet.bip21 import PaymentUriError, is_payment_uri, parse_payment_uri
from cairn.wallet.errors import DustAmount, InsufficientFunds

DEFAULT_FEE_RATE = 2.0
# Confirmation targets offered as presets, in blocks.
FEE_TARGETS: tuple[tuple[str, int], ...] = (
    ("Fast · next block", 1),
    ("Normal · about an hour", 6),
    ("Slow · about a day", 144),
)


def _row(layout: QHBoxLayout) -> QWidget:
    """A layout as one widget, so the form centres its caption like a plain field's."""
    layout.setContentsMargins(0, 0, 0, 0)
    holder = QWidget()
    holder.setLayout(layout)
    return holder


class SendPanel(QWidget):
    payment_sent = Signal(str)  # txid
    details_requested = Signal(str)  # txid

    def __init__(
        self,
        wallet: WalletView,
        tasks: TaskGroup,
        amounts: Amounts,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("sendPanel")
        self.wallet = wallet
        self.tasks = tasks
        self.amounts = amounts
        self.plan: Any = None
        self.last_txid = ""
        self.estimates: dict[int, float] = {}

        self.recipient = QLineEdit()
        self.recipient.setObjectName("recipient")
        self.recipient.setPlaceholderText("Bitcoin address, or a bitcoin: payment link")
        self.amount = QLineEdit()
        self.amount.setObjectName("amount")
        self.everything = QCheckBox("Send everything")
        self.everything.toggled.connect(self._everything_toggled)
        self.unit_label = QLabel()
        self.unit_label.setObjectName("unit")
        amount_row = QHBoxLayout()
        amount_row.addWidget(self.amount, 1)
        amount_row.addSpacing(6)
        amount_row.addWidget(self.unit_label)
        amount_row.addSpacing(16)
        amount_row.addWidget(self.everything)
        self.description = QLineEdit()
        self.description.setObjectName("description")
        self.description.setPlaceholderText(
            "What is it for? Optional: becomes the payment's label in your history"
        )
        self.filled_from_link = QLabel("")
        self.filled_from_link.setObjectName("hint")
        self.filled_from_link.setWordWrap(True)
        self.filled_from_link.hide()

        self.fee_preset = QComboBox()
        self.fee_preset.setObjectName("feePreset")
        self.fee_rate = FeeRateField(amounts)
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
        form.addRow("", self.filled_from_link)
        form.addRow("Amount", _row(amount_row))
        form.addRow("Description", self.description)
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
        self.copy_txid_button = QPushButton("Copy transaction ID")
        self.copy_txid_button.setObjectName("quiet")
        self.copy_txid_button.clicked.connect(
            lambda: QGuiApplication.clipboard().setText(self.last_txid)
        )
        self.details_button = QPushButton("Details…")
        self.details_button.setObjectName("quiet")
        self.details_button.clicked.connect(lambda: self.details_requested.emit(self.last_txid))
        result_row = QHBoxLayout()
        result_row.addWidget(self.copy_txid_button)
        result_row.addWidget(self.details_button)
        result_row.addStretch(1)
        self.result_actions = _row(result_row)
        self.result_actions.hide()

        # Messages go below every button, and the form scrolls rather than being squeezed
        # when the window is short: showing or hiding a message never moves a button.
        body = QWidget()
        body.setObjectName("sendBody")
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(24, 24, 24, 24)
        layout.setSpacing(14)
        layout.addLayout(form)
        layout.addLayout(review_row)
        layout.addWidget(self.review_box)
        layout.addWidget(self.error)
        layout.addWidget(self.result)
        layout.addWidget(self.result_actions)
        layout.addStretch(1)
        self._fill_presets()
        self._show_unit()
        amounts.changed.connect(self._show_unit)
        # A message about the form is stale once the form changes.
        for field in (self.amount, self.fee_rate, self.description):
            field.textEdited.connect(self._form_edited)
        self.recipient.textEdited.connect(self._recipient_edited)
        self.everything.toggled.connect(self._form_edited)
        self.fee_preset.activated.connect(self._form_edited)

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
                self.fee_preset.addItem(f"{name} · {self.amounts.fee_rate_text(rate)} sat/vB", rate)
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

    def _show_unit(self) -> None:
        self._show_review()
        self.unit_label.setText(self.amounts.unit.value)
        if not self.everything.isChecked():
            self.amount.setPlaceholderText(self.amounts.placeholder)

    def _everything_toggled(self, on: bool) -> None:
        self.amount.setEnabled(not on)
        if on:
            self.amount.clear()
            self.amount.setPlaceholderText("Everything in the wallet, minus the fee")
        else:
            self.amount.setPlaceholderText(self.amounts.placeholder)

    def _form_edited(self, *_args: object) -> None:
        self.show_error("")

    def _recipient_edited(self, text: str) -> None:
        self.show_error("")
        self.fill_from(text)

    def fill_from(self, text: str) -> None:
        """Fill the form from a `bitcoin:` link (typed, pasted or handed over); else nothing."""
        if not is_payment_uri(text):
            if not text.strip():
                self.filled_from_link.hide()
            return
        try:
            request = parse_payment_uri(text)
        except PaymentUriError as error:
            self.show_error(str(error))
            return
        self.recipient.setText(request.address)
        filled = ["address"]
        if request.amount_sat is not None:
            self.everything.setChecked(False)
            self.amount.setText(self.amounts.number(request.amount_sat))
            filled.append("amount")
        note = " — ".join(part for part in (request.label, request.message) if part)
        if note:
            self.description.setText(note)
            filled.append("description")
        self.filled_from_link.setText(
            f"Filled in from the payment link: {', '.join(filled)}. Check them before you send."
        )
        self.filled_from_link.show()

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))

    def _set_editable(self, editable: bool) -> None:
        for widget in (
            self.recipient,
            self.fee_rate,
            self.fee_preset,
            self.everything,
            self.description,
        ):
            widget.setEnabled(editable)
        self.amount.setEnabled(editable and not self.everything.isChecked())
        self.review_button.setEnabled(editable)

    def review(self) -> None:
        """Check the form, then build the payment in a worker thread and show the review."""
        self.show_error("")
        self.result.hide()
        self.result_actions.hide()
        recipient = self.recipient.text().strip()
        if not recipient:
            self.show_error("Enter the address to pay.")
            return
        amount: int | None = None
        if not self.everything.isChecked():
            try:
                amount = self.amounts.parse(self.amount.text())
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

    def explain(self, error: BaseException, what_failed: str) -> str:
        """The message for a failed plan or send, amounts in the user's unit."""
        text = self.amounts.text
        if isinstance(error, InsufficientFunds):
            needed = (
                f" of the {text(error.needed_sat)} needed including the fee"
                if error.needed_sat is not None
                else ""
            )
            return (
                f"Not enough funds: {text(error.available_sat)} available{needed}. Send less, "
                "lower the fee rate, or wait for incoming payments to confirm."
            )
        if isinstance(error, DustAmount):
            return (
                f"{text(error.amount_sat)} is too small to send: the network does not relay "
                f"payments below {text(error.dust_limit_sat)} to this address. Send at least that."
            )
        return user_message(error, what_failed)

    async def _plan(self, recipient: str, amount: int | None, fee_rate: float) -> None:
        try:
            plan = await asyncio.to_thread(self.wallet.plan_payment, recipient, amount, fee_rate)
        except Exception as error:
            self._set_editable(True)
            self.show_error(self.explain(error, "The payment could not be prepared"))
            return
        finally:
            self.review_button.setText("Review payment")
        self.plan = plan
        self._show_review()
        self.send_button.setEnabled(True)
        self.edit_button.setEnabled(True)
        self.review_box.show()
        self.send_button.setFocus()

    def _show_review(self) -> None:
        plan = self.plan
        if plan is None:
            return
        text = self.amounts.text
        self.review_to.setText(plan.recipient)
        self.review_amount.setText(text(plan.amount_sat))
        self.review_fee.setText(
            f"{text(plan.fee_sat)}  (at {self.amounts.fee_rate_text(plan.fee_rate_sat_vb)} sat/vB)"
        )
        self.review_total.setText(text(plan.total_sat))
        self.review_change.setText(text(plan.change_sat) if plan.change_sat else "None")

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
        self.tasks.start(self._send(self.plan, self.description.text().strip()))

    async def _send(self, plan: Any, memo: str) -> None:
        try:
            txid = await self.wallet.send(plan, memo=memo)
        except Exception as error:
            self.send_button.setText("Sign and send")
            self.edit_button.setEnabled(True)
            self.send_button.setEnabled(True)
            self.show_error(self.explain(error, "The payment was not sent"))
            return
        self.send_button.setText("Sign and send")
        self.plan = None
        self.review_box.hide()
        self.recipient.clear()
        self.amount.clear()
        self.description.clear()
        self.filled_from_link.hide()
        self.everything.setChecked(False)
        self._set_editable(True)
        self.last_txid = str(txid)
        self.result.setText(f"Sent {self.amounts.text(plan.amount_sat)}. Transaction {txid}")
        self.result.show()
        self.result_actions.show()
        self.payment_sent.emit(str(txid))
