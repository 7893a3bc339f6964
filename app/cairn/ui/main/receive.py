"""Receive: the next unused address, its QR code, copy, and a label for it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cairn.ui.main.errors import user_message
from cairn.ui.main.model import ReceiveAddressView, WalletView
from cairn.ui.main.qr import qr_image
from cairn.ui.main.tasks import TaskGroup

QR_SIZE = 220
COPIED_MS = 2500  # how long "Copied" stays beside the button


class ReceivePanel(QWidget):
    """Shows the next unused address; a label typed here is stored on the address (BIP-329)."""

    def __init__(self, wallet: WalletView, tasks: TaskGroup, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("receivePanel")
        self.wallet = wallet
        self.tasks = tasks
        self.address = ""
        # One request at a time: two overlapping "current address" calls on a fresh wallet
        # would each hand out an address, skipping one.
        self._fetching = asyncio.Lock()

        intro = QLabel(
            "Share this address to receive bitcoin. A fresh one appears once it is used."
        )
        intro.setObjectName("hint")
        intro.setWordWrap(True)

        self.qr = QLabel()
        self.qr.setObjectName("qrCode")
        self.qr.setFixedSize(QR_SIZE + 16, QR_SIZE + 16)
        self.qr.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.address_label = QLabel("Loading address…")
        self.address_label.setObjectName("address")
        self.address_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.address_label.setWordWrap(True)

        self.copy_button = QPushButton("Copy address")
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self.copy_address)
        self.new_button = QPushButton("New address")
        self.new_button.setObjectName("quiet")
        self.new_button.clicked.connect(self.new_address)
        self.copied = QLabel("")
        self.copied.setObjectName("hint")
        self._copied_timer = QTimer(self)
        self._copied_timer.setSingleShot(True)
        self._copied_timer.setInterval(COPIED_MS)
        self._copied_timer.timeout.connect(self.copied.clear)

        self.label_edit = QLineEdit()
        self.label_edit.setPlaceholderText("Label (who is paying, what for) — optional")
        self.label_edit.returnPressed.connect(self._save_label)
        self.save_label_button = QPushButton("Save label")
        self.save_label_button.setEnabled(False)
        self.save_label_button.clicked.connect(self._save_label)
        self.label_status = QLabel("")
        self.label_status.setObjectName("hint")
        # "Label saved" describes the text as it was saved: stale as soon as it is edited.
        self.label_edit.textEdited.connect(lambda _text: self.label_status.clear())

        copy_row = QHBoxLayout()
        copy_row.addWidget(self.copy_button)
        copy_row.addWidget(self.new_button)
        copy_row.addWidget(self.copied)
        copy_row.addStretch(1)
        label_row = QHBoxLayout()
        label_row.addWidget(self.label_edit, 1)
        label_row.addWidget(self.save_label_button)

        details = QVBoxLayout()
        details.setSpacing(10)
        details.addWidget(intro)
        caption = QLabel("Address")
        caption.setObjectName("caption")
        details.addWidget(caption)
        details.addWidget(self.address_label)
        details.addLayout(copy_row)
        details.addSpacing(8)
        details.addLayout(label_row)
        details.addWidget(self.label_status)
        details.addStretch(1)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(24, 24, 24, 24)
        layout.setSpacing(24)
        layout.addWidget(self.qr, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(details, 1)

    def show_address(self, address: str, label: str | None = None) -> None:
        if address == self.address:
            return
        self.address = address
        self.address_label.setText(address)
        self.qr.setPixmap(QPixmap.fromImage(qr_image(f"bitcoin:{address}", QR_SIZE)))
        self.copy_button.setEnabled(True)
        self.save_label_button.setEnabled(True)
        self.copied.clear()
        self.label_edit.setText(label or "")
        self.label_status.clear()

    def copy_address(self) -> None:
        QGuiApplication.clipboard().setText(self.address)
        self.copied.setText("Copied")
        self._copied_timer.start()

    async def reload(self) -> None:
        """Show the address handed out last while it is unused; once paid, a new one."""
        await self._fetch(self.wallet.current_receive_address)

    def new_address(self) -> None:
        """A fresh address (one per payer keeps payments apart)."""
        self.new_button.setEnabled(False)
        self.tasks.start(self._fetch(self.wallet.next_receive_address))

    async def _fetch(self, get: Callable[[], Awaitable[ReceiveAddressView]]) -> None:
        try:
            async with self._fetching:
                received = await get()
                if received.address == self.address:
                    return
                # An address handed out before (this run or before a restore) keeps its label.
                label = await asyncio.to_thread(self.wallet.label, "addr", received.address)
        except Exception as error:
            self.address_label.setText(user_message(error, "Could not get an address"))
            return
        finally:
            self.new_button.setEnabled(True)
        self.show_address(received.address, label)

    def _save_label(self) -> None:
        if self.address:
            self.label_status.setText("Saving…")
            self.tasks.start(self._store_label(self.address, self.label_edit.text().strip()))

    async def _store_label(self, address: str, label: str) -> None:
        try:
            await self.wallet.set_label("addr", address, label or None)
        except Exception as error:
            self.label_status.setText(user_message(error, "The label was not saved"))
            return
        if address == self.address:
            self.label_status.setText(f"Label saved: {label}" if label else "Label removed")
