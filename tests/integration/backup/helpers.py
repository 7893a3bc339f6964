"""Shared pieces of the backup engine's integration tests: seeds, stores, services."""

from __future__ import annotations

import functools
import os
import sqlite3
from pathlib import Path

from cairn.backup.client import RemoteBackupClient
from cairn.backup.restore import RestoreOutcome, RestoreResult, restore_store
from cairn.backup.service import BackupService
from cairn.backup.uploader import Backoff
from cairn.keys import BackupKeys, derive_backup_keys, mnemonic_to_seed
from cairn.storage import AsyncRecordStore, SqliteStore
from tests.support.words import PHRASE

WORDS = PHRASE
OTHER_WORDS = "letter advice cage absurd amount doctor acoustic avoid letter advice cage above"
NETWORK = "regtest"


WORDS_ENV = "CAIRN_TEST_WORDS"


def current_words() -> str:
    """This test's recovery words: fresh for every test (conftest), so tests sharing one server
    never see each other's stores; child processes inherit them through the environment."""
    return os.environ.get(WORDS_ENV, WORDS)


def keys_for(words: str | None = None) -> BackupKeys:
    return _keys(words or current_words())


@functools.lru_cache(maxsize=64)
def _keys(words: str) -> BackupKeys:
    return derive_backup_keys(mnemonic_to_seed(words))


def open_store(path: Path) -> AsyncRecordStore:
    return AsyncRecordStore(SqliteStore(path))


def service_for(
    store: AsyncRecordStore, url: str, keys: BackupKeys | None = None, **options: object
) -> BackupService:
    options.setdefault("debounce", 0.05)
    options.setdefault("poll_interval", None)  # tests that need the periodic pull ask for it
    options.setdefault("backoff", Backoff(base=0.05, cap=0.3))
    options.setdefault("timeout", 5.0)
    return BackupService(store, keys or keys_for(), NETWORK, url, **options)  # type: ignore[arg-type]


def records_of(path: Path) -> dict[str, bytes]:
    """Every backed-up record of a store file (local/ excluded), read fresh from disk."""
    store = SqliteStore(path)
    try:
        return dict(store.snapshot().records)
    finally:
        store.close()


async def restore_to(
    url: str,
    target: Path,
    keys: BackupKeys | None = None,
    *,
    accept_incomplete: bool = False,
) -> RestoreResult:
    keys = keys or keys_for()
    async with RemoteBackupClient(url, keys, NETWORK) as client:
        return await restore_store(client, keys, target, accept_incomplete=accept_incomplete)


async def back_up_records(path: Path, records: dict[str, bytes], url: str) -> None:
    """A store file at `path` holding `records`, backed up to `url` in full and closed."""
    store = open_store(path)
    await store.batch(records)
    service = service_for(store, url)
    await service.prepare()
    await service.backup_now()
    await service.stop()
    await store.aclose()


async def restored_records(url: str, tmp_path: Path) -> dict[str, bytes]:
    """What a restore of the test seed's backup from `url` brings back; it must succeed."""
    target = tmp_path / "restored.sqlite"
    result = await restore_to(url, target)
    assert result.outcome is RestoreOutcome.RESTORED, result.detail
    return records_of(target)


def sample_records(count: int, size: int = 200) -> dict[str, bytes]:
    """Names shaped like the wallet's, values random (incompressible, as the worst case)."""
    records: dict[str, bytes] = {}
    for i in range(count):
        kind = i % 4
        if kind == 0:
            name = f"wallet/changeset/{i:06d}"
        elif kind == 1:
            name = f"labels/tx/{os.urandom(8).hex()}"
        elif kind == 2:
            name = f"payments/{os.urandom(8).hex()}"
        else:
            name = f"prefs/naïve-ünïcode-{i}"
        records[name] = os.urandom(size)
    return records


def server_rows(
    db: str, where: str = "", args: tuple[object, ...] = ()
) -> list[tuple[str, int, bytes]]:
    """(key, version, value) rows straight from cairn-backupd's SQLite file."""
    conn = sqlite3.connect(db)
    try:
        return [
            (str(k), int(v), bytes(b))
            for k, v, b in conn.execute(f"SELECT key, version, value FROM objects {where}", args)
        ]
    finally:
        conn.close()


def server_execute(db: str, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Read or change cairn-backupd's database behind its back, as a malicious operator could."""
    conn = sqlite3.connect(db)
    try:
        with conn:
            return list(conn.execute(sql, args))
    finally:
        conn.close()
