"""BackupStatus: what the UI shows about backups, as a plain observable model (no Qt here)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

__all__ = ["BackupState", "BackupStatus", "StatusSnapshot"]

log = logging.getLogger(__name__)


class BackupState(StrEnum):
    IDLE = "idle"  # everything committed is on the server
    UPLOADING = "uploading"
    OFFLINE = "offline"  # the server cannot be reached; changes wait in the outbox
    ERROR = "error"  # the server refused or misbehaved; `last_error` says what to do
    FULL_BACKUP = "full_backup"  # uploading every record (after an upgrade or a server change)


@dataclass(frozen=True)
class StatusSnapshot:
    """One immutable view of the status; listeners get a new one on every change."""

    state: BackupState = BackupState.IDLE
    server_url: str = ""
    last_success: float | None = None  # unix time of the last acknowledged upload
    pending_changes: int = 0
    pending_bytes: int = 0
    last_error: str | None = None
    conflicts: int = 0  # records with concurrent edits kept under conflicts/ for the user
    full_backup_reason: str | None = None  # set while a full backup is required
    full_backup_done: int = 0
    full_backup_total: int = 0
    rollback_detected: bool = False  # the server went back in time (data lost or replayed)
    notice: str | None = None  # a rollback or an erase elsewhere, until the user dismisses it
    notice_kind: str | None = None  # "rollback" | "erased"
    notice_at: float | None = None  # unix time it was noticed


Listener = Callable[[StatusSnapshot], None]


class BackupStatus:
    """Holds the current StatusSnapshot and tells every listener when it changes.

    Listeners run on the thread that changed the status (the event loop); the UI wraps this in
    a Qt signal. A failing listener is logged and never stops the engine.
    """

    def __init__(self, server_url: str = "") -> None:
        self._current = StatusSnapshot(server_url=server_url)
        self._listeners: list[Listener] = []

    @property
    def current(self) -> StatusSnapshot:
        return self._current

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` on every change; returns a function that unsubscribes it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def show_notice(
        self, kind: str | None, reason: str | None = None, at: float | None = None, **also: object
    ) -> None:
        """Show the notice of a rollback or of an erase elsewhere (kind None: no notice).

        The one place a notice becomes status, wherever it comes from: the engine as it happens,
        or the store when the service starts or a round ends.
        """
        self.update(
            rollback_detected=kind == "rollback",
            notice=reason if kind is not None else None,
            notice_kind=kind,
            notice_at=at if kind is not None else None,
            **also,
        )

    def update(self, **changes: object) -> None:
        """Change some fields (names of StatusSnapshot) and notify if anything differs."""
        new = replace(self._current, **changes)  # type: ignore[arg-type]
        if new == self._current:
            return
        self._current = new
        for listener in list(self._listeners):
            try:
                listener(new)
            except Exception:
                log.exception("backup status listener failed")
