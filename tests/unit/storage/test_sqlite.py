"""SqliteStore specifics: durability settings, file permissions, schema versions, migrations."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.storage import (
    MIGRATIONS,
    Migration,
    MigrationError,
    OutboxEntry,
    SchemaTooNewError,
    SqliteStore,
    StoreCorruptError,
    StoreError,
)
from cairn.storage.migrations import backup_path

CURRENT = len(MIGRATIONS)
NEXT = CURRENT + 1  # the number a new migration would take


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: the store must not rely on the user's umask for 0600."""
    old = os.umask(0)
    yield
    os.umask(old)


def test_pragmas_give_wal_full_sync_and_foreign_keys(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "records.sqlite") as store:
        conn = store._conn  # the settings are per connection: read them where they apply
        assert conn is not None
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_a_staging_store_is_atomic_unsynced_and_opens_as_wal_afterwards(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite.restore-staging"
    with SqliteStore(path, durable=False) as store:
        conn = store._conn
        assert conn is not None
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "memory"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 0  # OFF
        store.load_restored([("wallet/a", b"1"), ("local/backup/x", b"2")])
        # A statement that fails half-way through a transaction still undoes all of it.
        other = sqlite3.connect(path)
        other.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON records WHEN NEW.name = 'wallet/boom'"
            " BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
        other.commit()
        other.close()
        with pytest.raises(StoreError):
            store.load_restored([("wallet/b", b"3"), ("wallet/boom", b"4")])
        assert store.scan() == [("local/backup/x", b"2"), ("wallet/a", b"1")]
        assert list(tmp_path.iterdir()) == [path]  # no journal or WAL next to it
        store.check_integrity()
    with SqliteStore(path) as again:
        assert again._conn is not None
        assert again._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert again.scan() == [("local/backup/x", b"2"), ("wallet/a", b"1")]
        assert again.outbox_pending() == []


@pytest.mark.usefixtures("open_umask")
def test_database_wal_and_shm_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "wallets" / "regtest" / "records.sqlite"
    with SqliteStore(path) as store:
        store.put("prefs/email", b"a@example.org")
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        assert all(f.exists() for f in files)
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert mode(path.parent) == 0o700


def test_an_existing_file_readable_by_others_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    SqliteStore(path).close()
    path.chmod(0o644)
    with SqliteStore(path) as store:
        assert mode(path) == 0o600
        assert store.scan() == []


def test_a_new_file_gets_the_newest_schema_without_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    with SqliteStore(path) as store:
        assert store.migration_backup is None
    assert user_version(path) == MIGRATIONS[-1].version == len(MIGRATIONS)
    assert {"records", "outbox"} <= tables(path)
    assert not list(tmp_path.glob("*.bak"))


def test_a_file_from_a_newer_cairn_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    with SqliteStore(path) as store:
        store.put("a", b"1")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(SchemaTooNewError, match="newer Cairn"):
        SqliteStore(path)
    assert path.read_bytes() == before


def _add_tags_table(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE tags (name TEXT PRIMARY KEY REFERENCES records (name))")
    conn.execute("INSERT INTO tags (name) SELECT name FROM records WHERE name LIKE 'labels/%'")


def _half_done_then_fail(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE tags (name TEXT PRIMARY KEY)")
    conn.execute("UPDATE records SET value = x'00'")
    conn.execute("DELETE FROM outbox")
    raise RuntimeError("step 2 went wrong")


def _bad_sql(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE records ADD COLUMN size INTEGER")
    conn.execute("ALTER TABLE no_such_table ADD COLUMN x")


def _v1_file(path: Path) -> tuple[list[tuple[str, bytes]], list[object]]:
    with SqliteStore(path) as store:
        store.batch({"labels/tx/a": b"rent", "prefs/fiat": b"EUR", "local/gen": b"3"})
        store.delete("prefs/fiat")
        return store.scan(), list(store.outbox_pending())


def test_migration_keeps_an_online_backup_of_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    records, outbox = _v1_file(path)
    v2 = (*MIGRATIONS, Migration(NEXT, "tags", _add_tags_table))
    with SqliteStore(path, migrations=v2) as store:
        assert (
            store.migration_backup
            == backup_path(path, CURRENT)
            == tmp_path / f"records.sqlite.v{CURRENT}.bak"
        )
        assert store.scan() == records
        assert store.outbox_pending() == outbox
        store.put("labels/tx/b", b"food")
    assert user_version(path) == NEXT
    assert "tags" in tables(path)
    saved = backup_path(path, CURRENT)
    assert mode(saved) == 0o600
    assert user_version(saved) == CURRENT
    assert "tags" not in tables(saved)
    assert not list(tmp_path.glob("*.partial"))
    # The copy is a complete store at the old version: it opens and has every record.
    with SqliteStore(saved) as old:
        assert old.scan() == records
        assert old.outbox_pending() == outbox
        old.check_integrity()
    # Opening again at the same version migrates nothing and makes no new copy.
    with SqliteStore(path, migrations=v2) as store:
        assert store.migration_backup is None


@pytest.mark.parametrize("step", [_half_done_then_fail, _bad_sql])
def test_a_failing_migration_rolls_back_and_leaves_the_old_file(
    tmp_path: Path, step: object
) -> None:
    path = tmp_path / "records.sqlite"
    records, outbox = _v1_file(path)
    broken = (*MIGRATIONS, Migration(NEXT, "broken", step))  # type: ignore[arg-type]
    with pytest.raises(MigrationError, match="unchanged") as failure:
        SqliteStore(path, migrations=broken)
    assert failure.value.__cause__ is not None
    assert user_version(path) == CURRENT
    assert "tags" not in tables(path)
    assert backup_path(path, CURRENT).exists()
    with SqliteStore(path) as store:
        assert store.scan() == records
        assert store.outbox_pending() == outbox
        store.check_integrity()


def test_a_schema_v1_file_from_the_first_release_opens_with_everything(tmp_path: Path) -> None:
    # The fixture is a real file written by schema version 1; never open it in place.
    path = tmp_path / "records.sqlite"
    shutil.copyfile(Path(__file__).with_name("fixtures") / "records-v1.sqlite", path)
    with SqliteStore(path) as store:
        store.check_integrity()
        assert store.scan() == [
            ("labels/tx/00ff", b"rent, March"),
            ("local/server_generation", b"41"),
            ("meta/format", b"2"),
            ("prefs/email", b"a@example.org"),
            ("prefs/fiat", b"EUR"),
            ("wallet/descriptor", b"wpkh(...)"),
        ]
        assert store.outbox_pending() == [
            OutboxEntry(5, "prefs/fiat", "put"),
            OutboxEntry(6, "labels/tx/00ff", "put"),
            OutboxEntry(8, "payments/abcd", "delete"),
        ]
        assert store.snapshot().outbox_head == 8
        store.put("prefs/email", b"b@example.org")
        assert store.outbox_pending()[-1] == OutboxEntry(9, "prefs/email", "put")
    assert mode(path) == 0o600


def test_the_copy_is_made_before_the_steps_run_and_nobody_writes_in_between(
    tmp_path: Path,
) -> None:
    path = tmp_path / "records.sqlite"
    records, _ = _v1_file(path)
    seen: list[object] = []

    def step(conn: sqlite3.Connection) -> None:
        with SqliteStore(backup_path(path, CURRENT)) as copy:
            seen.append(copy.scan())
        other = sqlite3.connect(path, timeout=0)
        try:
            other.execute("INSERT INTO records VALUES ('sneaked/in', x'00')")
            other.commit()
        except sqlite3.OperationalError as exc:
            seen.append(str(exc))
        finally:
            other.close()
        _add_tags_table(conn)

    with SqliteStore(path, migrations=(*MIGRATIONS, Migration(NEXT, "tags", step))) as store:
        assert store.get("sneaked/in") is None
    assert seen == [records, "database is locked"]


def test_migrations_must_be_numbered_in_order(tmp_path: Path) -> None:
    gap = (*MIGRATIONS, Migration(NEXT + 1, "skips one", _add_tags_table))
    with pytest.raises(ValueError, match="numbered"):
        SqliteStore(tmp_path / "records.sqlite", migrations=gap)


def test_integrity_check_finds_a_damaged_page(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    with SqliteStore(path) as store:
        store.batch({f"r/{i:05}": os.urandom(64) for i in range(3000)})
        store.check_integrity()
    # Overwrite one whole page in the middle of the records' b-tree.
    page_size = 4096
    with path.open("r+b") as f:
        f.seek(page_size * 40)
        f.write(b"\xff" * page_size)
    damaged = path.read_bytes()
    # Refused at open, before anything could write to it.
    with pytest.raises(StoreCorruptError, match="is damaged"):
        SqliteStore(path)
    assert path.read_bytes() == damaged


def test_an_empty_store_file_is_damage_not_a_new_store(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    path.write_bytes(b"")
    with pytest.raises(StoreCorruptError, match=r"empty \(0 bytes\)"):
        SqliteStore(path)
    assert path.read_bytes() == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["records.sqlite"]


def test_a_new_store_file_appears_complete_with_its_schema(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    with SqliteStore(path) as store:
        # Already on disk before the first write: the schema, WAL mode, mode 0600, and no
        # temporary file left beside it.
        assert tables(path) >= {"records", "outbox"}
        assert user_version(path) == len(MIGRATIONS)
        assert mode(path) == 0o600
        assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(path.name)) == []
        store.put("a", b"1")
    with SqliteStore(path) as again:
        assert again.get("a") == b"1"


def test_a_folder_where_the_store_goes_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    path.mkdir()
    (path / "inside").write_bytes(b"x")
    with pytest.raises(StoreCorruptError, match="is a folder"):
        SqliteStore(path)
    assert (path / "inside").read_bytes() == b"x"


def test_missing_parent_folders_are_created_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "wallets" / "regtest" / "records.sqlite"
    SqliteStore(path).close()
    for folder in (tmp_path / "new", tmp_path / "new" / "wallets", path.parent):
        assert mode(folder) == 0o700, folder


def test_a_file_that_is_not_a_record_store_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    path.write_bytes(b"not a database, " * 512)
    path.chmod(0o600)
    with pytest.raises(StoreCorruptError, match="damaged or not a record store"):
        SqliteStore(path)
    assert path.read_bytes() == b"not a database, " * 512


def test_a_large_batch_is_one_transaction_and_one_snapshot(tmp_path: Path) -> None:
    # Its speed is measured by scripts/bench_backup.py, not asserted here.
    records = {f"wallet/changeset/{i:06}": os.urandom(200) for i in range(20_000)}
    with SqliteStore(tmp_path / "records.sqlite") as store:
        store.batch(records)
        snap = store.snapshot()
        assert store.outbox_stats().count == 20_000
    assert dict(snap.records) == records
    assert snap.outbox_head >= 20_000


def test_count_counts_the_records_under_a_prefix(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.sqlite") as store:
        store.load_restored([("a/1", b""), ("a/2", b"x"), ("a0", b"y"), ("b", b"z")])
        assert store.count("a/") == 2
        assert store.count("") == 4
        assert store.count("c") == 0
