"""CairnWallet: a BDK wallet from the seed, persisted as records, synced through Esplora.

Threading: every call into the BDK wallet and its persister holds ``_lock``; network calls run
without it, in a thread of their own (``chaincall.in_own_thread``: one the process does not
wait for at exit, as a call to a stalled server never returns), so the event loop never blocks
and the UI can read balance and history during a slow sync. ``sync`` and ``send`` publish their events
on the calling loop's thread; receive addresses, labels and preferences publish from the worker
thread that wrote them (see ``EventBus``: subscribers tied to a loop hand events over
themselves).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import bdkpython as bdk

from cairn.events import (
    Event,
    EventBus,
    SyncCompleted,
    SyncFailed,
)
from cairn.keys import Network, bip84_descriptors
from cairn.wallet.address_list import AddressInfo, addresses_of
from cairn.wallet.addresses import BDK_NETWORKS, network_kind
from cairn.wallet.chaincall import in_own_thread, sync_timeout_for
from cairn.wallet.details import TransactionDetails, details_of
from cairn.wallet.errors import (
    RecordsNotOfThisSeed,
    WalletError,
    WalletStorageError,
)
from cairn.wallet.history import Balance, HistoryItem, balance_of, history_of
from cairn.wallet.labels import Label, LabelBook, LabelImportResult
from cairn.wallet.paying import Paying
from cairn.wallet.persistence import (
    CHANGESET_PREFIX,
    DEFAULT_COMPACT_EVERY,
    DescriptorMismatch,
    RecordPersistence,
    check_descriptor_record,
)
from cairn.wallet.preferences import Preferences
from cairn.wallet.receiving import AddressReserver, Receiving
from cairn.wallet.sync import (
    SyncState,
    SyncStatus,
    TxState,
    describe_chain_error,
    payment_events,
    tx_states,
)
from cairn.wallet.watch import MAX_WATCHED_ADDRESSES, WatchTargets

if TYPE_CHECKING:
    from cairn.storage import RecordStore

log = logging.getLogger(__name__)

# Machine-local: a fresh wallet's first full scan happened here (never backed up, see storage).
SCANNED_RECORD = "local/wallet/full_scan_done"
DEFAULT_STOP_GAP = 20
DEFAULT_PARALLEL_REQUESTS = 2
# Incremental syncs watch only revealed addresses; a periodic full scan also finds payments to
# addresses handed out elsewhere (the same words on another machine, or a backup that lagged).
DEFAULT_FULL_SCAN_EVERY = 60


class CairnWallet(Paying, Receiving):
    """The wallet of one seed on one network; open it with ``CairnWallet.open``."""

    def __init__(
        self,
        *,
        store: RecordStore,
        network: Network,
        esplora_url: str,
        bus: EventBus,
        wallet: bdk.Wallet,
        persistence: RecordPersistence,
        persister: bdk.Persister,
        stop_gap: int,
        parallel_requests: int,
        sync_timeout: float | None,
        full_scan_every: int = DEFAULT_FULL_SCAN_EVERY,
    ) -> None:
        self._store = store
        self._network = network
        self._esplora_url = esplora_url
        self._bus = bus
        self._wallet = wallet
        self._persistence = persistence
        self._persister = persister
        self._stop_gap = stop_gap
        self._parallel_requests = parallel_requests
        self._sync_timeout = sync_timeout
        self._full_scan_every = full_scan_every
        self._syncs_since_full_scan = 0
        self._in_flight: set[asyncio.Future[list[Event]]] = set()
        self._lock = threading.RLock()
        self._sync_lock = asyncio.Lock()
        self._client = bdk.EsploraClient(esplora_url)
        self._labels = LabelBook(store, bus)
        self._preferences = Preferences(store, bus)
        self._status = SyncStatus(SyncState.NEVER_SYNCED, wallet.latest_checkpoint().height)
        self._reserve: AddressReserver | None = None

    # --- opening ----------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        store: RecordStore,
        seed: bytes,
        network: Network,
        *,
        esplora_url: str,
        bus: EventBus | None = None,
        compact_every: int = DEFAULT_COMPACT_EVERY,
        stop_gap: int = DEFAULT_STOP_GAP,
        parallel_requests: int = DEFAULT_PARALLEL_REQUESTS,
        sync_timeout: float | None = None,
        full_scan_every: int = DEFAULT_FULL_SCAN_EVERY,
    ) -> CairnWallet:
        """Load the wallet from its records, or create it when the store has none.

        ``sync_timeout``: how long a sync may take; by default 15 s (as a backup server's
        request) and a tenth of a second more for every address it asks about.

        Blocks on the store (run it with ``asyncio.to_thread`` or use ``open_async``).
        Raises WalletStorageError when the records cannot be read or belong to another seed.
        """
        external, internal = bip84_descriptors(seed, network)
        kind = network_kind(network)
        descriptor = bdk.Descriptor(external, kind)
        change_descriptor = bdk.Descriptor(internal, kind)
        persistence = RecordPersistence(store, kind, compact_every=compact_every)
        persister = bdk.Persister.custom(persistence)
        try:
            check_descriptor_record(store, descriptor, change_descriptor, network.value)
        except DescriptorMismatch as error:
            raise RecordsNotOfThisSeed(str(error)) from None
        try:
            if store.scan(CHANGESET_PREFIX):
                wallet = bdk.Wallet.load(descriptor, change_descriptor, persister)
            else:
                wallet = bdk.Wallet(descriptor, change_descriptor, BDK_NETWORKS[network], persister)
        except (bdk.LoadWithPersistError, bdk.CreateWithPersistError, bdk.PersistenceError) as e:
            raise WalletStorageError(
                f"the wallet records could not be loaded ({type(e).__name__}); "
                "restore from your backup or your recovery words"
            ) from persistence.last_exception  # the store's error says which file, and why
        if wallet.network() != BDK_NETWORKS[network]:
            raise WalletStorageError(f"these wallet records are not for {network.value}")
        self = cls(
            store=store,
            network=network,
            esplora_url=esplora_url,
            bus=bus if bus is not None else EventBus(),
            wallet=wallet,
            persistence=persistence,
            persister=persister,
            stop_gap=stop_gap,
            parallel_requests=parallel_requests,
            sync_timeout=sync_timeout,
            full_scan_every=full_scan_every,
        )
        self._restore_revealed()
        return self

    @classmethod
    async def open_async(
        cls, store: RecordStore, seed: bytes, network: Network, **options: Any
    ) -> CairnWallet:
        """``open`` in a worker thread; ``options`` are those of ``open``."""
        return await asyncio.to_thread(functools.partial(cls.open, store, seed, network, **options))

    def _restore_revealed(self) -> None:
        # Addresses already handed out (maybe on another machine) are revealed again, so the
        # next one handed out is new and incremental syncs watch every one of them.
        recorded = self._recorded_index(bdk.KeychainKind.EXTERNAL)
        if recorded is None:
            return
        with self._lock:
            current = self._wallet.derivation_index(bdk.KeychainKind.EXTERNAL)
            if current is None or current < recorded:
                self._wallet.reveal_addresses_to(bdk.KeychainKind.EXTERNAL, recorded)
                self._persist_quietly()

    def reload_shared_records(self) -> None:
        """Records another device wrote were merged into the store: read them again.

        Labels come from the store anew; an address index handed out on the other device is
        revealed here too, so the next address is new on both and syncs watch every address.
        Transactions the other device saw arrive through this device's own chain sync.
        """
        self._labels.reload()
        self._restore_revealed()

    # --- properties -------------------------------------------------------------------------

    @property
    def network(self) -> Network:
        return self._network

    @property
    def bus(self) -> EventBus:
        return self._bus

    @property
    def esplora_url(self) -> str:
        return self._esplora_url

    @property
    def sync_status(self) -> SyncStatus:
        return self._status

    @property
    def preferences(self) -> Preferences:
        """Preference records (blocking calls: use ``set_preference`` from the loop)."""
        return self._preferences

    @property
    def persistence(self) -> RecordPersistence:
        return self._persistence

    # --- reading ----------------------------------------------------------------------------

    def balance(self) -> Balance:
        with self._lock:
            return balance_of(self._wallet)

    def history(self) -> list[HistoryItem]:
        """Every transaction, newest first, with labels."""
        with self._lock:
            return history_of(
                self._wallet,
                lambda txid: self._labels.get("tx", txid),
                lambda address: self._labels.get("addr", address),
            )

    def addresses(self) -> list[AddressInfo]:
        """Every receive address handed out and change address used, with balance and label."""
        with self._lock:
            return addresses_of(self._wallet, lambda address: self._labels.get("addr", address))

    def transaction_details(self, txid: str) -> TransactionDetails | None:
        """Inputs, outputs (with labels), fee, fee rate and confirmations of one transaction."""
        with self._lock:
            return details_of(self._wallet, txid, self._labels.get)

    def watch_targets(self) -> WatchTargets:
        """The chain tip this wallet knows and the script hashes of its newest unused receive
        addresses: what the chain watcher compares the server's answers with."""
        with self._lock:
            tip = str(self._wallet.latest_checkpoint().hash)
            unused = sorted(
                self._wallet.list_unused_addresses(bdk.KeychainKind.EXTERNAL),
                key=lambda info: info.index,
                reverse=True,
            )[:MAX_WATCHED_ADDRESSES]
            scripts = [info.address.script_pubkey().to_bytes() for info in unused]
        # Esplora's script hash: SHA-256 of the scriptPubKey, in natural byte order.
        return WatchTargets(tip, tuple(hashlib.sha256(s).hexdigest() for s in scripts))

    def revealed_index(self) -> int | None:
        """The highest external index handed out so far (None before the first)."""
        return self._recorded_index(bdk.KeychainKind.EXTERNAL)

    def label(self, type_: str, ref: str) -> str | None:
        return self._labels.get(type_, ref)

    def labels(self) -> list[Label]:
        return self._labels.all()

    def export_labels(self) -> str:
        """Every label as BIP-329 JSONL."""
        return self._labels.export_jsonl()

    def preference(self, name: str, default: str | None = None) -> str | None:
        return self._preferences.get(name, default)

    # --- labels and preferences -------------------------------------------------------------

    async def set_label(self, type_: str, ref: str, label: str | None) -> None:
        """Set or (None / blank) remove a BIP-329 label; publishes LabelChanged."""
        await asyncio.to_thread(self._labels.set, type_, ref, label)

    async def import_labels(self, text: str | bytes) -> LabelImportResult:
        """Merge BIP-329 JSONL into the labels (backed up as any label change); valid lines are
        kept, invalid ones (an address of another network among them) reported in the result.
        LabelError when the whole file is refused."""
        return await asyncio.to_thread(self._labels.import_jsonl, text, self._network)

    async def set_preference(self, name: str, value: str | None) -> None:
        await asyncio.to_thread(self._preferences.set, name, value)

    # --- sync -------------------------------------------------------------------------------

    def needs_full_scan(self) -> bool:
        """True for a wallet that has never scanned the chain (new, or restored from words)."""
        with self._lock:
            # Chain checkpoints stay on each machine, so a wallet restored from its records
            # starts at genesis too; what it brought back (transactions, the index handed out)
            # tells the addresses to watch, and an incremental sync finds the chain for them.
            fresh = (
                self._wallet.latest_checkpoint().height == 0
                and self._recorded_index(bdk.KeychainKind.EXTERNAL) is None
                and not list(self._wallet.transactions())
            )
        return fresh and self._store.get(SCANNED_RECORD) is None

    async def sync(self, *, full_scan: bool | None = None) -> SyncStatus:
        """Sync with the chain server; never raises for I/O errors.

        A full scan when ``full_scan`` says so, else when the wallet never scanned or every
        ``full_scan_every`` syncs; otherwise an incremental sync of the revealed addresses.
        On failure the status becomes OFFLINE with the reason and SyncFailed is published.
        """
        async with self._sync_lock:
            full = full_scan
            if full is None:
                periodic = self._syncs_since_full_scan >= self._full_scan_every > 0
                full = periodic or self.needs_full_scan()
            previous = self._status
            self._status = SyncStatus(SyncState.SYNCING, previous.height, previous.last_success)
            # The worker thread cannot be stopped: after a timeout or a cancellation it may still
            # finish, and then its events are published late rather than lost.
            with self._lock:
                timeout = self._sync_timeout or sync_timeout_for(self._wallet, full, self._stop_gap)
            work = asyncio.ensure_future(in_own_thread(lambda: self._sync_blocking(full)))
            self._in_flight.add(work)
            work.add_done_callback(self._in_flight.discard)
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancellation
                # that arrives as the work finishes, and whoever stops the sync waits on.
                async with asyncio.timeout(timeout):
                    events = await asyncio.shield(work)
            except asyncio.CancelledError:
                work.add_done_callback(self._publish_late)
                self._status = previous
                raise
            except Exception as error:
                if not work.done():
                    # Timed out: the server is not answering, so closing waits for it no more.
                    self._in_flight.discard(work)
                    work.add_done_callback(self._publish_late)
                message = (
                    str(error)
                    if isinstance(error, WalletError)
                    else describe_chain_error(error, self._esplora_url)
                )
                self._status = SyncStatus(
                    SyncState.OFFLINE, self._status.height, self._status.last_success, message
                )
                self._bus.publish(SyncFailed(message))
                return self._status
            self._syncs_since_full_scan = 0 if full else self._syncs_since_full_scan + 1
            self._status = SyncStatus(SyncState.ONLINE, self._tip(), time.time())
            for event in events:
                self._bus.publish(event)
            return self._status

    def _publish_late(self, work: asyncio.Future[list[Event]]) -> None:
        if work.cancelled() or work.exception() is not None:
            return
        for event in work.result():
            self._bus.publish(event)

    def _sync_blocking(self, full: bool) -> list[Event]:
        with self._lock:
            before = self._tx_states()
            first_scan = self.needs_full_scan()
            if full:
                full_request = self._wallet.start_full_scan().build()
            else:
                sync_request = self._wallet.start_sync_with_revealed_spks().build()
        if full:
            update = self._client.full_scan(full_request, self._stop_gap, self._parallel_requests)
        else:
            update = self._client.sync(sync_request, self._parallel_requests)
        with self._lock:
            self._wallet.apply_update(update)
            self._persist()
            after = self._tx_states()
            height = self._wallet.latest_checkpoint().height
        # The first full scan of a wallet discovers its past, which is not news to announce;
        # a payment still pending is (someone is waiting for it), so it is announced.
        discovering = full and first_scan
        if discovering:
            self._store.put(SCANNED_RECORD, b"1")
            after_news = {txid: s for txid, s in after.items() if s.height is None}
            events = payment_events(before, after_news)
        else:
            events = payment_events(before, after)
        events.append(SyncCompleted(height=height, full_scan=full))
        return events

    def _tx_states(self) -> dict[str, TxState]:
        return tx_states(history_of(self._wallet, lambda _txid: None))

    def _tip(self) -> int:
        with self._lock:
            return int(self._wallet.latest_checkpoint().height)

    # --- persistence ------------------------------------------------------------------------

    def _persist(self) -> None:
        """Write staged BDK changes; WalletStorageError if the store failed."""
        try:
            self._wallet.persist(self._persister)
        except bdk.PersistenceError:
            raise WalletStorageError(
                "the wallet could not save its state on this machine "
                f"({self._persistence.last_error}); it will retry on the next change"
            ) from None

    def _persist_quietly(self) -> None:
        # Staged changes stay staged in BDK on failure and go out with the next persist.
        try:
            self._persist()
        except WalletStorageError as error:
            log.error("%s", error)

    def compact(self) -> None:
        """Merge the changeset records into one now (it also happens on its own)."""
        with self._lock:
            self._persistence.compact()

    def close(self) -> None:
        """Persist anything staged. The store belongs to the caller and stays open."""
        with self._lock:
            self._persist_quietly()

    async def aclose(self, timeout: float = 5.0) -> None:
        """Wait (up to ``timeout``) for syncs still running in worker threads, then ``close``."""
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=timeout)
        await asyncio.to_thread(self.close)
