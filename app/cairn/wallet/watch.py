"""The chain watcher: notices new blocks and payments within seconds, cheaply, and syncs then.

A BDK sync asks the chain server about every revealed script; run every few seconds that is
far from cheap, for the server and for us. Instead, each tick asks one small question — the hash
of the server's tip, or how many transactions touch one receive address the wallet believes
unused — and compares the answer with what the wallet already knows. Only a tip the wallet has
not seen, or a transaction on an address it thinks unused, starts a sync. Comparing with the
wallet (rather than with the previous answer) means nothing is missed between two ticks or
before the first one.

Ticks slow down while nothing changes (up to ``idle_max`` seconds apart) and back off further
while the server cannot be reached (up to ``offline_max``); news or a reachable server again
brings them back to ``interval``. A slow periodic sync (``sync_every``) still runs for what the
ticks do not watch: a payment to an address used before, a spend made on another device.

This is the one periodic sync of the app. The clock and the sleep are injectable, so its
timing is tested without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 1.0
DEFAULT_IDLE_MAX = 4.0
DEFAULT_OFFLINE_MAX = 60.0
DEFAULT_SYNC_EVERY = 300.0
MAX_WATCHED_ADDRESSES = 5  # the newest unused receive addresses: where a payment is expected
TIP = "tip"

OFFLINE = "offline"  # SyncState.OFFLINE: the sync failed and says why


class HasState(Protocol):
    @property
    def state(self) -> str: ...


S = TypeVar("S", bound=HasState)  # what the wallet's sync answers (its SyncStatus)
S_co = TypeVar("S_co", bound=HasState, covariant=True)


@dataclass(frozen=True)
class WatchTargets:
    """What the wallet knows that a tick compares with the server's answer."""

    tip_hash: str  # the wallet's chain tip
    script_hashes: tuple[
        str, ...
    ]  # Esplora script hashes of unused receive addresses, newest first


@dataclass(frozen=True)
class SyncRound(Generic[S]):
    """How one sync ended: its status, or the unexpected error it raised."""

    status: S | None
    error: BaseException | None = None


class WatchedWallet(Protocol[S_co]):
    def watch_targets(self) -> WatchTargets: ...  # blocks on the wallet's lock

    async def sync(self) -> S_co: ...


class ProbeFailed(Exception):
    """The chain server could not answer a probe (unreachable, an HTTP error, a bad answer)."""


class ChainProbe(Protocol):
    """The two cheap questions a tick asks the chain server."""

    async def tip_hash(self) -> str: ...

    async def tx_count(self, script_hash: str) -> int: ...  # confirmed and in the mempool

    async def aclose(self) -> None: ...


Sleep = Callable[[float], Awaitable[object]]


class ChainWatcher(Generic[S]):
    """Syncs at start, when a tick finds news, every ``sync_every`` s, and on ``sync_now``.

    ``on_syncing`` runs when a sync round begins, ``on_synced`` (awaited) after each sync; a
    round runs one more sync when ``sync_now`` was called during it.
    """

    def __init__(
        self,
        wallet: WatchedWallet[S],
        probe: ChainProbe,
        *,
        on_syncing: Callable[[], None] | None = None,
        on_synced: Callable[[SyncRound[S]], Awaitable[None]] | None = None,
        interval: float = DEFAULT_INTERVAL,
        idle_max: float = DEFAULT_IDLE_MAX,
        offline_max: float = DEFAULT_OFFLINE_MAX,
        sync_every: float = DEFAULT_SYNC_EVERY,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._wallet = wallet
        self._probe = probe
        self._on_syncing = on_syncing
        self._on_synced = on_synced
        self._interval = interval
        self._idle_max = idle_max
        self._offline_max = offline_max
        self._sync_every = sync_every
        self._clock = clock
        self._sleep = sleep
        self._delay = interval
        self._turn = 0  # which probe the next tick asks
        self._idle_ticks = 0
        self._reachable = True
        self._last_trigger: tuple[str, object] | None = None
        self._last_sync: float | None = None
        self._syncing = False
        self._wanted = False  # sync_now was called
        self._sleeper: asyncio.Future[object] | None = None
        self._task: asyncio.Task[None] | None = None

    # --- control ----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def syncing(self) -> bool:
        """A sync is running or asked for."""
        return self._syncing or self._wanted

    @property
    def delay(self) -> float:
        """Seconds until the next tick, as backoff has set it."""
        return self._delay

    @property
    def reachable(self) -> bool:
        return self._reachable

    def start(self) -> None:
        """Start on the running loop (no-op if already running): a sync first, then ticks."""
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="chain-watcher")

    def sync_now(self) -> None:
        """Sync as soon as possible; during a sync, once more right after it."""
        self._wanted = True
        if self._sleeper is not None:
            self._sleeper.cancel()

    def cancel(self) -> None:
        """Stop without waiting (from a window's close); the probe is closed as the task ends."""
        if self._task is not None:
            self._task.cancel()

    async def stop(self) -> None:
        """Stop and wait until the task and its probe are closed."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        """The watcher's whole life (``start`` runs it as a task; so may an owner's task group)."""
        try:
            await self.sync_round()
            while True:
                _stop_if_cancelled()
                if not self._wanted:
                    await self._pause(self._delay)
                if self._wanted or self._periodic_sync_due():
                    await self.sync_round()
                else:
                    await self.tick()
        finally:
            with contextlib.suppress(Exception):
                await self._probe.aclose()

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when ``sync_now`` is called (it cancels the sleep)."""
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        self._sleeper = sleeper
        try:
            await sleeper
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or task.cancelling() or not sleeper.cancelled():
                raise  # the watcher itself is being stopped
        finally:
            self._sleeper = None
            sleeper.cancel()

    def _periodic_sync_due(self) -> bool:
        return self._last_sync is None or self._clock() - self._last_sync >= self._sync_every

    async def sync_round(self) -> SyncRound[S]:
        """Sync the wallet (again while ``sync_now`` asked during the sync); the last outcome."""
        self._syncing = True
        if self._on_syncing is not None:
            self._on_syncing()
        try:
            while True:
                self._wanted = False
                try:
                    outcome: SyncRound[S] = SyncRound(await self._wallet.sync())
                except Exception as error:
                    # sync() reports every expected failure in its status; this is a bug.
                    log.exception("wallet sync failed unexpectedly")
                    outcome = SyncRound(None, error)
                self._last_sync = self._clock()
                if self._on_synced is not None:
                    await self._on_synced(outcome)
                if not self._wanted:
                    return outcome
        finally:
            self._syncing = False

    async def tick(self) -> bool:
        """Ask the server one cheap question; sync when the answer is news. True if it synced."""
        targets = await asyncio.to_thread(self._wallet.watch_targets)
        probes = (TIP, *targets.script_hashes[:MAX_WATCHED_ADDRESSES])
        key = probes[self._turn % len(probes)]
        self._turn += 1
        try:
            if key == TIP:
                answer: object = await self._probe.tip_hash()
                news = answer != targets.tip_hash
            else:
                count = await self._probe.tx_count(key)
                answer, news = count, count > 0
        except ProbeFailed as error:
            if self._reachable:
                log.info("chain server unreachable: %s", error)
            self._reachable = False
            self._delay = min(max(self._delay * 2, self._interval), self._offline_max)
            return False
        back_online = not self._reachable
        self._reachable = True
        # The same news twice means the sync it started did not change what the wallet knows
        # (a server that disagrees with itself): wait for other news or the periodic sync.
        if back_online or (news and (key, answer) != self._last_trigger):
            self._idle_ticks = 0
            outcome = await self.sync_round()
            if outcome.status is None or str(outcome.status.state) == OFFLINE:
                # The probe got through but the sync did not: the news still stands, and the
                # next syncs for it back off as while the server is unreachable.
                self._last_trigger = None
                self._delay = min(max(self._delay * 2, self._interval), self._offline_max)
            else:
                self._last_trigger = (key, answer) if news else None
                self._delay = self._interval
            return True
        self._idle_ticks += 1
        if self._idle_ticks >= len(probes):  # a whole round of questions and nothing new
            self._idle_ticks = 0
            self._delay = min(self._delay * 2, self._idle_max)
        return False


def _stop_if_cancelled() -> None:
    # A cancellation that lands as an awaited result arrives can be dropped on its way
    # (Python 3.11's asyncio.wait_for did that; the wallet no longer uses it); the task still
    # counts it, and a watcher asked to stop must stop.
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
