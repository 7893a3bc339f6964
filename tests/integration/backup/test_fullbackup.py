"""Full backup: after an upgrade, a server change or a server that lost our store; resumable."""

from __future__ import annotations

import sqlite3

import pytest

from cairn.backup.client import BackupUnreachable
from cairn.backup.fullbackup import FullBackupProgress, full_backup_reason, require_full_backup
from cairn.backup.localstate import FULL_REQUIRED
from cairn.backup.restore import RestoreOutcome
from cairn.storage import SqliteStore
from tests.integration.backup.helpers import (
    open_store,
    records_of,
    restore_to,
    restored_records,
    sample_records,
    service_for,
)


def lose_every_row(db):
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DELETE FROM objects")
        conn.execute("DELETE FROM stores")
    conn.close()


def upgraded_store(path, count):
    """A store as an upgrade from a format without backups leaves it: records, no outbox."""
    store = SqliteStore(path)
    store.batch(sample_records(count))
    while entries := store.outbox_pending(1000):
        store.outbox_ack(e.seq for e in entries)
    require_full_backup(store, "upgraded from a version without backups")
    store.close()


@pytest.mark.asyncio
async def test_an_upgraded_wallet_is_fully_backed_up_with_progress(backupd, tmp_path):
    path = tmp_path / "a.sqlite"
    upgraded_store(path, 120)
    store = open_store(path)
    service = service_for(store, backupd.url, max_items=50)
    seen: list[FullBackupProgress] = []
    service.set_progress(seen.append)
    await service.prepare()
    assert service.status.current.full_backup_reason == "upgraded from a version without backups"
    await service.backup_now()
    counted = [p for p in seen if p.total]  # once the comparison knows what the server lacks
    assert [p.done for p in counted] == [0, 50, 100, 120]
    assert all(p.total == 120 for p in counted)
    assert seen[-1].bytes_sent > 120 * 200
    assert service.status.current.full_backup_reason is None
    await service.stop()
    await store.aclose()
    assert full_backup_reason(SqliteStore(path)) is None
    assert await restored_records(backupd.url, tmp_path) == records_of(path)


@pytest.mark.asyncio
async def test_an_interrupted_full_backup_resumes_where_it_stopped(backupd, tmp_path):
    path = tmp_path / "a.sqlite"
    upgraded_store(path, 100)
    store = open_store(path)
    service = service_for(store, backupd.url, max_items=10)
    seen: list[FullBackupProgress] = []

    killed = []

    def kill_after_three_batches(progress: FullBackupProgress) -> None:
        seen.append(progress)
        if progress.done == 30 and not killed:
            killed.append(progress)
            backupd.kill()

    service.set_progress(kill_after_three_batches)
    await service.prepare()
    with pytest.raises(BackupUnreachable):
        await service.backup_now()
    assert await store.get(FULL_REQUIRED) is not None
    await store.put("labels/tx/written-meanwhile", b"new")  # must reach the server too

    backupd.start()
    # A new machine restoring now is told the backup is incomplete, and nothing is written.
    target = tmp_path / "meanwhile.sqlite"
    cut = await restore_to(backupd.url, target)
    assert cut.outcome is RestoreOutcome.INCOMPLETE, cut.detail
    assert cut.records == 30 and "incomplete" in cut.detail
    assert not target.exists()
    # By the user's choice it restores what the backup holds.
    anyway = await restore_to(backupd.url, target, accept_incomplete=True)
    assert anyway.outcome is RestoreOutcome.RESTORED
    assert len(records_of(target)) == 30
    seen.clear()
    await service.backup_now()
    # Progress shows the work that is left: the first three batches are not sent again.
    left = [p for p in seen if p.total]
    assert left[0].total == 71
    assert left[-1].done == 71
    assert service.status.current.full_backup_reason is None
    await service.stop()
    await store.aclose()
    # Finished: the backup is whole again, and a restore says so.
    assert await restored_records(backupd.url, tmp_path) == records_of(path)


@pytest.mark.asyncio
async def test_a_new_server_url_sends_everything_to_the_new_server(backupd_factory, tmp_path):
    first, second = backupd_factory(), backupd_factory()
    path = tmp_path / "a.sqlite"
    store = open_store(path)
    await store.batch(sample_records(40))
    service = service_for(store, first.url)
    await service.prepare()
    await service.backup_now()
    await service.stop()

    service = service_for(store, second.url)
    await service.prepare()
    assert service.status.current.full_backup_reason == "the backup server changed"
    await service.backup_now()
    assert service.status.current.full_backup_reason is None
    await service.stop()
    await store.aclose()
    assert await restored_records(second.url, tmp_path) == records_of(path)


@pytest.mark.asyncio
async def test_a_store_missing_on_the_server_is_uploaded_again(backupd, tmp_path):
    path = tmp_path / "a.sqlite"
    store = open_store(path)
    await store.batch(sample_records(40))
    service = service_for(store, backupd.url)
    await service.prepare()
    await service.backup_now()
    await service.stop()

    lose_every_row(backupd.db)  # the operator lost the store

    service = service_for(store, backupd.url)  # the app starts again
    await service.prepare()
    await service.backup_now()
    assert service.status.current.rollback_detected
    assert service.status.current.full_backup_reason is None
    await service.stop()
    await store.aclose()
    assert await restored_records(backupd.url, tmp_path) == records_of(path)


@pytest.mark.asyncio
async def test_a_batch_sealed_ahead_is_rebuilt_when_another_device_writes_in_between(
    backupd, tmp_path
):
    # While a full batch is with the server the next one is sealed for the generation after
    # it. Another device writes in between: that batch must be refused, dropped and rebuilt,
    # and neither device's records lost.
    path = tmp_path / "b.sqlite"
    upgraded_store(path, 130)
    store_b = open_store(path)
    service_b = service_for(store_b, backupd.url, max_items=40)
    store_a = open_store(tmp_path / "a.sqlite")
    service_a = service_for(store_a, backupd.url)
    await service_b.prepare()
    put_batch = service_b.client.put_batch
    accepted: list[int] = []

    async def put_then_other_device_writes(batch):
        result = await put_batch(batch)
        accepted.append(result.generation)
        if len(accepted) == 1:
            await service_a.prepare()
            await store_a.put("labels/tx/from-a", b"written on A mid-backup")
            await service_a.backup_now()
        return result

    service_b.client.put_batch = put_then_other_device_writes
    await service_b.backup_now()
    assert len(accepted) >= 4  # 130 records in batches of 40, one batch rebuilt
    assert service_b.status.current.full_backup_reason is None
    await service_a.stop()
    await store_a.aclose()
    await service_b.stop()
    await store_b.aclose()
    mine = records_of(path)
    assert mine["labels/tx/from-a"] == b"written on A mid-backup"  # B pulled A's change
    assert await restored_records(backupd.url, tmp_path) == mine


@pytest.mark.asyncio
async def test_a_record_rewritten_while_the_full_backup_compares_keeps_its_new_value(
    backupd, tmp_path, monkeypatch
):
    path = tmp_path / "a.sqlite"
    upgraded_store(path, 30)
    name = sorted(records_of(path))[0]
    store = open_store(path)
    service = service_for(store, backupd.url)
    await service.prepare()
    local = service.engine.local
    versions = local.versions
    written: list[str] = []

    async def versions_then_a_write(keys):  # type: ignore[no-untyped-def]
        found = await versions(keys)
        if not written:  # the user writes while the comparison decides what to queue
            written.append(name)
            await store.put(name, b"written during the comparison")
        return found

    monkeypatch.setattr(local, "versions", versions_then_a_write)
    await service.backup_now()
    assert written == [name]
    assert await store.get(name) == b"written during the comparison"
    await service.stop()
    await store.aclose()
    restored = await restored_records(backupd.url, tmp_path)
    assert restored[name] == b"written during the comparison"
    assert restored == records_of(path)
