"""OutboxUploader: drains the record store's outbox to the server, in the background.

The outbox holds at most one entry per name; the uploader sends the name's *current* value (or
its deletion) and acknowledges the entries it read only after the server acknowledged the
batch. A write that lands meanwhile replaces the entry with a higher seq, which stays pending,
so no change is ever acknowledged unseen. Entries survive restarts: the uploader resumes by
draining whatever is pending when it starts.

Urgent events (a payment, a label, an address handed out) flush at once; routine ones (chain
sync) are debounced. While the server is unreachable the uploader retries with capped
exponential backoff and jitter; every store call runs on the store's worker thread, so the
event loop never waits on SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable

from cairn.backup.client import (
    BackupError,
    BackupNotFound,
    BackupUnreachable,
    RateLimited,
)
from cairn.backup.fullbackup import FullBackupResult
from cairn.backup.localstate import AsyncStore, LocalBackupState
from cairn.backup.status import BackupState, BackupStatus
from cairn.backup.writer import BackupWriter, Change
from cairn.events import Event, EventBus

__all__ = ["DEFAULT_DEBOUNCE", "Backoff", "OutboxUploader"]

log = logging.getLogger(__name__)

DEFAULT_DEBOUNCE = 2.0
MAX_BATCH_ITEMS = 500  # the server allows 1000 per batch; the manifest takes one
MAX_BATCH_BYTES = 4 * 1024 * 1024  # the server allows 16 MiB; small batches ack sooner


class Backoff:
    """Capped exponential backoff with full jitter: delay n is uniform in [base/2, min(cap, base*2^n)]."""

    def __init__(
        self, base: float = 0.5, cap: float = 30.0, rng: Callable[[], float] = random.random
    ) -> None:
        self.base = base
        self.cap = cap
        self.failures = 0
        self._rng = rng

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * float(2**self.failures))
        self.failures += 1
        return self.base / 2 + self._rng() * max(0.0, ceiling - self.base / 2)

    def reset(self) -> None:
        self.failures = 0


FullBackupRunner = Callable[[], Awaitable[FullBackupResult]]


class OutboxUploader:
    """Background task sending outbox entries through a BackupWriter."""

    def __init__(
        self,
        store: AsyncStore,
        writer: BackupWriter,
        status: BackupStatus,
        *,
        full_backup: FullBackupRunner | None = None,
        debounce: float = DEFAULT_DEBOUNCE,
        max_items: int = MAX_BATCH_ITEMS,
        max_bytes: int = MAX_BATCH_BYTES,
        backoff: Backoff | None = None,
    ) -> None:
        self.store = store
        self.writer = writer
        self.status = status
        self.local = LocalBackupState(store)
        self.debounce = debounce
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.backoff = backoff or Backoff()
        self._full_backup = full_backup
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._debounce_timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._server_checked = False
        self._lock = asyncio.Lock()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background task on the running loop; pending entries go out at once."""
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._wake.set()
        self._task = self._loop.create_task(self._run(), name="cairn-backup-uploader")

    async def stop(self) -> None:
        """Cancel the background task (an upload in flight is retried on the next start)."""
        if self._debounce_timer is not None:
            self._debounce_timer.cancel()
            self._debounce_timer = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def attach(self, bus: EventBus) -> Callable[[], None]:
        """Flush on every event the bus publishes, at once or debounced by `event.urgent`."""

        def on_event(event: Event) -> None:
            self.notify(urgent=type(event).urgent)

        return bus.subscribe(on_event)

    def notify(self, urgent: bool = False) -> None:
        """Something was written: upload now (urgent) or after the debounce delay. Thread-safe."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._notify(urgent)
        else:
            loop.call_soon_threadsafe(self._notify, urgent)

    def _notify(self, urgent: bool) -> None:
        if urgent:
            if self._debounce_timer is not None:
                self._debounce_timer.cancel()
                self._debounce_timer = None
            self._wake.set()
        elif self._debounce_timer is None and self._loop is not None:
            self._debounce_timer = self._loop.call_later(self.debounce, self._debounce_fired)

    def _debounce_fired(self) -> None:
        self._debounce_timer = None
        self._wake.set()

    # -- the loop -----------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except RateLimited as exc:
                await self._fail(BackupState.OFFLINE, exc, max(exc.retry_after, 0.1))
            except BackupUnreachable as exc:
                self._server_checked = False  # look at the generation again once back
                await self._fail(BackupState.OFFLINE, exc, self.backoff.next_delay())
            except BackupError as exc:
                await self._fail(BackupState.ERROR, exc, self.backoff.next_delay())
            except Exception as exc:
                log.exception("backup upload failed unexpectedly")
                await self._fail(BackupState.ERROR, exc, self.backoff.next_delay())
            else:
                self.backoff.reset()

    async def _fail(self, state: BackupState, exc: Exception, delay: float) -> None:
        log.info("backup %s: %s; retrying in %.1f s", state.value, type(exc).__name__, delay)
        self.status.update(state=state, last_error=str(exc))
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            # An urgent notify ends the wait early: the user just did something.
            await asyncio.wait_for(self._wake.wait(), timeout=delay)
        self._wake.set()

    # -- one round ----------------------------------------------------------------------------

    async def flush(self) -> int:
        """Run a required full backup, then upload every pending change; the records sent.

        Raises BackupError if the server cannot take them now (the entries stay pending).
        """
        async with self._lock:
            if not self._server_checked:
                await self.check_server()
                self._server_checked = True
            sent = 0
            # A rollback noticed while draining sets the flag again: go round once more.
            for _ in range(3):
                if self._full_backup is not None and await self.local.full_required():
                    sent += (await self._full_backup()).records
                sent += await self.drain()
                if self._full_backup is None or not await self.local.full_required():
                    break
            self.status.update(
                state=BackupState.IDLE,
                last_error=None,
                last_success=await self.local.last_success(),
                full_backup_reason=await self.local.full_required(),
            )
            return sent

    async def check_server(self) -> None:
        """Notice a server that lost or rolled back our store (full backup required then)."""
        last = await self.local.last_generation()
        manifest = await self.local.manifest()
        try:
            info = await self.writer.client.store_info()
        except BackupNotFound:
            if manifest.version > 0:
                await self.local.clear_server_state()
                await self._rollback("the backup store is missing on the server")
            return
        if info.generation < last:
            await self._rollback(f"store generation went back from {last} to {info.generation}")

    async def _rollback(self, reason: str) -> None:
        await self.local.require_full(f"the backup server went back in time: {reason}")
        self.status.update(rollback_detected=True, last_error=reason)

    async def drain(self) -> int:
        """Upload batches until the outbox is empty; the number of changes sent."""
        sent = 0
        while True:
            count = await self.upload_once()
            if count == 0:
                return sent
            sent += count

    async def upload_once(self) -> int:
        """Send one bounded batch of pending changes; 0 when nothing is pending."""
        entries = await self.store.outbox_pending(self.max_items)
        if not entries:
            await self._update_pending()
            return 0
        if self.status.current.state is not BackupState.FULL_BACKUP:
            self.status.update(state=BackupState.UPLOADING)
        changes: list[Change] = []
        seqs: list[int] = []
        names: set[str] = set()
        size = 0
        for entry in entries:
            if entry.name in names:
                seqs.append(entry.seq)  # an older entry of a name already in this batch
                continue
            value = await self.store.get(entry.name)
            if changes and size + len(value or b"") > self.max_bytes:
                break
            size += len(value or b"")
            changes.append(Change(entry.name, value))
            names.add(entry.name)
            seqs.append(entry.seq)
        result = await self.writer.send(changes)
        await self.store.outbox_ack(seqs)
        if result.conflicts:
            self.status.update(conflicts=await self.local.conflicts())
        await self._update_pending()
        return len(changes)

    async def _update_pending(self) -> None:
        stats = await self.store.outbox_stats()
        self.status.update(
            pending_changes=stats.count,
            pending_bytes=stats.bytes,
            last_success=await self.local.last_success(),
        )
