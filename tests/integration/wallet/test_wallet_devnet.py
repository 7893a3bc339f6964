"""The wallet against a real devnet: receive, confirm, send, restart, restore, fail clearly."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from cairn.events import (
    AddressRevealed,
    EventBus,
    LabelChanged,
    PaymentConfirmed,
    PaymentFailed,
    PaymentReceived,
    PaymentSent,
    SyncCompleted,
    SyncFailed,
)
from cairn.keys import Network
from cairn.storage import MemoryStore, SqliteStore
from cairn.wallet import (
    BroadcastRejected,
    ChainUnavailable,
    Direction,
    InsufficientFunds,
    SyncState,
    WalletStorageError,
    paying,
)
from cairn.wallet.core import CairnWallet
from tests.support.devnet import DevnetProcess
from tests.unit.wallet.offline import FlakyStore

from .conftest import OpenWallet, Recorder, fund

pytestmark = pytest.mark.asyncio


async def test_faucet_payment_goes_from_pending_to_confirmed(
    devnet: DevnetProcess, open_wallet: OpenWallet, new_seed: Callable[[], bytes]
):
    bus = EventBus()
    seen = Recorder(bus)
    wallet = open_wallet(new_seed(), bus=bus)
    status = await wallet.sync()
    assert status.state is SyncState.ONLINE
    assert seen.of(SyncCompleted) == [SyncCompleted(height=1, full_scan=True)]

    address = await wallet.next_receive_address()
    assert seen.of(AddressRevealed) == [AddressRevealed("external", 0, address.address)]
    txid = devnet.faucet(address.address, 120_000)
    await wallet.sync()
    assert wallet.balance().pending_sat == 120_000
    assert wallet.balance().confirmed_sat == 0
    [item] = wallet.history()
    assert (item.txid, item.direction, item.amount_sat, item.confirmations) == (
        txid,
        Direction.IN,
        120_000,
        0,
    )
    assert item.time is not None
    assert seen.of(PaymentReceived) == [PaymentReceived(txid, 120_000, confirmed=False)]
    assert seen.of(PaymentConfirmed) == []

    devnet.mine(1)
    await wallet.sync()
    assert wallet.balance().confirmed_sat == 120_000
    assert wallet.balance().pending_sat == 0
    assert wallet.history()[0].confirmations == 1
    assert seen.of(PaymentConfirmed) == [PaymentConfirmed(txid, 2, "in")]
    assert seen.of(SyncCompleted)[-1] == SyncCompleted(height=2, full_scan=False)

    devnet.mine(2)
    await wallet.sync()
    assert wallet.history()[0].confirmations == 3
    assert len(seen.of(PaymentConfirmed)) == 1  # deeper blocks are not news


async def test_a_payment_to_a_second_wallet_is_seen_by_both(
    devnet: DevnetProcess, open_wallet: OpenWallet, new_seed: Callable[[], bytes]
):
    bus = EventBus()
    seen = Recorder(bus)
    store = MemoryStore()
    alice = open_wallet(new_seed(), store=store, bus=bus)
    bob = open_wallet(new_seed())
    await fund(alice, devnet, 200_000)
    await bob.sync()
    estimates = await alice.fee_estimates()
    assert estimates[1] >= estimates[6] > 0

    target = await bob.next_receive_address()
    plan = alice.plan_payment(target.address, 50_000, estimates[6])
    assert plan.change_sat == 200_000 - plan.total_sat
    txid = await alice.send(plan, memo="rent for March")
    assert await alice.send(plan) == txid  # a second click on Send sends nothing more
    assert seen.of(PaymentSent) == [PaymentSent(txid, target.address, 50_000, plan.fee_sat)]
    record = store.get(f"payments/{txid}")
    assert record is not None
    assert json.loads(record)["memo"] == "rent for March"
    assert alice.label("tx", txid) == "rent for March"

    sent = alice.history()[0]  # applied at once, before any sync
    assert (sent.txid, sent.direction, sent.amount_sat, sent.fee_sat) == (
        txid,
        Direction.OUT,
        50_000,
        plan.fee_sat,
    )
    assert sent.label == "rent for March"
    assert alice.balance().total_sat == 200_000 - plan.total_sat
    await bob.sync()
    received = bob.history()[0]
    assert (received.txid, received.direction, received.amount_sat) == (txid, Direction.IN, 50_000)
    assert received.confirmations == 0

    devnet.mine(1)
    await alice.sync()
    await bob.sync()
    assert alice.history()[0].confirmations == 1
    assert bob.history()[0].confirmations == 1
    assert bob.balance().confirmed_sat == 50_000
    assert alice.balance().confirmed_sat == plan.change_sat
    assert [e.txid for e in seen.of(PaymentConfirmed)][-1] == txid  # type: ignore[attr-defined]


async def test_a_restart_loads_from_the_record_file_without_a_full_scan(
    tmp_path: Path, devnet: DevnetProcess, new_seed: Callable[[], bytes]
):
    seed = new_seed()
    path = tmp_path / "records.sqlite"
    with SqliteStore(path) as store:
        wallet = CairnWallet.open(store, seed, Network.REGTEST, esplora_url=devnet.url)
        txid = await fund(wallet, devnet, 90_000)
        for _ in range(3):
            await wallet.next_receive_address()
        assert wallet.revealed_index() == 3
        before = wallet.history()
        wallet.close()

    with SqliteStore(path) as store:
        bus = EventBus()
        seen = Recorder(bus)
        reopened = await CairnWallet.open_async(
            store, seed, Network.REGTEST, esplora_url=devnet.url, bus=bus
        )
        assert reopened.history() == before  # from the records, before any sync
        assert reopened.history()[0].txid == txid
        assert reopened.balance().confirmed_sat == 90_000
        assert reopened.revealed_index() == 3
        assert not reopened.needs_full_scan()
        assert (await reopened.next_receive_address()).index == 4
        await reopened.sync()
        assert seen.of(SyncCompleted) == [SyncCompleted(height=2, full_scan=False)]
        reopened.close()


async def test_a_wallet_restored_from_records_never_reuses_a_handed_out_address(
    devnet: DevnetProcess, open_wallet: OpenWallet, new_seed: Callable[[], bytes]
):
    seed = new_seed()
    original_store = MemoryStore()
    original = open_wallet(seed, store=original_store)
    await fund(original, devnet, 20_000)
    given = [(await original.next_receive_address()).address for _ in range(3)]
    # A restore copies every backed-up record into a new store (local/ names never travel).
    restored_store = MemoryStore()
    restored_store.batch(dict(original_store.snapshot().records))
    restored = open_wallet(seed, store=restored_store)
    assert not restored.needs_full_scan()  # the transactions and indexes came with the records
    # Each machine learns the chain from its own chain source: one incremental sync confirms.
    await restored.sync()
    assert restored.history() == original.history()
    fresh = await restored.next_receive_address()
    assert fresh.index == 4
    assert fresh.address not in given


async def test_a_periodic_full_scan_finds_addresses_handed_out_elsewhere(
    devnet: DevnetProcess, open_wallet: OpenWallet, new_seed: Callable[[], bytes]
):
    seed = new_seed()
    bus = EventBus()
    seen = Recorder(bus)
    here = open_wallet(seed, bus=bus, full_scan_every=1)
    await here.sync()  # the first, full scan
    elsewhere = open_wallet(seed)  # the same words on another machine
    for _ in range(3):
        address = await elsewhere.next_receive_address()
    txid = devnet.faucet(address.address, 12_000, mine=True)
    await here.sync()  # incremental: only addresses handed out here are watched
    assert here.history() == []
    await here.sync()
    assert seen.of(SyncCompleted)[-1] == SyncCompleted(height=2, full_scan=True)
    assert [item.txid for item in here.history()] == [txid]
    assert seen.of(PaymentReceived) == [PaymentReceived(txid, 12_000, confirmed=True)]


async def test_a_second_wallet_from_the_same_seed_sees_the_same_history(
    devnet: DevnetProcess, open_wallet: OpenWallet, new_seed: Callable[[], bytes]
):
    seed = new_seed()
    first = open_wallet(seed)
    other = open_wallet(new_seed())
    await fund(first, devnet, 150_000)
    await fund(other, devnet, 10_000)
    plan = first.plan_payment((await other.next_receive_address()).address, 40_000, 3)
    await first.send(plan)
    second_address = await first.next_receive_address()
    pending = devnet.faucet(second_address.address, 25_000)  # to the address at index 1

    bus = EventBus()
    seen = Recorder(bus)
    twin = open_wallet(seed, bus=bus)  # an empty store: a restore from the words alone
    assert twin.needs_full_scan()
    await twin.sync()
    await first.sync()
    summary = lambda w: [(i.txid, i.direction, i.amount_sat, i.confirmations) for i in w.history()]  # noqa: E731
    assert summary(twin) == summary(first)
    assert len(twin.history()) == 3
    assert twin.balance() == first.balance()
    # Discovering the past is not news; a payment still pending is.
    assert seen.of(PaymentReceived) == [PaymentReceived(pending, 25_000, confirmed=False)]
    assert seen.of(PaymentConfirmed) == []
    assert (await twin.next_receive_address()).index == 2


async def test_labels_round_trip_through_bip329_between_wallets(
    devnet: DevnetProcess, open_wallet: OpenWallet, new_seed: Callable[[], bytes]
):
    seed = new_seed()
    bus = EventBus()
    seen = Recorder(bus)
    wallet = open_wallet(seed, bus=bus)
    txid = await fund(wallet, devnet, 30_000)
    address = (await wallet.next_receive_address()).address
    await wallet.set_label("tx", txid, "first salary")
    await wallet.set_label("addr", address, "invoice 42")
    assert seen.of(LabelChanged) == [
        LabelChanged("tx", txid, "first salary"),
        LabelChanged("addr", address, "invoice 42"),
    ]
    exported = wallet.export_labels()

    twin = open_wallet(seed)
    await twin.sync()
    result = await twin.import_labels(exported + '{"type":"tx"}\n')
    assert result.imported == 2
    assert [(e.line, e.reason) for e in result.errors] == [(3, 'missing "ref"')]
    assert twin.history()[0].label == "first salary"
    assert twin.label("addr", address) == "invoice 42"
    assert twin.export_labels() == exported


async def test_a_double_spend_is_rejected_with_the_server_reason(
    devnet: DevnetProcess, open_wallet: OpenWallet, new_seed: Callable[[], bytes]
):
    bus = EventBus()
    seen = Recorder(bus)
    wallet = open_wallet(new_seed(), bus=bus)
    payee = open_wallet(new_seed())
    await fund(wallet, devnet, 80_000)
    to = (await payee.next_receive_address()).address
    first = wallet.plan_payment(to, 30_000, 2)
    conflicting = wallet.plan_payment(to, 31_000, 2)  # planned before the first went out
    txid = await wallet.send(first)
    with pytest.raises(BroadcastRejected) as caught:
        await wallet.send(conflicting)
    # BDK's sends signal BIP125; at the same fee rate the second is no replacement.
    assert caught.value.reason.startswith("insufficient fee, rejecting replacement")
    assert "nothing was sent" in str(caught.value)
    assert seen.of(PaymentFailed) == [PaymentFailed(to, 31_000, str(caught.value))]
    assert len(seen.of(PaymentSent)) == 1
    await wallet.sync()
    assert [i.txid for i in wallet.history() if i.direction is Direction.OUT] == [txid]
    with pytest.raises(InsufficientFunds):
        wallet.plan_payment(to, 80_000, 2)


async def test_an_unreachable_server_is_a_clear_offline_state(
    devnet: DevnetProcess, open_wallet: OpenWallet, new_seed: Callable[[], bytes]
):
    bus = EventBus()
    seen = Recorder(bus)
    wallet = open_wallet(new_seed(), bus=bus)
    await fund(wallet, devnet, 60_000)
    plan = wallet.plan_payment((await wallet.next_receive_address()).address, 10_000, 2)
    devnet.stop()
    try:
        status = await wallet.sync()  # never raises
        assert status.state is SyncState.OFFLINE
        assert status.error is not None
        assert devnet.url in status.error
        assert status.last_success is not None
        assert wallet.sync_status == status
        assert seen.of(SyncFailed) == [SyncFailed(status.error)]
        assert wallet.balance().confirmed_sat == 60_000  # still readable offline
        with pytest.raises(ChainUnavailable):
            await wallet.fee_estimates()
        with pytest.raises(ChainUnavailable):
            await wallet.send(plan)
        assert len(seen.of(PaymentFailed)) == 1
    finally:
        devnet.start()
    assert (await wallet.sync()).state is SyncState.ONLINE


async def test_a_failing_store_never_aborts_and_recovers(
    devnet: DevnetProcess, open_wallet: OpenWallet, new_seed: Callable[[], bytes]
):
    store = FlakyStore()
    seed = new_seed()
    wallet = open_wallet(seed, store=store)
    await wallet.sync()
    address = await wallet.next_receive_address()
    devnet.faucet(address.address, 40_000, mine=True)
    store.fail_writes = OSError("disk full")
    status = await wallet.sync()
    assert status.state is SyncState.OFFLINE
    assert status.error is not None
    assert "could not save" in status.error
    with pytest.raises(WalletStorageError, match="no address was handed out"):
        await wallet.next_receive_address()
    store.fail_writes = None
    assert (await wallet.sync()).state is SyncState.ONLINE
    assert (await wallet.next_receive_address()).index == 1
    assert wallet.balance().confirmed_sat == 40_000
    reloaded = open_wallet(seed, store=store)  # what reached the records is complete
    assert reloaded.balance().confirmed_sat == 40_000
    assert reloaded.revealed_index() == 1


async def test_records_of_another_seed_are_refused(
    devnet: DevnetProcess, open_wallet: OpenWallet, new_seed: Callable[[], bytes]
):
    store = MemoryStore()
    open_wallet(new_seed(), store=store)
    with pytest.raises(WalletStorageError, match="another recovery phrase"):
        open_wallet(new_seed(), store=store)


async def test_a_server_that_never_answers_times_out_into_the_offline_state(
    monkeypatch: pytest.MonkeyPatch, new_seed: Callable[[], bytes]
):
    # A listening socket nobody accepts on: connections open, requests hang.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        wallet = CairnWallet.open(
            MemoryStore(), new_seed(), Network.REGTEST, esplora_url=url, sync_timeout=0.5
        )
        status = await wallet.sync()
        assert status.state is SyncState.OFFLINE
        assert status.error == f"the chain server at {url} did not answer in time; try again later"
        monkeypatch.setattr(paying, "REQUEST_TIMEOUT", 0.5)
        with pytest.raises(ChainUnavailable, match="did not answer in time"):
            await wallet.fee_estimates()
    # Closing the socket resets the hung requests; the sync's worker thread then ends.
    await wallet.aclose()


async def test_a_cancelled_sync_leaves_a_sane_status_and_loses_no_event(
    devnet: DevnetProcess, open_wallet: OpenWallet, new_seed: Callable[[], bytes]
):
    bus = EventBus()
    seen = Recorder(bus)
    wallet = open_wallet(new_seed(), bus=bus)
    await wallet.sync()
    address = await wallet.next_receive_address()
    txid = devnet.faucet(address.address, 11_000)
    task = asyncio.ensure_future(wallet.sync())
    await asyncio.sleep(0)  # the sync is now running in its worker thread
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert wallet.sync_status.state is SyncState.ONLINE  # the status before the sync
    for _ in range(200):
        if seen.of(PaymentReceived):
            break
        await asyncio.sleep(0.025)
    assert seen.of(PaymentReceived) == [PaymentReceived(txid, 11_000, confirmed=False)]


async def test_the_current_receive_address_stays_until_it_is_paid(
    devnet: DevnetProcess, open_wallet: OpenWallet, new_seed: Callable[[], bytes]
):
    wallet = open_wallet(new_seed())
    first = await wallet.current_receive_address()  # nothing handed out yet: a new one
    assert first.index == 0
    assert await wallet.current_receive_address() == first  # opening the page again
    devnet.faucet(first.address, 5_000)
    await wallet.sync()
    second = await wallet.current_receive_address()
    assert second.index == 1
    assert wallet.revealed_index() == 1


async def test_a_payment_dropped_from_the_mempool_leaves_the_history_for_good(
    devnet: DevnetProcess, open_wallet: OpenWallet, new_seed: Callable[[], bytes]
):
    seed = new_seed()
    store = MemoryStore()
    wallet = open_wallet(seed, store=store)
    await wallet.sync()
    address = await wallet.next_receive_address()
    txid = devnet.faucet(address.address, 10_000)
    await wallet.sync()
    assert [item.txid for item in wallet.history()] == [txid]
    assert devnet.evict(txid) == [txid]
    await wallet.sync()
    assert wallet.history() == []
    assert wallet.balance().total_sat == 0
    reopened = open_wallet(seed, store=store)  # the eviction time is in the records too
    assert reopened.history() == []
