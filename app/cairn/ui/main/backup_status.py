"""The backup status, always visible in the status bar: state, last backup, pending changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from cairn.ui.main.formatting import relative_time
from cairn.ui.main.model import BackupSnapshotView, BackupStatusView


class BackupStatusSignals(QObject):
    """Turns the status model's callbacks (from any thread) into a Qt signal on the GUI thread."""

    changed = Signal()

    def __init__(self, status: BackupStatusView, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.status = status
        self._unsubscribe: Callable[[], None] | None = status.subscribe(self._notify)

    def bind(self, status: BackupStatusView) -> None:
        """Follow another status model (the session builds a new engine for a new server)."""
        if status is self.status:
            return
        self.detach()
        self.status = status
        self._unsubscribe = status.subscribe(self._notify)
        self.changed.emit()

    def _notify(self, *_: object) -> None:
        # Emitting from a worker thread queues the signal onto this object's (GUI) thread.
        self.changed.emit()

    def detach(self) -> None:
        if self._unsubscribe is not None:
            unsubscribe, self._unsubscribe = self._unsubscribe, None
            unsubscribe()


@dataclass(frozen=True)
class StatusText:
    """What the widget shows for one status snapshot."""

    tone: str  # ok | busy | warn | error
    headline: str
    detail: str


def _state_name(state: object) -> str:
    return str(getattr(state, "value", state)).lower()


def _when(unix: float | None) -> datetime | None:
    return datetime.fromtimestamp(unix, UTC) if unix is not None else None


def describe(status: BackupSnapshotView) -> StatusText:
    state = _state_name(status.state)
    pending = status.pending_changes
    waiting = f"{pending} change{'s' if pending != 1 else ''} waiting" if pending else ""
    last = f"last backup {relative_time(_when(status.last_success))}"
    if status.notice_kind == "erased":
        # Nothing goes up until the user chooses: say why before anything else.
        return StatusText("error", "Backup deleted from another device", status.notice or "")
    if "full" in state:
        done, total = status.full_backup_done, status.full_backup_total
        progress = f"{done:,} of {total:,} records" if total else ""
        return StatusText("busy", "Full backup running…", progress or last)
    if state == "uploading":
        return StatusText("busy", "Backing up…", waiting or last)
    if state == "offline":
        full = "full backup required" if status.full_backup_reason else ""
        return StatusText("warn", "Backup server unreachable, retrying", _join(full, waiting, last))
    if state == "error":
        return StatusText("error", "Backup failed", _join(waiting, last))
    if status.full_backup_reason:
        return StatusText("warn", "Full backup needed", status.full_backup_reason)
    if status.notice_kind == "rollback":
        when = relative_time(_when(status.notice_at))
        return StatusText(
            "warn",
            "The backup server went back in time",
            f"noticed {when}; everything was uploaded again",
        )
    if pending:
        return StatusText("warn", waiting[0].upper() + waiting[1:], last)
    if status.last_success is None:
        return StatusText("warn", "Not backed up yet", "")
    return StatusText("ok", "Backed up", last)


def _join(*parts: str) -> str:
    return " · ".join(p for p in parts if p)


class BackupStatusWidget(QWidget):
    """A dot, a headline and a detail line; the tooltip names the server and the last error."""

    def __init__(self, status: BackupStatusView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("backupStatus")
        self.signals = BackupStatusSignals(status, self)
        self.dot = QLabel("●")
        self.dot.setObjectName("backupDot")
        self.headline = QLabel()
        self.headline.setObjectName("backupHeadline")
        self.detail = QLabel()
        self.detail.setObjectName("backupDetail")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 0, 8, 0)
        layout.setSpacing(6)
        layout.addWidget(self.dot)
        layout.addWidget(self.headline)
        layout.addWidget(self.detail)
        layout.addStretch(1)
        self.signals.changed.connect(self.refresh)
        # "2 min ago" ages even when nothing changes.
        self._clock = QTimer(self)
        self._clock.setInterval(30_000)
        self._clock.timeout.connect(self.refresh)
        self._clock.start()
        self.refresh()

    @property
    def text(self) -> StatusText:
        return describe(self.signals.status.current)

    def refresh(self) -> None:
        status = self.signals.status.current
        shown = describe(status)
        self.dot.setProperty("tone", shown.tone)
        self.dot.style().unpolish(self.dot)
        self.dot.style().polish(self.dot)
        self.headline.setText(shown.headline)
        self.detail.setText(shown.detail)
        self.detail.setVisible(bool(shown.detail))
        tip = [f"Backup server: {status.server_url}"]
        if status.pending_changes:
            tip.append(f"Pending: {status.pending_changes} changes, {status.pending_bytes:,} bytes")
        if status.last_error:
            tip.append(f"Last error: {status.last_error}")
        if status.rollback_detected:
            # Sticky in the engine's status: a past event, explained rather than alarmed about.
            tip.append(
                "The server once went back in time (lost or replayed data); "
                "Cairn uploaded everything again"
            )
        if status.conflicts:
            tip.append(
                f"{status.conflicts} value(s) written on another device were kept aside, "
                "not overwritten"
            )
        self.setToolTip("\n".join(tip))
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)

    def closeEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        self.signals.detach()
        super().closeEvent(event)
