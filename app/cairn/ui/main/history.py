"""History: every wallet transaction with type, amount, fee, status, time and an editable label.

A transaction without a label of its own shows the labels of the receive addresses it pays (in
grey); a label typed in the table becomes the transaction's own. Right-click a row to copy its
txid, edit its label or open its details.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QMenu,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cairn.ui.main.amounts import Amounts
from cairn.ui.main.errors import user_message
from cairn.ui.main.formatting import local_time
from cairn.ui.main.model import HistoryItemView, WalletView
from cairn.ui.main.tasks import TaskGroup

Index = QModelIndex | QPersistentModelIndex

COLUMNS = ("Date", "Type", "Label", "Amount", "Fee", "Status")
DATE, DIRECTION, LABEL, AMOUNT, FEE, STATUS = range(len(COLUMNS))
SETTLED = 6  # confirmations after which a payment reads as simply "Confirmed"

DIRECTION_TEXT = {"in": "Received", "out": "Sent", "self": "To yourself"}
# The wallet says "in"/"out"/"self"; older spellings are accepted so the view never shows raw codes.
DIRECTION_ALIASES = {"received": "in", "incoming": "in", "sent": "out", "outgoing": "out"}
INCOMING = QColor("#2f7d57")
OUTGOING = QColor("#3b4a54")
FROM_ADDRESS = QColor("#6b7780")  # a label borrowed from the receive address, not the tx's own

EMPTY_TEXT = {
    "loading": "Loading your transactions…",
    "searching": "Looking for your transactions on the blockchain…",
    "offline": (
        "No transactions found on this computer yet. The chain server could not be reached, "
        "so payments it has not shown yet may be missing: Cairn keeps trying."
    ),
    "done": "No transactions yet. Payments you send and receive appear here.",
}


def status_text(confirmations: int) -> str:
    if confirmations <= 0:
        return "Pending"
    if confirmations >= SETTLED:
        return "Confirmed"
    return f"{confirmations} confirmation{'s' if confirmations != 1 else ''}"


def direction_of(item: HistoryItemView) -> str:
    raw = str(getattr(item.direction, "value", item.direction)).lower()
    return DIRECTION_ALIASES.get(raw, raw)


def signed_amount(item: HistoryItemView) -> int:
    return -item.amount_sat if direction_of(item) != "in" else item.amount_sat


def _address_labels(item: HistoryItemView) -> tuple[str, ...]:
    return tuple(getattr(item, "address_labels", ()) or ())


def _newest_first(item: HistoryItemView) -> tuple[int, float]:
    # Unconfirmed first, then by time; a missing time sorts as "now" (it is in the mempool).
    when = item.time if item.time is not None else datetime.now(UTC).timestamp()
    return (0 if item.confirmations <= 0 else 1, -when)


class HistoryModel(QAbstractTableModel):
    label_edited = Signal(str, str)  # txid, label

    def __init__(self, amounts: Amounts, parent: Any = None) -> None:
        super().__init__(parent)
        self.amounts = amounts
        self.items: list[HistoryItemView] = []
        self.labels: dict[str, str] = {}
        amounts.changed.connect(self._amounts_changed)

    def _amounts_changed(self) -> None:
        if self.items:
            self.dataChanged.emit(self.index(0, AMOUNT), self.index(len(self.items) - 1, FEE))

    def set_items(self, items: Sequence[HistoryItemView]) -> None:
        ordered = sorted(items, key=_newest_first)
        if [i.txid for i in ordered] != [i.txid for i in self.items]:
            self.beginResetModel()
            self.items = ordered
            self.labels = {i.txid: i.label or "" for i in ordered}
            self.endResetModel()
            return
        # Same rows: update in place, so a label being typed (an open editor) survives the
        # reload that every sync brings; only cells whose text changed are announced.
        for row, (old, new) in enumerate(zip(self.items, ordered, strict=True)):
            before = [self._text(old, column) for column in range(len(COLUMNS))]
            self.items[row] = new
            self.labels[new.txid] = new.label or ""
            for column in range(len(COLUMNS)):
                if self._text(new, column) != before[column]:
                    index = self.index(row, column)
                    self.dataChanged.emit(index, index)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.items)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            # A heading sits over its column's text: amounts are right-aligned, so are theirs.
            side = (
                Qt.AlignmentFlag.AlignRight
                if section in (AMOUNT, FEE)
                else Qt.AlignmentFlag.AlignLeft
            )
            return int(side | Qt.AlignmentFlag.AlignVCenter)
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = super().flags(index)
        if index.column() == LABEL:
            return base | Qt.ItemFlag.ItemIsEditable
        return base

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self.items[index.row()]
        column = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return self._text(item, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(item, column)
        if role == Qt.ItemDataRole.ForegroundRole and column == AMOUNT:
            return INCOMING if direction_of(item) == "in" else OUTGOING
        if role == Qt.ItemDataRole.ForegroundRole and column == LABEL and self._borrowed(item):
            return FROM_ADDRESS
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (AMOUNT, FEE):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _text(self, item: HistoryItemView, column: int) -> str:
        if column == DATE:
            if item.confirmations <= 0:
                return "In mempool"
            return local_time(datetime.fromtimestamp(item.time, UTC)) if item.time else "—"
        if column == DIRECTION:
            return DIRECTION_TEXT.get(direction_of(item), direction_of(item))
        if column == LABEL:
            return self.labels.get(item.txid, "") or "; ".join(_address_labels(item))
        if column == AMOUNT:
            return self.amounts.text(signed_amount(item), signed=True)
        if column == FEE:
            shown = item.fee_sat and direction_of(item) != "in"
            return self.amounts.text(item.fee_sat or 0) if shown else ""
        return status_text(item.confirmations)

    def _borrowed(self, item: HistoryItemView) -> bool:
        return not self.labels.get(item.txid) and bool(_address_labels(item))

    def _tooltip(self, item: HistoryItemView, column: int) -> str:
        lines = [f"Transaction {item.txid}"]
        if item.confirmations:
            lines.append(f"{item.confirmations:,} confirmations")
        if column == LABEL and self._borrowed(item):
            lines.append("The label of the address this payment went to; edit to label it.")
        if column in (AMOUNT, FEE):
            sats = signed_amount(item) if column == AMOUNT else (item.fee_sat or 0)
            lines.append(self.amounts.other_unit_text(sats))
        return "\n".join(lines)

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or index.column() != LABEL:
            return False
        item = self.items[index.row()]
        txid = item.txid
        label = str(value).strip()
        if self.labels.get(txid, "") == label:
            return False
        if self._borrowed(item) and label == self._text(item, LABEL):
            return False  # the address's label left as it was: nothing to store
        self.labels[txid] = label
        self.dataChanged.emit(index, index)
        self.label_edited.emit(txid, label)
        return True

    def txid_at(self, row: int) -> str:
        return self.items[row].txid

    def row_of(self, txid: str) -> int | None:
        for row, item in enumerate(self.items):
            if item.txid == txid:
                return row
        return None


class HistoryPanel(QWidget):
    details_requested = Signal(str)  # txid

    def __init__(
        self,
        wallet: WalletView,
        tasks: TaskGroup,
        amounts: Amounts,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("historyPanel")
        self.wallet = wallet
        self.tasks = tasks
        self.model = HistoryModel(amounts, self)
        self.model.label_edited.connect(self._store_label)
        self.table = QTableView()
        self.table.setObjectName("history")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.SelectedClicked
        )
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.activated.connect(self._activated)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        for column in (DATE, DIRECTION, AMOUNT, FEE, STATUS):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(LABEL, QHeaderView.ResizeMode.Stretch)
        self.empty = QLabel(EMPTY_TEXT["loading"])
        self.empty.setObjectName("hint")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.notice = QLabel("")
        self.notice.setObjectName("error")
        self.notice.hide()
        self.menu: QMenu | None = None
        self.loaded = False
        self.chain_state = "searching"  # until a sync says otherwise
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 16)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.empty, 1)
        layout.addWidget(self.notice)
        self._show_empty()

    def _show_empty(self) -> None:
        empty = not self.model.items
        # Never a false "no transactions": say what is still going on until it is known.
        self.empty.setText(EMPTY_TEXT[self.chain_state if self.loaded else "loading"])
        self.empty.setVisible(empty)
        self.table.setVisible(not empty)

    def show_items(self, items: Sequence[HistoryItemView]) -> None:
        self.model.set_items(items)
        self.loaded = True
        self._show_empty()

    def set_chain_state(self, state: str) -> None:
        """``searching`` (no sync finished yet), ``offline`` or ``done``."""
        self.chain_state = state
        self._show_empty()

    async def reload(self) -> None:
        try:
            items = await asyncio.to_thread(self.wallet.history)
        except Exception as error:
            self.notice.setText(user_message(error, "The history could not be loaded"))
            self.notice.show()
            return
        self.notice.hide()
        self.show_items(items)

    # row actions --------------------------------------------------------------------------

    def _activated(self, index: QModelIndex) -> None:
        if index.isValid() and index.column() != LABEL:
            self.details_requested.emit(self.model.txid_at(index.row()))

    def _context_menu(self, position: QPoint) -> None:
        index = self.table.indexAt(position)
        if not index.isValid():
            return
        self.table.selectRow(index.row())
        self.menu = self.row_menu(index.row())
        self.menu.popup(self.table.viewport().mapToGlobal(position))

    def row_menu(self, row: int) -> QMenu:
        """The right-click menu of one history row."""
        txid = self.model.txid_at(row)
        menu = QMenu(self)
        menu.setObjectName("historyMenu")
        menu.addAction("Details…", lambda: self.details_requested.emit(txid))
        menu.addAction("Copy transaction ID", lambda: self.copy_txid(txid))
        label_index = self.model.index(row, LABEL)
        menu.addAction("Edit label", lambda: self.table.edit(label_index))
        item = self.model.items[row]
        if item.confirmations == 0 and direction_of(item) in ("out", "self"):
            # The details show the fee and where to type the new rate.
            menu.addAction("Bump fee…", lambda: self.details_requested.emit(txid))
        return menu

    def copy_txid(self, txid: str) -> None:
        QGuiApplication.clipboard().setText(txid)

    def _store_label(self, txid: str, label: str) -> None:
        self.tasks.start(self._save_label(txid, label))

    async def _save_label(self, txid: str, label: str) -> None:
        try:
            await self.wallet.set_label("tx", txid, label or None)
        except Exception as error:
            self.notice.setText(user_message(error, "The label was not saved"))
            self.notice.show()
