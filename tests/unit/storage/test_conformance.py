"""The RecordStore contract, run against MemoryStore and SqliteStore alike."""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.storage import (
    MAX_NAME_BYTES,
    MemoryStore,
    OutboxEntry,
    OutboxStats,
    RecordStore,
    SqliteStore,
    StoreClosedError,
)
from cairn.storage.protocol import check_name, check_restored, check_value
from tests.unit.storage.conftest import PeerFactory


def pending(store: RecordStore) -> list[tuple[str, str]]:
    return [(e.name, e.op) for e in store.outbox_pending(limit=10_000)]


# --- records -----------------------------------------------------------------------------------


def test_is_a_record_store(store: RecordStore) -> None:
    assert isinstance(store, RecordStore)


def test_get_of_absent_name_is_none(store: RecordStore) -> None:
    assert store.get("prefs/email") is None


def test_put_then_get_round_trips_bytes(store: RecordStore) -> None:
    store.put("prefs/email", b"a@example.org")
    store.put("blob", bytes(range(256)) * 1000)
    store.put("empty", b"")
    assert store.get("prefs/email") == b"a@example.org"
    assert store.get("blob") == bytes(range(256)) * 1000
    assert store.get("empty") == b""


def test_put_overwrites(store: RecordStore) -> None:
    store.put("prefs/fiat", b"EUR")
    store.put("prefs/fiat", b"CHF")
    assert store.get("prefs/fiat") == b"CHF"


def test_put_if_writes_only_over_the_value_expected_and_queues_it(
    store: RecordStore, peer: PeerFactory
) -> None:
    other = peer()
    assert store.put_if("wallet/revealed/external", b"0 aa", expect=None)
    assert not other.put_if("wallet/revealed/external", b"0 bb", expect=None)
    assert not other.put_if("wallet/revealed/external", b"1 bb", expect=b"0 bb")
    assert other.put_if("wallet/revealed/external", b"1 bb", expect=b"0 aa")
    assert store.get("wallet/revealed/external") == b"1 bb"
    assert pending(store) == [("wallet/revealed/external", "put")]
    with pytest.raises(ValueError):
        store.put_if("", b"x", expect=None)
    with pytest.raises(ValueError):
        store.put_if("a", "x", expect=None)  # type: ignore[arg-type]


def test_delete_removes_and_absent_delete_is_a_no_op(store: RecordStore) -> None:
    store.put("labels/tx/ab", b"rent")
    store.delete("labels/tx/ab")
    store.delete("labels/tx/ab")
    store.delete("never/written")
    assert store.get("labels/tx/ab") is None


def test_scan_returns_prefix_matches_sorted_by_name(store: RecordStore) -> None:
    names = ["labels/tx/b", "labels/tx/a", "labels/addr/z", "labels0", "label", "prefs/x"]
    for name in names:
        store.put(name, name.encode())
    assert store.scan("labels/") == [
        ("labels/addr/z", b"labels/addr/z"),
        ("labels/tx/a", b"labels/tx/a"),
        ("labels/tx/b", b"labels/tx/b"),
    ]
    assert [n for n, _ in store.scan()] == sorted(names)
    assert store.scan("nothing/") == []
    assert [n for n, _ in store.scan("label")] == [
        "label",
        "labels/addr/z",
        "labels/tx/a",
        "labels/tx/b",
        "labels0",
    ]


def test_scan_orders_non_ascii_names_by_code_point(store: RecordStore) -> None:
    names = ["n/z", "n/é", "n/€", "n/\U0001f600", "n/\uffff", "n/\U0010ffff", "n/\U0010ffffa", "n0"]
    for name in names:
        store.put(name, b"")
    assert [n for n, _ in store.scan("n/")] == sorted(names[:-1])
    assert [n for n, _ in store.scan("n/\U0010ffff")] == ["n/\U0010ffff", "n/\U0010ffffa"]
    assert [n for n, _ in store.scan("n/\uffff")] == ["n/\uffff"]


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a\x00b",
        "x" * (MAX_NAME_BYTES + 1),
        "é" * (MAX_NAME_BYTES // 2 + 1),
        "\ud800",
        b"bytes",
        7,
        None,
    ],
)
def test_invalid_names_are_refused(store: RecordStore, name: object) -> None:
    with pytest.raises(ValueError, match="record name"):
        store.put(name, b"v")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="record name"):
        store.get(name)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="record name"):
        store.delete(name)  # type: ignore[arg-type]
    assert store.scan() == []
    assert store.outbox_pending() == []


def test_longest_valid_name_is_accepted(store: RecordStore) -> None:
    name = "x" * (MAX_NAME_BYTES - 2) + "é"
    store.put(name, b"v")
    assert store.get(name) == b"v"


@pytest.mark.parametrize("value", ["text", bytearray(b"x"), memoryview(b"x"), None, 1])
def test_non_bytes_values_are_refused(store: RecordStore, value: object) -> None:
    with pytest.raises(ValueError, match="record value must be bytes"):
        store.put("prefs/x", value)  # type: ignore[arg-type]
    assert store.get("prefs/x") is None


def test_invalid_scan_prefix_and_limit_are_refused(store: RecordStore) -> None:
    with pytest.raises(ValueError):
        store.scan("a\x00")
    for limit in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="limit"):
            store.outbox_pending(limit)  # type: ignore[arg-type]
    store.put("a", b"1")
    for seqs in (["1"], [1.0], [True], [1, None]):
        with pytest.raises(ValueError, match="outbox seq"):
            store.outbox_ack(seqs)  # type: ignore[arg-type]
    assert len(store.outbox_pending()) == 1


# --- batch -------------------------------------------------------------------------------------


def test_batch_puts_and_deletes_together(store: RecordStore) -> None:
    store.batch({"a": b"1", "b": b"2", "c": b"3"})
    store.batch({"d": b"4", "a": b"one"}, deletes=["b", "absent"])
    assert store.scan() == [("a", b"one"), ("c", b"3"), ("d", b"4")]


def test_failing_batch_leaves_nothing(store: RecordStore) -> None:
    store.put("keep", b"old")
    before = store.outbox_pending()
    bad_batches: list[tuple[dict[str, object], list[object]]] = [
        ({"keep": b"new", "x": b"1", "y": "not bytes"}, []),
        ({"keep": b"new", "x": b"1"}, ["keep"]),  # a name twice in one batch
        ({"keep": b"new"}, ["x", ""]),
        ({"keep": b"new"}, ["x", "x"]),
    ]
    for puts, deletes in bad_batches:
        with pytest.raises(ValueError):
            store.batch(puts, deletes)  # type: ignore[arg-type]
    assert store.scan() == [("keep", b"old")]
    assert store.outbox_pending() == before


def test_empty_batch_changes_nothing(store: RecordStore) -> None:
    store.batch()
    store.batch({}, [])
    assert store.scan() == []
    assert store.outbox_pending() == []


# --- outbox ------------------------------------------------------------------------------------


def test_every_write_enqueues_oldest_first(store: RecordStore) -> None:
    store.put("a", b"1")
    store.put("b", b"2")
    store.delete("a")
    store.batch({"c": b"3"}, deletes=["b"])
    entries = store.outbox_pending()
    assert [(e.name, e.op) for e in entries] == [("a", "delete"), ("c", "put"), ("b", "delete")]
    assert [e.seq for e in entries] == sorted(e.seq for e in entries)
    assert all(isinstance(e, OutboxEntry) for e in entries)


def test_a_newer_write_replaces_the_pending_entry_with_a_higher_seq(store: RecordStore) -> None:
    store.put("a", b"1")
    first = store.outbox_pending()[0]
    store.put("b", b"2")
    store.put("a", b"3")
    entries = store.outbox_pending()
    assert [(e.name, e.op) for e in entries] == [("b", "put"), ("a", "put")]
    assert entries[1].seq > first.seq
    # An uploader acknowledging what it read earlier must not lose the newer change.
    store.outbox_ack([first.seq])
    assert pending(store) == [("b", "put"), ("a", "put")]


def test_delete_of_absent_name_enqueues_nothing(store: RecordStore) -> None:
    store.delete("never")
    store.batch(deletes=["never", "nor/this"])
    assert store.outbox_pending() == []
    assert store.outbox_stats() == OutboxStats(0, 0)


def test_local_names_are_stored_but_never_enqueued(store: RecordStore) -> None:
    store.put("local/server_generation", b"7")
    store.batch({"local/a": b"x", "local/b": b"y", "prefs/c": b"z"})
    store.delete("local/a")
    store.batch(deletes=["local/b"])
    assert store.get("local/server_generation") == b"7"
    assert store.scan("local/") == [("local/server_generation", b"7")]
    assert pending(store) == [("prefs/c", "put")]
    # Only the exact "local/" prefix is machine-local.
    store.put("locale", b"fr")
    store.put("local", b"x")
    assert pending(store)[-2:] == [("locale", "put"), ("local", "put")]


def test_pending_honours_limit_and_ack_removes(store: RecordStore) -> None:
    store.batch({f"r/{i:03}": b"v" for i in range(10)})
    head = store.outbox_pending(limit=4)
    assert [e.name for e in head] == ["r/000", "r/001", "r/002", "r/003"]
    store.outbox_ack(e.seq for e in head)
    store.outbox_ack([])
    store.outbox_ack([head[0].seq, 999_999])  # already acked or unknown: ignored
    assert [e.name for e in store.outbox_pending()] == [f"r/{i:03}" for i in range(4, 10)]
    assert store.get("r/000") == b"v"  # acking never touches records


def test_stats_count_entries_and_bytes_of_current_values(store: RecordStore) -> None:
    assert store.outbox_stats() == OutboxStats(0, 0)
    store.put("a", b"12345")
    store.put("b", b"123")
    store.put("a", b"1")  # coalesces; the current value counts
    store.put("local/x", b"ignored")
    store.put("c", b"gone")
    store.delete("c")
    assert store.outbox_stats() == OutboxStats(count=3, bytes=4)
    store.outbox_ack([store.outbox_pending()[0].seq])
    assert store.outbox_stats() == OutboxStats(count=2, bytes=1)


# --- snapshot ----------------------------------------------------------------------------------


def test_snapshot_of_empty_store(store: RecordStore) -> None:
    snap = store.snapshot()
    assert snap.records == []
    assert snap.outbox_head == 0


def test_snapshot_has_backed_up_records_sorted_and_the_outbox_head(store: RecordStore) -> None:
    store.batch({"z": b"1", "local/x": b"2", "a": b"3", "locale": b"4", "local0": b"5"})
    store.put("local/y", b"6")
    snap = store.snapshot()
    assert snap.records == [("a", b"3"), ("local0", b"5"), ("locale", b"4"), ("z", b"1")]
    assert snap.outbox_head == max(e.seq for e in store.outbox_pending())
    store.outbox_ack(e.seq for e in store.outbox_pending())
    assert store.snapshot().outbox_head == snap.outbox_head  # seqs are never reused
    store.put("b", b"later")
    assert store.outbox_pending()[0].seq > snap.outbox_head
    assert snap.records == [("a", b"3"), ("local0", b"5"), ("locale", b"4"), ("z", b"1")]


def test_snapshot_is_one_consistent_read_while_another_writer_runs(
    store: RecordStore, peer: PeerFactory
) -> None:
    writer_store = peer()
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            n = 0
            while not stop.is_set():
                n += 1
                # Two seqs per batch: after n batches the newest seq is 2n.
                value = str(n).encode()
                writer_store.batch({"pair/a": value, "pair/b": value})
        except BaseException as exc:
            errors.append(exc)

    store.batch({f"bulk/{i:05}": b"x" * 100 for i in range(2000)})
    store.outbox_ack(e.seq for e in store.outbox_pending(limit=5000))
    base = store.snapshot().outbox_head
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(30):
            snap = store.snapshot()
            pair = dict(r for r in snap.records if r[0].startswith("pair/"))
            assert len(snap.records) == 2000 + len(pair)
            if pair:
                assert pair["pair/a"] == pair["pair/b"]
                assert snap.outbox_head == base + 2 * int(pair["pair/a"])
            else:
                assert snap.outbox_head == base
    finally:
        stop.set()
        thread.join()
    assert not errors


# --- loading restored records -------------------------------------------------------------------


def test_load_restored_writes_records_and_queues_nothing(store: RecordStore) -> None:
    head = store.snapshot().outbox_head
    store.load_restored([("wallet/b", b"2"), ("local/backup/x", b"3"), ("wallet/a", b"1")])
    assert store.scan() == [("local/backup/x", b"3"), ("wallet/a", b"1"), ("wallet/b", b"2")]
    assert store.outbox_pending() == []
    assert store.outbox_stats() == OutboxStats(0, 0)
    assert store.snapshot() == ([("wallet/a", b"1"), ("wallet/b", b"2")], head)
    store.load_restored([])
    assert len(store.scan()) == 3


def test_load_restored_overwrites_and_leaves_other_pending_entries(store: RecordStore) -> None:
    store.batch({"a": b"old", "b": b"mine"})
    before = store.outbox_pending()
    store.load_restored([("a", b"restored"), ("c", b"new")])
    assert store.scan() == [("a", b"restored"), ("b", b"mine"), ("c", b"new")]
    assert store.outbox_pending() == before
    # A later ordinary write of a loaded name is queued as usual.
    store.put("c", b"changed")
    assert pending(store)[-1] == ("c", "put")


@pytest.mark.parametrize(
    "records",
    [
        [("a", b"1"), ("", b"2")],
        [("a", b"1"), ("b", "text")],
        [("a", b"1"), ("b\x00", b"2")],
        [("a", b"1"), ("a", b"2")],
        [("a", b"1"), ("\ud800", b"2")],
        [("a", b"1"), ("n" * 1025, b"2")],
        [("a", b"1"), (5, b"2")],
        [("a", b"1"), ("b", bytearray(b"2"))],
    ],
)
def test_load_restored_refuses_bad_records_and_writes_none(
    store: RecordStore, records: list[tuple[Any, Any]]
) -> None:
    with pytest.raises(ValueError):
        store.load_restored(records)
    assert store.scan() == []
    assert store.outbox_pending() == []


# --- lifecycle ---------------------------------------------------------------------------------


def test_every_call_after_close_fails_loudly(store: RecordStore) -> None:
    store.put("a", b"1")
    store.close()
    store.close()  # closing twice is harmless
    calls = [
        lambda: store.get("a"),
        lambda: store.put("a", b"2"),
        lambda: store.put_if("a", b"2", expect=b"1"),
        lambda: store.delete("a"),
        lambda: store.scan(),
        lambda: store.batch({"b": b"1"}),
        lambda: store.load_restored([("b", b"1")]),
        lambda: store.outbox_pending(),
        lambda: store.outbox_ack([1]),
        lambda: store.outbox_ack([]),
        lambda: store.outbox_stats(),
        lambda: store.snapshot(),
    ]
    for call in calls:
        with pytest.raises(StoreClosedError):
            call()


def test_usable_from_another_thread(store: RecordStore) -> None:
    results: list[bytes | None] = []
    thread = threading.Thread(target=lambda: (store.put("t", b"1"), results.append(store.get("t"))))
    thread.start()
    thread.join()
    assert results == [b"1"]
    assert store.get("t") == b"1"


def test_sqlite_store_keeps_records_and_outbox_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    with SqliteStore(path) as first:
        first.batch({"a": b"1", "b": b"2", "local/c": b"3"})
        first.delete("b")
        first.outbox_ack([first.outbox_pending()[0].seq])
        before = first.outbox_pending()
        head = first.snapshot().outbox_head
    with SqliteStore(path) as again:
        assert again.scan() == [("a", b"1"), ("local/c", b"3")]
        assert again.outbox_pending() == before == [OutboxEntry(before[0].seq, "b", "delete")]
        assert again.snapshot().outbox_head == head
        again.put("d", b"4")
        assert again.outbox_pending()[-1].seq > head


# --- both stores agree on any sequence of operations --------------------------------------------

_names = st.sampled_from(
    ["a", "a/b", "a/c", "b", "local/x", "local/y", "é", "\U0001f600", "locale"]
)
_values = st.binary(max_size=40)
_operations = st.lists(
    st.one_of(
        st.tuples(st.just("put"), _names, _values),
        st.tuples(st.just("delete"), _names),
        st.tuples(
            st.just("batch"),
            st.dictionaries(_names, _values, max_size=4),
            st.lists(_names, max_size=3, unique=True),
        ),
        st.tuples(st.just("ack"), st.integers(min_value=0, max_value=5)),
        st.tuples(st.just("load"), st.lists(st.tuples(_names, _values), max_size=4)),
    ),
    max_size=30,
)


def _observe(store: RecordStore) -> tuple[object, ...]:
    return (
        store.scan(),
        store.scan("a/"),
        store.outbox_pending(),
        store.outbox_stats(),
        store.snapshot(),
    )


def _apply(store: RecordStore, op: tuple[Any, ...]) -> str | None:
    try:
        if op[0] == "put":
            store.put(op[1], op[2])
        elif op[0] == "delete":
            store.delete(op[1])
        elif op[0] == "batch":
            store.batch(op[1], op[2])
        elif op[0] == "load":
            store.load_restored(op[1])
        else:
            store.outbox_ack(e.seq for e in store.outbox_pending(limit=op[1] + 1))
    except ValueError as exc:
        return str(exc)
    return None


@settings(max_examples=40, deadline=None)
@given(_operations)
def test_memory_and_sqlite_stores_agree_on_any_sequence(operations: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        memory, sqlite = MemoryStore(), SqliteStore(Path(tmp) / "records.sqlite")
        try:
            for op in operations:
                assert _apply(memory, op) == _apply(sqlite, op)
                assert _observe(memory) == _observe(sqlite)
        finally:
            sqlite.close()


@settings(max_examples=150, deadline=None)
@given(
    names=st.lists(st.text(max_size=300), min_size=1, max_size=6),
    as_bytes=st.booleans(),
)
def test_a_load_is_checked_as_each_record_would_be(names: list[str], as_bytes: bool) -> None:
    """The whole-load check of a restore accepts and refuses exactly what the per-record
    checks do."""
    records = [(name, b"v" if as_bytes else bytearray(b"v")) for name in names]
    try:
        one_by_one: object = [(check_name(n), check_value(v)) for n, v in records]
        if len({n for n, _ in records}) != len(records):
            one_by_one = ValueError
    except ValueError:
        one_by_one = ValueError
    try:
        whole: object = check_restored(records)
    except ValueError:
        whole = ValueError
    assert whole == one_by_one


def test_apply_synced_queues_at_the_time_given_or_now(store: RecordStore) -> None:
    before = int(time.time() * 1000)
    store.apply_synced({}, [], expect={}, queue={"labels/a": b"copy"}, queued_at=0)
    store.apply_synced({}, [], expect={}, queue={"labels/b": b"merged"})
    pending = store.pending_for(["labels/a", "labels/b"])
    assert pending["labels/a"].at_ms == 0  # a copy of a value synced before
    assert pending["labels/b"].at_ms >= before
    assert store.get("labels/a") == b"copy"
