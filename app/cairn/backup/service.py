"""BackupService: the backup engine as the app uses it — one object per wallet store.

service = BackupService(AsyncRecordStore(store), keys, "regtest", server_url)
await service.start()          # resumes pending uploads, runs a required full backup
service.attach(bus)            # flush on wallet events (urgent at once, others debounced)
service.status.subscribe(...)  # BackupStatus for the UI
await service.backup_now()     # "Back up now" in the settings
await service.stop()
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import httpx

from cairn.backup.client import BackupUnreachable, RateLimited, RemoteBackupClient
from cairn.backup.conflicts import migrate_v1_conflicts
from cairn.backup.engine import MAX_BATCH_BYTES, MAX_BATCH_ITEMS
from cairn.backup.fullbackup import FullBackupResult, ProgressCallback, run_full_backup
from cairn.backup.localstate import AsyncStore, LocalBackupState
from cairn.backup.roundlock import RoundLock
from cairn.backup.status import BackupState, BackupStatus
from cairn.backup.sync import SyncEngine, SyncNotice
from cairn.backup.uploader import (
    DEFAULT_DEBOUNCE,
    DEFAULT_POLL_INTERVAL,
    Backoff,
    CallLater,
    OutboxUploader,
)
from cairn.events import EventBus
from cairn.keys import BackupKeys

__all__ = ["BackupService"]

log = logging.getLogger(__name__)
# How long a round the caller waits on waits out the server's 429s before it fails.
RATE_LIMIT_PATIENCE = 10.0


class BackupService:
    """Owns the client, the writer, the uploader and the status of one wallet store."""

    def __init__(
        self,
        store: AsyncStore,
        keys: BackupKeys,
        store_id: str,
        server_url: str,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: float = 15.0,
        debounce: float = DEFAULT_DEBOUNCE,
        poll_interval: float | None = DEFAULT_POLL_INTERVAL,
        backoff: Backoff | None = None,
        call_later: CallLater | None = None,
        max_items: int = MAX_BATCH_ITEMS,
        max_bytes: int = MAX_BATCH_BYTES,
        on_remote_changes: Callable[[int], None] | None = None,
        invite: str | None = None,
        round_lock: RoundLock | None = None,
    ) -> None:
        self.store = store
        # One spelling per server, so "https://host/" and "https://host" are not a change.
        server_url = server_url.rstrip("/")
        self.server_url = server_url
        self.local = LocalBackupState(store)
        self.status = BackupStatus(server_url)
        self.client = RemoteBackupClient(
            server_url, keys, store_id, http=http, timeout=timeout, invite=invite
        )
        self.engine = SyncEngine(
            store,
            self.client,
            keys,
            on_notice=self._on_notice,
            max_items=max_items,
            max_bytes=max_bytes,
            on_applied=on_remote_changes,
        )
        self._progress: ProgressCallback | None = None
        self.uploader = OutboxUploader(
            store,
            self.engine,
            self.status,
            full_backup=self._full_backup_in_round,
            debounce=debounce,
            poll_interval=poll_interval,
            call_later=call_later,
            backoff=backoff,
            round_lock=round_lock,
        )
        # `round_lock` None: this process only (tests, a store without a file).
        self.round_lock = self.uploader.round_lock

    async def prepare(self) -> None:
        """Load the persisted status; a new server URL means everything goes up again."""
        recorded = await self.local.server_url()
        if recorded is not None and recorded != self.server_url:
            await self.local.clear_server_state()
            await self.local.require_full("the backup server changed", new_incarnation=True)
        if recorded != self.server_url:
            await self.local.remember_server(self.server_url)
        if await migrate_v1_conflicts(self.store):
            log.info("conflicts kept by the first backup engine are now one per record")
        if not await self.local.protocol_current() and await self.local.last_generation() > 0:
            # Backed up under protocol v1: list the store once, as v2 sees it.
            await self.local.require_full(
                "moving the backup to protocol v2 (every record is compared once)",
                trust_server=True,
            )
        notice = await self.local.notice()
        stats = await self.store.outbox_stats()
        self.status.show_notice(
            None if notice is None else notice.kind,
            None if notice is None else notice.reason,
            None if notice is None else notice.at,
            last_success=await self.local.last_success(),
            pending_changes=stats.count,
            pending_bytes=stats.bytes,
            conflicts=await self.local.conflicts(),
            full_backup_reason=await self.local.full_required(),
            last_error=await self.local.unanswered_failure(),
        )

    async def start(self) -> None:
        """Prepare, then upload in the background until stop()."""
        await self.prepare()
        self.uploader.start()

    async def stop(self) -> None:
        await self.uploader.stop()
        await self.client.aclose()

    def attach(self, bus: EventBus) -> Callable[[], None]:
        return self.uploader.attach(bus)

    def notify(self, urgent: bool = False) -> None:
        self.uploader.notify(urgent)

    def set_progress(self, progress: ProgressCallback | None) -> None:
        """Where full-backup progress goes (the wizard's loading screen)."""
        self._progress = progress

    async def full_backup(self) -> FullBackupResult:
        """Run the full backup now (normally the uploader does it when the flag is set)."""
        async with self.round_lock.held():
            return await self._full_backup_in_round()

    async def _full_backup_in_round(self) -> FullBackupResult:
        return await run_full_backup(
            self.store, self.engine, status=self.status, progress=self._progress
        )

    async def backup_now(self) -> int:
        """Full backup if required, then every pending change; raises BackupError on failure."""
        try:
            return await self.uploader.flush()
        except BackupUnreachable as exc:
            await self.uploader.failed(BackupState.OFFLINE, exc)
            raise
        except Exception as exc:
            await self.uploader.failed(BackupState.ERROR, exc)
            raise

    async def delete_server_backup(self) -> None:
        """Erase this store on the server and forget its versions (the user asked for it)."""
        async with self.round_lock.held():
            await self._delete_server_backup()

    async def _delete_server_backup(self) -> None:
        before = await self.local.incarnation()
        generation = await self.local.last_generation()
        await self.client.delete_store()
        await self.local.clear_server_state()
        await self.local.remember_server(self.server_url)
        # The next backup from here starts a new life of the store, naming the erased one, so
        # other devices on this seed tell this erase from a server faking one.
        await self.engine.prepare_next_life(before, generation)
        # Changes uploaded from now on would make a partial backup that looks complete: the
        # next upload is a full one (stop the service to keep the server empty).
        await self.local.require_full("the server backup was deleted", new_incarnation=True)

    async def sync_now(self) -> int:
        """One round the caller waits on: pull, full backup if required, push.

        A 429 is waited out (its Retry-After, up to RATE_LIMIT_PATIENCE in all): the server is
        there, and an address reservation that gave up on it would hand out an index another
        device may be taking. Other failures raise their BackupError at once.
        """
        deadline = time.monotonic() + RATE_LIMIT_PATIENCE
        while True:
            try:
                return await self.backup_now()
            except RateLimited as exc:
                pause = max(exc.retry_after, 0.1)
                if time.monotonic() + pause > deadline:
                    raise
                log.info("the backup server asks to wait %.1f s", pause)
                await asyncio.sleep(pause)

    async def dismiss_notice(self) -> None:
        """The user has read the rollback or erase notice."""
        await self.local.dismiss_notice()
        self.status.show_notice(None)

    async def start_again(self) -> None:
        """After an erase on another device, the user chose to back up here again."""
        async with self.round_lock.held():
            await self.engine.start_again()
        self.status.show_notice(None)
        self.uploader.notify(urgent=True)

    def _on_notice(self, notice: SyncNotice) -> None:
        if notice.kind == "rollback":
            # Also the round's error, until a round succeeds; the notice stays until dismissed.
            self.status.show_notice(notice.kind, notice.reason, notice.at, last_error=notice.reason)
        elif notice.kind == "erased":
            self.status.show_notice(notice.kind, notice.reason, notice.at)
