"""Wallet persistence into the record store: append-only, compacted, safe when the store fails."""

from __future__ import annotations

from pathlib import Path

import bdkpython as bdk
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.storage import MemoryStore, SqliteStore
from cairn.storage.device import device_id
from cairn.wallet.persistence import CHANGESET_PREFIX, RecordPersistence, changeset_name

from .offline import FlakyStore, descriptors, fund


def open_wallet(store: MemoryStore | SqliteStore, **options: int):
    persistence = RecordPersistence(store, bdk.NetworkKind.TEST, **options)
    persister = bdk.Persister.custom(persistence)
    external, internal = descriptors()
    if store.scan(CHANGESET_PREFIX):
        wallet = bdk.Wallet.load(external, internal, persister)
    else:
        wallet = bdk.Wallet(external, internal, bdk.Network.REGTEST, persister)
    return wallet, persistence, persister


def names(store: MemoryStore | SqliteStore) -> list[str]:
    return [name for name, _ in store.scan(CHANGESET_PREFIX)]


def test_each_persist_appends_one_record_in_order():
    store = MemoryStore()
    wallet, _, persister = open_wallet(store, compact_every=100)
    for index in range(3):
        wallet.reveal_addresses_to(bdk.KeychainKind.EXTERNAL, index)
        assert wallet.persist(persister)
    device = device_id(store).hex()
    assert names(store) == [changeset_name(seq, device) for seq in range(4)]
    assert changeset_name(7) == "wallet/changeset/000000000007"  # the first release's names
    assert changeset_name(7, device) == f"wallet/changeset/{device}/000000000007"


def test_every_record_write_is_queued_for_backup():
    store = MemoryStore()
    wallet, _, persister = open_wallet(store, compact_every=100)
    wallet.reveal_addresses_to(bdk.KeychainKind.EXTERNAL, 2)
    wallet.persist(persister)
    queued = {entry.name for entry in store.outbox_pending()}
    assert set(names(store)) <= queued


def test_compaction_merges_into_one_record_and_loses_nothing(tmp_path: Path):
    path = tmp_path / "records.sqlite"
    with SqliteStore(path) as store:
        wallet, persistence, persister = open_wallet(store, compact_every=4)
        address = str(wallet.reveal_next_address(bdk.KeychainKind.EXTERNAL).address)
        wallet.persist(persister)
        txid = fund(wallet, address, 50_000)
        wallet.persist(persister)
        for index in range(1, 7):
            wallet.reveal_addresses_to(bdk.KeychainKind.EXTERNAL, index)
            wallet.persist(persister)
        assert persistence.record_count() < 4
        persistence.compact()
        assert len(names(store)) == 1
        last = names(store)[0]
        assert last > changeset_name(7)  # aggregates take a new, higher seq
    with SqliteStore(path) as reopened:
        loaded, _, persister = open_wallet(reopened)
        assert loaded.derivation_index(bdk.KeychainKind.EXTERNAL) == 6
        assert loaded.balance().total.to_sat() == 50_000
        assert [str(t.transaction.compute_txid()) for t in loaded.transactions()] == [txid]
        loaded.reveal_addresses_to(bdk.KeychainKind.EXTERNAL, 8)
        loaded.persist(persister)
        assert names(reopened)[-1] > last  # appends continue after the aggregate


def test_a_failing_store_raises_persistence_error_and_keeps_the_change_staged():
    store = FlakyStore()
    wallet, persistence, persister = open_wallet(store)
    wallet.reveal_addresses_to(bdk.KeychainKind.EXTERNAL, 4)
    store.fail_writes = OSError("disk full")
    with pytest.raises(bdk.PersistenceError):
        wallet.persist(persister)
    assert persistence.last_error == "saving the wallet failed: OSError"
    assert wallet.staged() is not None
    store.fail_writes = None
    assert wallet.persist(persister)
    loaded, _, _ = open_wallet(store)
    assert loaded.derivation_index(bdk.KeychainKind.EXTERNAL) == 4


@pytest.mark.parametrize("error", [RuntimeError("bug"), KeyboardInterrupt(), SystemExit(3)])
def test_no_exception_type_escapes_a_callback(error: BaseException):
    # An escaping exception would abort the interpreter (a Rust panic): reaching the asserts
    # at all is the test.
    store = FlakyStore()
    wallet, _, persister = open_wallet(store)
    wallet.reveal_addresses_to(bdk.KeychainKind.EXTERNAL, 1)
    store.fail_writes = error
    with pytest.raises(bdk.PersistenceError):
        wallet.persist(persister)
    store.fail_writes = None
    store.fail_reads = error
    external, internal = descriptors()
    fresh = bdk.Persister.custom(RecordPersistence(store, bdk.NetworkKind.TEST))
    with pytest.raises(bdk.LoadWithPersistError):
        bdk.Wallet.load(external, internal, fresh)


def test_a_wallet_created_on_a_failing_store_reports_an_error():
    store = FlakyStore()
    store.fail_writes = OSError("read-only file system")
    persister = bdk.Persister.custom(RecordPersistence(store, bdk.NetworkKind.TEST))
    external, internal = descriptors()
    with pytest.raises(bdk.CreateWithPersistError):
        bdk.Wallet(external, internal, bdk.Network.REGTEST, persister)


def test_a_corrupt_record_fails_the_load_cleanly():
    store = MemoryStore()
    wallet, _, persister = open_wallet(store)
    wallet.reveal_addresses_to(bdk.KeychainKind.EXTERNAL, 1)
    wallet.persist(persister)
    store.put(changeset_name(1), b"{not json")
    external, internal = descriptors()
    fresh = bdk.Persister.custom(RecordPersistence(store, bdk.NetworkKind.TEST))
    with pytest.raises(bdk.LoadWithPersistError):
        bdk.Wallet.load(external, internal, fresh)


def test_a_failed_compaction_does_not_fail_the_persist():
    store = FlakyStore()
    wallet, persistence, persister = open_wallet(store, compact_every=2)

    original_batch = store.batch

    def batch_failing_on_deletes(puts=None, deletes=()):
        if list(deletes):
            raise OSError("disk full")
        original_batch(puts, deletes)

    store.batch = batch_failing_on_deletes  # type: ignore[method-assign]
    wallet.reveal_addresses_to(bdk.KeychainKind.EXTERNAL, 3)
    assert wallet.persist(persister)
    assert persistence.last_error == "compacting the wallet records failed: OSError"
    assert len(names(store)) == 2
    store.batch = original_batch  # type: ignore[method-assign]
    wallet.reveal_addresses_to(bdk.KeychainKind.EXTERNAL, 5)
    assert wallet.persist(persister)
    assert len(names(store)) == 1


def test_a_second_writer_on_the_same_store_never_overwrites_a_changeset():
    store = MemoryStore()
    first, _, first_persister = open_wallet(store)
    second, _, second_persister = open_wallet(store)
    second.reveal_addresses_to(bdk.KeychainKind.EXTERNAL, 4)
    second.persist(second_persister)
    first.reveal_addresses_to(bdk.KeychainKind.INTERNAL, 2)
    first.persist(first_persister)
    loaded, _, _ = open_wallet(store)
    assert loaded.derivation_index(bdk.KeychainKind.EXTERNAL) == 4
    assert loaded.derivation_index(bdk.KeychainKind.INTERNAL) == 2


def test_a_big_wallet_is_split_into_records_under_the_size_limit():
    store = MemoryStore()
    wallet, persistence, persister = open_wallet(store, max_record_bytes=2_000, compact_every=100)
    addresses = [
        str(info.address) for info in wallet.reveal_addresses_to(bdk.KeychainKind.EXTERNAL, 11)
    ]
    txids = [fund(wallet, address, 10_000 + n, tag=n + 1) for n, address in enumerate(addresses)]
    wallet.persist(persister)  # one changeset with 12 transactions: several records, one batch
    assert len(names(store)) > 3
    assert all(len(value) <= 2_000 for _, value in store.scan(CHANGESET_PREFIX))
    persistence.compact()
    sizes = [len(value) for _, value in store.scan(CHANGESET_PREFIX)]
    assert len(sizes) > 1
    assert all(size <= 2_000 for size in sizes)
    loaded, _, _ = open_wallet(store)
    assert sorted(str(t.transaction.compute_txid()) for t in loaded.transactions()) == sorted(txids)
    assert loaded.balance().total.to_sat() == sum(10_000 + n for n in range(12))
    assert loaded.derivation_index(bdk.KeychainKind.EXTERNAL) == 11


operations = st.lists(
    st.one_of(
        st.tuples(st.just("reveal"), st.integers(0, 30)),
        st.tuples(st.just("change"), st.integers(0, 30)),
        st.tuples(st.just("fund"), st.integers(1_000, 5_000_000)),
    ),
    max_size=12,
)


@settings(max_examples=25, deadline=None)
@given(
    ops=operations,
    compact_every=st.integers(2, 6),
    max_record_bytes=st.sampled_from([600, 5_000, 1 << 20]),
    reload_every=st.integers(1, 5),
)
def test_any_history_of_persists_compactions_and_reloads_loses_nothing(
    ops: list[tuple[str, int]], compact_every: int, max_record_bytes: int, reload_every: int
):
    store = MemoryStore()
    options = {"compact_every": compact_every, "max_record_bytes": max_record_bytes}
    wallet, _, persister = open_wallet(store, **options)
    for step, (op, value) in enumerate(ops, start=1):
        if op == "reveal":
            wallet.reveal_addresses_to(bdk.KeychainKind.EXTERNAL, value)
        elif op == "change":
            wallet.reveal_addresses_to(bdk.KeychainKind.INTERNAL, value)
        else:
            address = str(wallet.reveal_next_address(bdk.KeychainKind.EXTERNAL).address)
            fund(wallet, address, value, tag=step)
        wallet.persist(persister)
        if step % reload_every == 0:
            expected = state_of(wallet)
            wallet, _, persister = open_wallet(store, **options)
            assert state_of(wallet) == expected


def state_of(wallet: bdk.Wallet) -> tuple[object, ...]:
    return (
        wallet.derivation_index(bdk.KeychainKind.EXTERNAL),
        wallet.derivation_index(bdk.KeychainKind.INTERNAL),
        wallet.balance().total.to_sat(),
        sorted(str(t.transaction.compute_txid()) for t in wallet.transactions()),
    )
