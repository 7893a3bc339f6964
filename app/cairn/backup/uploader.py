"""OutboxUploader: keeps the record store and the server in step, in the background.

Each round pulls what other devices wrote and drains the outbox through the SyncEngine; a round
for this device's own changes pushes straight up, so a change is acknowledged after one round
trip: the push's generation precondition catches every write another device made (a 409 pulls,
merges and resends), so a batch the server accepts tells as much as a pull would have.
The outbox holds at most one entry per name; the engine sends the name's *current* value (or its
deletion) and acknowledges the entries it read only after the server acknowledged the batch. A
write that lands meanwhile replaces the entry with a higher seq, which stays pending, so no
change is ever acknowledged unseen. Entries survive restarts.

Urgent events (a payment, a label, an address handed out) flush at once; routine ones (chain
sync) are debounced; with nothing to send, a round still runs every `poll_interval` seconds so
that changes made on another device appear here. While the server is unreachable the uploader
retries with capped exponential backoff and jitter; every store call runs on the store's worker
thread, so the event loop never waits on SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from cairn.backup.client import BackupError, BackupUnreachable, RateLimited
from cairn.backup.errors import BackupErased
from cairn.backup.fullbackup import FullBackupResult
from cairn.backup.localstate import AsyncStore, LocalBackupState, Notice, RoundSummary
from cairn.backup.roundlock import RoundLock
from cairn.backup.status import BackupState, BackupStatus
from cairn.backup.sync import SyncEngine
from cairn.events import Event, EventBus
from cairn.storage import StoreClosedError

__all__ = ["DEFAULT_DEBOUNCE", "DEFAULT_POLL_INTERVAL", "Backoff", "OutboxUploader"]

log = logging.getLogger(__name__)

DEFAULT_DEBOUNCE = 2.0
# An idle round is one feed request of well under 1 KiB; this keeps another device's change
# visible here within about two seconds (the p50 target of scripts/bench_sync.py).
DEFAULT_POLL_INTERVAL = 1.5


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


class Timer(Protocol):
    def cancel(self) -> None: ...


# Runs a callback after a delay (seconds) on the event loop: loop.call_later, or a test's clock.
CallLater = Callable[[float, Callable[[], None]], Timer]


class OutboxUploader:
    """Background task sending outbox entries through a BackupWriter."""

    def __init__(
        self,
        store: AsyncStore,
        engine: SyncEngine,
        status: BackupStatus,
        *,
        full_backup: FullBackupRunner | None = None,
        debounce: float = DEFAULT_DEBOUNCE,
        poll_interval: float | None = DEFAULT_POLL_INTERVAL,
        backoff: Backoff | None = None,
        call_later: CallLater | None = None,
        round_lock: RoundLock | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.status = status
        self.local = LocalBackupState(store)
        self.debounce = debounce
        self.poll_interval = poll_interval
        self.backoff = backoff or Backoff()
        self._full_backup = full_backup
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._call_later = call_later
        self._debounce_timer: Timer | None = None
        self._task: asyncio.Task[None] | None = None
        # One round at a time, in this process and in every other on the same wallet.
        self.round_lock = round_lock or RoundLock()
        self.rounds = 0  # rounds completed (pull, full backup if required, push)
        self._pulled_at: float | None = None  # time.monotonic() of the last completed pull
        self._counting: set[asyncio.Task[None]] = set()

    @property
    def round_due(self) -> bool:
        """Whether something asked for a round that has not started yet."""
        return self._wake.is_set()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background task on the running loop; pending entries go out at once."""
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._pulled_at = None  # a (re)started uploader pulls before it pushes
        self._wake.set()
        self._task = self._loop.create_task(self._run(), name="cairn-backup-uploader")

    async def stop(self) -> None:
        """Cancel the background task (an upload in flight is retried on the next start)."""
        if self._debounce_timer is not None:
            self._debounce_timer.cancel()
            self._debounce_timer = None
        task, self._task = self._task, None
        for counting in list(self._counting):
            counting.cancel()
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
        if self._loop is not None and not urgent:
            # Something was written: the status counts it now, not when the debounced round
            # takes it up. (An urgent change starts a round at once, which counts it first.)
            counting = self._loop.create_task(self._update_pending())
            self._counting.add(counting)
            counting.add_done_callback(self._counting.discard)
        if urgent:
            if self._debounce_timer is not None:
                self._debounce_timer.cancel()
                self._debounce_timer = None
            self._wake.set()
        elif self._debounce_timer is None and self._loop is not None:
            call_later = self._call_later or self._loop.call_later
            self._debounce_timer = call_later(self.debounce, self._debounce_fired)

    def _debounce_fired(self) -> None:
        self._debounce_timer = None
        self._wake.set()

    # -- the loop -----------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await self._wait_for_work()
            self._wake.clear()
            try:
                await self._background_round()
            except RateLimited as exc:
                await self._fail(BackupState.OFFLINE, exc, max(exc.retry_after, 0.1))
            except BackupUnreachable as exc:
                await self._fail(BackupState.OFFLINE, exc, self.backoff.next_delay())
            except BackupErased as exc:
                # Nothing goes up until the user chooses (back up again here, or stop).
                self.status.update(state=BackupState.ERROR, last_error=str(exc))
                await self._refresh_notice()
                await self._wake.wait()
            except BackupError as exc:
                await self._fail(BackupState.ERROR, exc, self.backoff.next_delay())
            except Exception as exc:
                log.exception("backup upload failed unexpectedly")
                await self._fail(BackupState.ERROR, exc, self.backoff.next_delay())
            else:
                self.backoff.reset()

    async def _wait_for_work(self) -> None:
        await self._wait_for_wake(self.poll_interval)

    async def _wait_for_wake(self, timeout: float | None) -> None:
        """Until woken, or `timeout` seconds (None: no limit).

        asyncio.timeout rather than wait_for: on Python 3.11, wait_for drops a cancellation
        that arrives just as the event is set, so stop() would wait for a task that goes on.
        """
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._wake.wait()

    async def _fail(self, state: BackupState, exc: Exception, delay: float) -> None:
        log.info("backup %s: %s; retrying in %.1f s", state.value, type(exc).__name__, delay)
        await self.failed(state, exc)
        await self._update_pending()
        self._wake.clear()
        # An urgent notify ends the wait early: the user just did something.
        await self._wait_for_wake(delay)
        self._wake.set()

    async def failed(self, state: BackupState, exc: Exception) -> None:
        """Show a round's failure, and keep it for a status read later (`cairn backup status`)."""
        self.status.update(state=state, last_error=str(exc))
        try:
            await self.local.remember_failure(str(exc), time.time())
        except Exception as error:  # the store may be what failed: the status still shows it
            log.info("the failure could not be kept: %s", type(error).__name__)

    # -- one round ----------------------------------------------------------------------------

    async def flush(self) -> int:
        """Pull, run a required full backup, then upload every pending change; records sent.

        Raises BackupError if the server cannot take them now (the entries stay pending).
        """
        async with self.round_lock.held():
            return await self._finish_round(await self._pull_then_push())

    async def _background_round(self) -> int:
        """A round the uploader starts itself. This device's changes go straight up (a wake
        with nothing left to send costs no request). A batch the server accepts counts as a
        pull: it took it at the generation this device knew, so no other device had written
        since (one that had would have made it a 409, a pull and a resend). With nothing sent
        and the last pull `poll_interval` old, the round pulls. The first round, and one when
        a full backup is due: the whole round of `flush`."""
        async with self.round_lock.held():
            if self._pulled_at is None or self.status.current.state is BackupState.FULL_BACKUP:
                # Nothing goes up before this process's first pull: that pull is where a
                # rollback, an erase or a copied data dir shows.
                return await self._finish_round(await self._pull_then_push())
            window = self.poll_interval if self.poll_interval is not None else DEFAULT_POLL_INTERVAL
            fresh = time.monotonic() - self._pulled_at < window
            pushed = await self.engine.push(
                until_empty=False, summarize=True, on_pending=self._show_uploading
            )
            if pushed.full_required:
                return await self._finish_round(await self._pull_then_push())
            sent = pushed.records
            if pushed.pulled and await self.local.full_required():
                # The push met a conflict and its pull asked for a full comparison.
                return await self._finish_round(sent + await self._pull_then_push())
            if sent or pushed.pulled:
                self._pulled_at = time.monotonic()
            elif not fresh:
                return await self._finish_round(await self._pull_then_push())
            return await self._finish_round(sent, pushed.summary)

    def _show_uploading(self, pending: int) -> None:
        self.status.update(state=BackupState.UPLOADING, pending_changes=pending)

    async def _finish_round(self, sent: int, summary: RoundSummary | None = None) -> int:
        self._show_summary(summary or await self.local.summary())
        self.rounds += 1
        return sent

    def _show_summary(self, summary: RoundSummary) -> None:
        # One update, so listeners see the round's end at once.
        self._show_notice(
            summary.notice,
            state=BackupState.IDLE,
            last_error=None,
            last_success=summary.last_success,
            full_backup_reason=summary.full_required,
            conflicts=summary.conflicts,
            pending_changes=summary.pending.count,
            pending_bytes=summary.pending.bytes,
        )

    async def _pull_then_push(self) -> int:
        sent = 0
        # A rollback noticed while syncing sets the flag again: go round once more.
        for _ in range(3):
            if self._full_backup is not None and await self.local.full_required():
                sent += (await self._full_backup()).records
            await self.engine.pull()
            self._pulled_at = time.monotonic()
            if self._full_backup is not None and await self.local.full_required():
                continue
            if self.status.current.state is not BackupState.FULL_BACKUP:
                pending = await self.store.outbox_stats()
                if pending.count:
                    self.status.update(
                        state=BackupState.UPLOADING,
                        pending_changes=pending.count,
                        pending_bytes=pending.bytes,
                    )
            sent += (await self.engine.push()).records
            if self._full_backup is None or not await self.local.full_required():
                break
        return sent

    async def drain(self) -> int:
        """Upload every pending change now; the number of records sent."""
        return (await self.engine.push()).records

    async def _refresh_notice(self) -> None:
        self._show_notice(await self.local.notice())

    def _show_notice(self, notice: Notice | None, **also: object) -> None:
        if notice is None:
            self.status.show_notice(None, None, None, **also)
        else:
            self.status.show_notice(notice.kind, notice.reason, notice.at, **also)

    async def _update_pending(self) -> None:
        try:
            stats, last_success = await self.local.pending()
        except StoreClosedError:
            return  # the wallet is closing
        except Exception:
            log.exception("counting the pending changes failed")
            return
        self.status.update(
            pending_changes=stats.count,
            pending_bytes=stats.bytes,
            last_success=last_success,
        )
