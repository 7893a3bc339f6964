"""The address list: every receive address handed out and every change address used, whether it
was paid, what it holds, and its label (editable here, stored as a BIP-329 address label)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cairn.ui.main.amounts import Amounts
from cairn.ui.main.errors import user_message
from cairn.ui.main.model import WalletView
from cairn.ui.main.tasks import TaskGroup

Index = QModelIndex | QPersistentModelIndex

COLUMNS = ("Type", "#", "Address", "Label", "Balance", "Used")
KIND, NUMBER, ADDRESS, LABEL, BALANCE, USED = range(len(COLUMNS))
KIND_TEXT = {"receive": "Receive", "change": "Change"}
FILTERS = (("All addresses", None), ("Receive", "receive"), ("Change", "change"))


class AddressModel(QAbstractTableModel):
    label_edited = Signal(str, str)  # address, label

    def __init__(self, amounts: Amounts, parent: Any = None) -> None:
        super().__init__(parent)
        self.amounts = amounts
        self.rows: list[Any] = []
        self.labels: dict[str, str] = {}
        amounts.changed.connect(self._amounts_changed)

    def set_rows(self, rows: Sequence[Any]) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.labels = {row.address: row.label or "" for row in self.rows}
        self.endResetModel()

    def _amounts_changed(self) -> None:
        if self.rows:
            self.dataChanged.emit(self.index(0, BALANCE), self.index(len(self.rows) - 1, BALANCE))

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            side = Qt.AlignmentFlag.AlignRight if section == BALANCE else Qt.AlignmentFlag.AlignLeft
            return int(side | Qt.AlignmentFlag.AlignVCenter)
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsEditable if index.column() == LABEL else base

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        column = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            if column == KIND:
                return KIND_TEXT.get(row.keychain, row.keychain)
            if column == NUMBER:
                return str(row.index)
            if column == ADDRESS:
                return row.address
            if column == LABEL:
                return self.labels.get(row.address, "")
            if column == BALANCE:
                return self.amounts.text(row.balance_sat) if row.balance_sat else ""
            if row.used:
                return f"Used · {row.payments} payment{'s' if row.payments != 1 else ''}"
            return "Unused"
        if role == Qt.ItemDataRole.TextAlignmentRole and column == BALANCE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or index.column() != LABEL:
            return False
        address = self.rows[index.row()].address
        label = str(value).strip()
        if self.labels.get(address, "") == label:
            return False
        self.labels[address] = label
        self.dataChanged.emit(index, index)
        self.label_edited.emit(address, label)
        return True

    def row_of(self, address: str) -> int | None:
        for number, row in enumerate(self.rows):
            if row.address == address:
                return number
        return None


class AddressesPanel(QWidget):
    def __init__(
        self, wallet: WalletView, tasks: TaskGroup, amounts: Amounts, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("addressesPanel")
        self.wallet = wallet
        self.tasks = tasks
        self.all_rows: list[Any] = []
        self.model = AddressModel(amounts, self)
        self.model.label_edited.connect(self._store_label)
        self.filter = QComboBox()
        self.filter.setObjectName("addressFilter")
        for text, kind in FILTERS:
            self.filter.addItem(text, kind)
        self.filter.currentIndexChanged.connect(lambda _i: self._show())
        intro = QLabel("Addresses this wallet has handed out, and the change addresses it used.")
        intro.setObjectName("hint")
        intro.setWordWrap(True)
        self.table = QTableView()
        self.table.setObjectName("addresses")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        for column in (KIND, NUMBER, ADDRESS, BALANCE, USED):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(LABEL, QHeaderView.ResizeMode.Stretch)
        self.notice = QLabel("")
        self.notice.setObjectName("error")
        self.notice.hide()
        top = QHBoxLayout()
        top.addWidget(intro, 1)
        top.addWidget(self.filter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 16)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.notice)

    async def reload(self) -> None:
        try:
            rows = await asyncio.to_thread(self.wallet.addresses)
        except Exception as error:
            self.notice.setText(user_message(error, "The addresses could not be read"))
            self.notice.show()
            return
        self.notice.hide()
        self.all_rows = list(rows)
        self._show()

    def _show(self) -> None:
        if self.table.state() == QAbstractItemView.State.EditingState:
            return  # a label being typed survives a reload; the next one shows the rest
        kind = self.filter.currentData()
        self.model.set_rows([r for r in self.all_rows if kind is None or r.keychain == kind])

    def _store_label(self, address: str, label: str) -> None:
        self.tasks.start(self._save_label(address, label))

    async def _save_label(self, address: str, label: str) -> None:
        try:
            await self.wallet.set_label("addr", address, label or None)
        except Exception as error:
            self.notice.setText(user_message(error, "The label was not saved"))
            self.notice.show()
