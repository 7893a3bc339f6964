"""The session's backup side: the first upload, the user's backup actions and conflicts, and the
records another device merged in. A part of `Session` (cairn.session), which owns the state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from cairn.events import EventBus, RemoteChangesApplied
from cairn.storage import AsyncRecordStore
from cairn.usererrors import SessionError

if TYPE_CHECKING:
    # The engine, its errors and the wallet (and with them the wire format, the HTTP client
    # and BDK) are imported when a wallet opens (cairn.session_lifecycle.load_wallet_modules),
    # after the main window's first frame (issue #14); every method here runs after that.
    from cairn.backup.fullbackup import FullBackupProgress
    from cairn.backup.merge import ConflictRecord
    from cairn.backup.service import BackupService
    from cairn.backup.status import StatusSnapshot
    from cairn.wallet import CairnWallet

log = logging.getLogger("cairn.session")  # the session's one logger, as before the split
BackupProgressCallback = Callable[["FullBackupProgress"], None]


def _ignore(_progress: object) -> None:
    return None


class SessionBackups:
    """Backup actions of a session; `Session` provides the state below."""

    bus: EventBus
    _service: BackupService | None
    _async_store: AsyncRecordStore | None
    _wallet: CairnWallet | None
    _reloads: set[asyncio.Task[None]]

    async def run_initial_backup(self, progress: BackupProgressCallback = _ignore) -> None:
        """Upload everything the new wallet wrote; returns once the server acknowledged it."""
        from cairn.backup.fullbackup import FullBackupProgress  # loaded with the engine

        service = self._require_service()
        store = self._require_async_store()
        queued = await store.outbox_stats()
        progress(FullBackupProgress(0, queued.count, 0))

        def on_status(snapshot: StatusSnapshot) -> None:
            done = max(0, queued.count - snapshot.pending_changes)
            progress(
                FullBackupProgress(
                    done, queued.count, max(0, queued.bytes - snapshot.pending_bytes)
                )
            )

        unsubscribe = service.status.subscribe(on_status)
        try:
            await self._backup_now(service)
        finally:
            unsubscribe()
        progress(FullBackupProgress(queued.count, queued.count, queued.bytes))

    def _remote_changes_applied(self, records: int) -> None:
        """Another device's changes were merged into the store: the wallet reads them again."""
        task = asyncio.get_running_loop().create_task(self._reload_shared(records))
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    async def _reload_shared(self, records: int) -> None:
        wallet = self._wallet
        if wallet is None:
            return
        try:
            await asyncio.to_thread(wallet.reload_shared_records)
        except Exception:
            log.exception("reading the records another device wrote failed")
            return
        self.bus.publish(RemoteChangesApplied(records))

    async def _backup_now(self, service: BackupService) -> None:
        async with self._backup_errors(service):
            await service.backup_now()

    @contextlib.asynccontextmanager
    async def _backup_errors(self, service: BackupService) -> AsyncIterator[None]:
        """The backup's errors the user can act on, as SessionError advice; bugs stay bugs."""
        from cairn.backup.advice import backup_advice
        from cairn.backup.errors import BackupError, BackupUnreachable

        try:
            yield
        except BackupError as exc:
            advice = backup_advice(exc, service.server_url)
            if advice is None:
                raise
            if isinstance(exc, BackupUnreachable):
                # The transport's own words ("All connection attempts failed") help nobody who
                # reads the message; they go to the log.
                log.warning("backup server %s unreachable: %s", service.server_url, exc)
            raise SessionError(advice) from exc

    def _require_service(self) -> BackupService:
        if self._service is None:
            raise SessionError("No backup server is set. Choose one to back up to.")
        return self._service

    def _require_async_store(self) -> AsyncRecordStore:
        if self._async_store is None:
            raise RuntimeError("the record store is not open")
        return self._async_store

    async def back_up_now(self) -> None:
        await self._backup_now(self._require_service())

    async def conflicts(self) -> list[ConflictRecord]:
        """Records two devices changed at once, with every value kept."""
        from cairn.backup.conflicts import list_conflicts

        return await list_conflicts(self._require_async_store())

    async def resolve_conflict(self, name: str, keep: int) -> None:
        """Keep value number `keep` (from 0) of the conflict about `name`; back it up."""
        found = next((c for c in await self.conflicts() if c.name == name), None)
        if found is None or not 0 <= keep < len(found.candidates):
            raise SessionError("That conflict was already settled (perhaps on another device).")
        from cairn.backup.conflicts import resolve_conflict

        await resolve_conflict(self._require_async_store(), found, keep)
        if self._wallet is not None:
            await asyncio.to_thread(self._wallet.reload_shared_records)
        self.bus.publish(RemoteChangesApplied(1))

    async def dismiss_backup_notice(self) -> None:
        await self._require_service().dismiss_notice()

    async def back_up_here_again(self) -> None:
        """After the backup was deleted from another device: back up this wallet again."""
        service = self._require_service()
        async with self._backup_errors(service):
            await service.start_again()

    async def delete_server_backup(self) -> None:
        service = self._require_service()
        async with self._backup_errors(service):
            await service.delete_server_backup()
