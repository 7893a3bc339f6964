"""A server that damages, replays or rolls back data is caught: restore refuses, a device with
local state notices and uploads everything again."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cairn.backup.restore import RestoreOutcome
from cairn.wire.addressing import wire_key
from cairn.wire.payload import manifest_wire_key
from tests.integration.backup.helpers import (
    keys_for,
    open_store,
    records_of,
    restore_to,
    restored_records,
    sample_records,
    server_execute,
    server_rows,
    service_for,
)


async def backed_up(path, url, records):
    store = open_store(path)
    await store.batch(records)
    service = service_for(store, url)
    await service.prepare()
    await service.backup_now()
    return store, service


async def close(store, service):
    await service.stop()
    await store.aclose()


def key_of(name: str) -> str:
    return wire_key(keys_for().key_name_key, name)


@pytest.mark.asyncio
async def test_a_tampered_object_is_refused(backupd, tmp_path):
    store, service = await backed_up(tmp_path / "a.sqlite", backupd.url, {"labels/tx/a": b"x" * 50})
    await close(store, service)
    key = key_of("labels/tx/a")
    [(_, _, blob)] = server_rows(backupd.db, "WHERE key = ?", (key,))
    flipped = blob[:-1] + bytes([blob[-1] ^ 1])
    server_execute(backupd.db, "UPDATE objects SET value = ? WHERE key = ?", (flipped, key))

    target = tmp_path / "restored.sqlite"
    result = await restore_to(backupd.url, target)
    assert result.outcome is RestoreOutcome.CORRUPT
    assert "decrypt" in result.detail
    assert not target.exists()


@pytest.mark.asyncio
async def test_a_blob_moved_to_another_key_is_refused(backupd, tmp_path):
    records = {"labels/tx/a": b"a", "labels/tx/b": b"b"}
    store, service = await backed_up(tmp_path / "a.sqlite", backupd.url, records)
    await close(store, service)
    [(_, _, blob_a)] = server_rows(backupd.db, "WHERE key = ?", (key_of("labels/tx/a"),))
    server_execute(
        backupd.db, "UPDATE objects SET value = ? WHERE key = ?", (blob_a, key_of("labels/tx/b"))
    )
    result = await restore_to(backupd.url, tmp_path / "restored.sqlite")
    assert result.outcome is RestoreOutcome.CORRUPT


@pytest.mark.asyncio
async def test_an_older_object_replayed_by_the_server_is_refused(backupd, tmp_path):
    store, service = await backed_up(tmp_path / "a.sqlite", backupd.url, {"prefs/fiat": b"USD"})
    key = key_of("prefs/fiat")
    [old] = server_execute(
        backupd.db, "SELECT version, write_id, value FROM objects WHERE key = ?", (key,)
    )
    await store.put("prefs/fiat", b"EUR")
    await service.backup_now()
    await close(store, service)
    # The old blob is genuine (it decrypts under its own version and write); only the manifest
    # knows it is no longer current.
    server_execute(
        backupd.db,
        "UPDATE objects SET version = ?, write_id = ?, value = ? WHERE key = ?",
        (*old, key),
    )
    target = tmp_path / "restored.sqlite"
    result = await restore_to(backupd.url, target)
    assert result.outcome is RestoreOutcome.CORRUPT
    assert "manifest" in result.detail
    assert not target.exists()


@pytest.mark.asyncio
async def test_an_object_dropped_by_the_server_is_noticed(backupd, tmp_path):
    store, service = await backed_up(tmp_path / "a.sqlite", backupd.url, sample_records(10))
    await close(store, service)
    server_execute(
        backupd.db,
        "DELETE FROM objects WHERE node_id = ?1 AND key ="
        " (SELECT min(key) FROM objects WHERE node_id = ?1 AND key != ?2)",
        (keys_for().node_id, manifest_wire_key(keys_for().key_name_key)),
    )
    result = await restore_to(backupd.url, tmp_path / "restored.sqlite")
    assert result.outcome is RestoreOutcome.CORRUPT


def copy_db(src: str, dst: Path) -> None:
    dst.mkdir()
    for suffix in ("", "-wal", "-shm"):
        if Path(src + suffix).exists():
            shutil.copy2(src + suffix, dst / ("db" + suffix))


def put_db_back(saved: Path, db: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(db + suffix).unlink(missing_ok=True)
        if (saved / ("db" + suffix)).exists():
            shutil.copy2(saved / ("db" + suffix), db + suffix)


@pytest.mark.asyncio
async def test_a_server_rolled_back_to_an_older_generation_is_detected(backupd, tmp_path):
    path = tmp_path / "a.sqlite"
    store, service = await backed_up(path, backupd.url, sample_records(30))
    backupd.stop()
    saved = tmp_path / "saved"
    copy_db(backupd.db, saved)
    backupd.start()
    for i in range(3):
        await store.put(f"labels/tx/later-{i}", b"after the copy")
        await service.backup_now()
    backupd.stop()
    put_db_back(saved, backupd.db)  # the operator restores last week's database
    backupd.start()

    await store.put("labels/tx/latest", b"now")
    await service.backup_now()
    status = service.status.current
    assert status.rollback_detected
    assert status.full_backup_reason is None  # the full backup already ran
    await close(store, service)

    assert await restored_records(backupd.url, tmp_path) == records_of(path)


@pytest.mark.asyncio
async def test_a_rolled_back_server_is_detected_when_the_app_starts(backupd, tmp_path):
    path = tmp_path / "a.sqlite"
    store, service = await backed_up(path, backupd.url, sample_records(10))
    await service.stop()
    backupd.stop()
    saved = tmp_path / "saved"
    copy_db(backupd.db, saved)
    backupd.start()
    service = service_for(store, backupd.url)
    await service.prepare()
    await store.put("labels/tx/later", b"x")
    await service.backup_now()
    await service.stop()
    backupd.stop()
    put_db_back(saved, backupd.db)
    backupd.start()

    service = service_for(store, backupd.url)
    await service.prepare()
    await service.engine.pull()
    assert service.status.current.rollback_detected
    assert "went back" in (await service.local.full_required() or "")
    await service.backup_now()
    await close(store, service)
    assert await restored_records(backupd.url, tmp_path) == records_of(path)
