"""A full backup cut off partway is never restored as the whole wallet.

After a server change or an erase, a device fills a new store batch by batch. Every batch is a
consistent store with a valid manifest, so without a mark a restore in between would take the
part for the whole: labels missing, a used address handed out again. The manifests of a full
backup name the device still filling the store until its last one (PROTOCOL.md 11.5, 11.8).
"""

from __future__ import annotations

import pytest

from cairn.backup.client import BackupUnreachable
from cairn.backup.fullbackup import FullBackupProgress
from cairn.backup.localstate import LocalBackupState
from cairn.backup.restore import RestoreOutcome
from tests.integration.backup.helpers import (
    open_store,
    records_of,
    restore_to,
    restored_records,
    sample_records,
    service_for,
)


def kill_server_after(server, done: int):
    """A progress callback that kills `server` once `done` records are up."""

    def watch(progress: FullBackupProgress) -> None:
        if progress.done >= done and server.process.poll() is None:
            server.kill()

    return watch


@pytest.mark.asyncio
async def test_a_full_backup_to_a_new_server_cut_off_partway_restores_as_incomplete(
    backupd_factory, tmp_path
):
    old, new = backupd_factory(), backupd_factory()
    path = tmp_path / "a.sqlite"
    store = open_store(path)
    await store.batch({**sample_records(60), "wallet/revealed/external": b"41 " + b"ab" * 16})
    service = service_for(store, old.url)
    await service.prepare()
    await service.backup_now()
    await service.stop()

    service = service_for(store, new.url, max_items=10)
    service.set_progress(kill_server_after(new, 20))
    await service.prepare()
    with pytest.raises(BackupUnreachable):
        await service.backup_now()
    new.start()

    target = tmp_path / "new-laptop.sqlite"
    cut = await restore_to(new.url, target)
    assert cut.outcome is RestoreOutcome.INCOMPLETE, cut.detail
    assert not target.exists()
    # Restored anyway, by the user's choice: the addresses handed out went up first, so none
    # is handed out again (the rest of the wallet is what the backup holds).
    anyway = await restore_to(new.url, target, accept_incomplete=True)
    assert anyway.outcome is RestoreOutcome.RESTORED
    part = records_of(target)
    assert part["wallet/revealed/external"] == b"41 " + b"ab" * 16
    assert 0 < len(part) < 61

    # The new laptop writes before the old one is back: its batch carries on the write ids
    # before it (PROTOCOL.md 11.5), and clears the mark the user chose to restore past (11.8).
    restored_store = open_store(target)
    mirror = await LocalBackupState(restored_store).manifest()
    assert len(mirror.recent) >= 2 and not mirror.filling
    await restored_store.put("labels/tx/new", b"written on the new laptop")
    restored_service = service_for(restored_store, new.url)
    await restored_service.prepare()
    await restored_service.backup_now()
    after = await LocalBackupState(restored_store).manifest()
    assert not after.filling and after.recent[1:] == mirror.recent[:15]
    await restored_service.stop()
    await restored_store.aclose()

    service.set_progress(None)
    await service.backup_now()  # the old laptop comes back and finishes
    await service.stop()
    await store.aclose()
    everything = {**records_of(path), "labels/tx/new": b"written on the new laptop"}
    assert await restored_records(new.url, tmp_path) == everything


@pytest.mark.asyncio
async def test_another_device_keeps_the_mark_and_its_records_while_a_new_life_is_filled(
    backupd_factory, tmp_path
):
    server = backupd_factory()
    a_path, b_path = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    a_store = open_store(a_path)
    await a_store.batch(sample_records(50))
    a = service_for(a_store, server.url, max_items=10)
    await a.prepare()
    await a.backup_now()
    restored = await restore_to(server.url, b_path)
    assert restored.outcome is RestoreOutcome.RESTORED
    b_store = open_store(b_path)
    b = service_for(b_store, server.url)
    await b.prepare()
    await b.backup_now()

    # The user erases the backup on A and backs up again there; it is cut off after 20.
    await a.delete_server_backup()
    await a.start_again()
    a.set_progress(kill_server_after(server, 20))
    with pytest.raises(BackupUnreachable):
        await a.backup_now()
    server.start()

    # B joins the new life and writes: it neither drops the records A has not put up yet nor
    # the mark that the store is still being filled.
    await b.backup_now()  # joins: a full resync of its own
    await b_store.put("labels/tx/written-on-b", b"from b")
    await b.backup_now()  # an ordinary batch
    b_records = records_of(b_path)
    assert len([n for n in b_records if n != "labels/tx/written-on-b"]) == 50
    cut = await restore_to(server.url, tmp_path / "c.sqlite")
    assert cut.outcome is RestoreOutcome.INCOMPLETE, cut.detail

    a.set_progress(None)
    await a.backup_now()
    await b.backup_now()
    for service, store in ((a, a_store), (b, b_store)):
        await service.stop()
        await store.aclose()
    whole = await restored_records(server.url, tmp_path)
    assert whole == records_of(a_path) == records_of(b_path)
    assert whole["labels/tx/written-on-b"] == b"from b"
