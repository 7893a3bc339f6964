"""Buttons beside the backup status for what needs the user: conflicts, a rollback, an erase."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QHBoxLayout, QPushButton, QWidget

from cairn.ui.main.backup_status import BackupStatusSignals
from cairn.ui.main.model import MainWindowSession

if TYPE_CHECKING:
    from cairn.ui.main.conflicts import ConflictsDialog

Start = Callable[[Coroutine[Any, Any, None]], object]


class BackupActions(QWidget):
    """Shows a button only while there is something to decide."""

    def __init__(
        self,
        session: MainWindowSession,
        signals: BackupStatusSignals,
        start: Start,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.signals = signals
        self._start = start
        self.dialog: ConflictsDialog | None = None
        self.review = QPushButton()
        self.review.setObjectName("quiet")
        self.review.clicked.connect(self.open_conflicts)
        self.dismiss = QPushButton("Dismiss")
        self.dismiss.setObjectName("quiet")
        self.dismiss.setToolTip("I have read this")
        self.dismiss.clicked.connect(lambda: self._start(self.session.dismiss_backup_notice()))
        self.again = QPushButton("Back up here again")
        self.again.setToolTip("Upload this wallet's backup to the server again")
        self.again.clicked.connect(lambda: self._start(self.session.back_up_here_again()))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for button in (self.review, self.dismiss, self.again):
            layout.addWidget(button)
        signals.changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        status = self.signals.status.current
        count = status.conflicts
        self.review.setText(f"Review {count} conflict{'s' if count != 1 else ''}")
        self.review.setVisible(count > 0)
        self.dismiss.setVisible(status.notice_kind == "rollback")
        self.again.setVisible(status.notice_kind == "erased")

    def open_conflicts(self) -> None:
        from cairn.ui.main.conflicts import ConflictsDialog  # only when there are some

        async def show() -> None:
            conflicts = await self.session.conflicts()
            dialog = ConflictsDialog(conflicts, self.window())
            dialog.resolve.connect(self._resolve)
            self.dialog = dialog
            # open(), not exec(): a nested event loop inside a coroutine is not safe here.
            dialog.open()

        self._start(show())

    def _resolve(self, name: str, keep: int) -> None:
        async def settle() -> None:
            await self.session.resolve_conflict(name, keep)
            await self.session.back_up_now()

        self._start(settle())
