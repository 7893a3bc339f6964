"""Many records written in one statement (sqlite_bulk.py) are exactly the records given."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from cairn.storage import SqliteStore, sqlite_bulk

# Names a user's labels or a wallet's records can have: every one must come back as it went in.
AWKWARD_NAMES = [
    "labels/tx/" + "ab" * 32,
    "labels/addr/bcrt1q émoji 🪨 and ∑",
    'prefs/quote " and \\ backslash',
    "prefs/line\nbreak\ttab\x01control\x7f",
    "wallet/名前/ไทย/עברית",
    "x",
    "wallet/" + "ü" * 500,
]


def _records(count: int) -> dict[str, bytes]:
    records = {name: os.urandom(i * 7 % 300) for i, name in enumerate(AWKWARD_NAMES)}
    records["wallet/empty"] = b""
    records["wallet/nul\x01in value"] = b"\x00\x00\xff\x00"
    records.update({f"wallet/changeset/{i:06}": os.urandom(i % 2500) for i in range(count)})
    return records


@pytest.fixture(params=["one statement", "row by row"])
def bulk_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    # Both ways must give the same file: the second is what an SQLite before 3.38 does.
    monkeypatch.setattr(sqlite_bulk, "BULK_WORKS", request.param == "one statement")
    return str(request.param)


@pytest.mark.usefixtures("bulk_mode")
def test_a_restore_load_writes_exactly_the_records_given(tmp_path: Path) -> None:
    records = _records(3000)
    with SqliteStore(tmp_path / "records.sqlite") as store:
        store.load_restored(records.items())
        assert dict(store.scan()) == records
        assert all(type(value) is bytes for _, value in store.scan())
        assert store.outbox_stats().count == 0  # restored: nothing to upload
        store.check_integrity()


@pytest.mark.usefixtures("bulk_mode")
def test_a_batch_updates_what_changed_and_queues_every_name(tmp_path: Path) -> None:
    first = _records(500)
    second = {
        name: (value if i % 2 else value + b"!") for i, (name, value) in enumerate(first.items())
    }
    second["wallet/new"] = b"new"
    with SqliteStore(tmp_path / "records.sqlite") as store:
        store.batch(first)
        store.batch(second)
        assert dict(store.scan()) == second
        assert {e.name for e in store.outbox_pending(10_000)} == set(second)


@pytest.mark.usefixtures("bulk_mode")
def test_synced_records_are_applied_without_being_queued(tmp_path: Path) -> None:
    records = _records(400)
    with SqliteStore(tmp_path / "records.sqlite") as store:
        store.apply_synced(records, [], expect={})
        assert dict(store.scan()) == records
        assert store.outbox_stats().count == 0


def test_a_load_larger_than_one_statement_is_split_and_stays_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_bulk, "STATEMENT_BYTES", 10_000)
    records = _records(1000)
    with SqliteStore(tmp_path / "records.sqlite") as store:
        store.load_restored(records.items())
        assert dict(store.scan()) == records


def test_a_failing_load_leaves_nothing_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_bulk, "STATEMENT_BYTES", 10_000)
    calls = 0
    real = sqlite_bulk._upsert_in_one_step

    def fail_on_the_third(conn: object, items: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError("disk gone")
        real(conn, items)  # type: ignore[arg-type]

    monkeypatch.setattr(sqlite_bulk, "_upsert_in_one_step", fail_on_the_third)
    with SqliteStore(tmp_path / "records.sqlite") as store:
        store.put("wallet/kept", b"before")
        with pytest.raises(OSError, match="disk gone"):
            store.load_restored(_records(1000).items())
        assert store.scan() == [("wallet/kept", b"before")]


def test_a_store_thread_writing_many_rows_is_not_held_up_by_a_busy_thread(
    tmp_path: Path,
) -> None:
    # Row by row, each row waited for the GIL while another thread ran Python: 40,000 rows
    # took minutes. In one statement the write needs the GIL a handful of times. What is
    # asserted is that it ends while the busy thread still runs (no time is measured).
    records = {f"wallet/changeset/{i:06}": os.urandom(500) for i in range(40_000)}
    done = threading.Event()
    spins = 0

    def busy() -> None:
        nonlocal spins
        while not done.is_set() and spins < 50_000_000:
            spins += 1

    with SqliteStore(tmp_path / "records.sqlite") as store:
        spinner = threading.Thread(target=busy)
        spinner.start()
        try:
            store.load_restored(records.items())
        finally:
            done.set()
            spinner.join()
        assert store.count("wallet/") == 40_000
    assert spins < 50_000_000, "the write only ended once the busy thread had stopped"


@pytest.mark.usefixtures("bulk_mode")
def test_acknowledged_entries_leave_the_outbox_and_only_they(tmp_path: Path) -> None:
    records = _records(300)
    with SqliteStore(tmp_path / "records.sqlite") as store:
        store.batch(records)
        entries = store.outbox_pending(10_000)
        acked = entries[::3] + entries[1::3]
        store.outbox_ack([e.seq for e in acked])
        left = store.outbox_pending(10_000)
        assert left == entries[2::3]
        store.apply_synced({}, [], expect={}, ack=[e.seq for e in left])
        assert store.outbox_stats().count == 0
        assert dict(store.scan()) == records
