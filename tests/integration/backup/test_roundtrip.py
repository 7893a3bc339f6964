"""Backed up → local data wiped → restored from the seed alone → every record equal."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from cairn.backup.localstate import LAST_GENERATION, MANIFEST, VERSIONS_PREFIX
from cairn.backup.restore import RestoreOutcome, RestorePhase, staging_path
from cairn.storage import SqliteStore
from tests.integration.backup.helpers import (
    OTHER_WORDS,
    back_up_records,
    keys_for,
    open_store,
    records_of,
    restore_to,
    sample_records,
    service_for,
)


@pytest.mark.asyncio
async def test_records_come_back_after_the_wallet_dir_is_wiped(backupd, tmp_path):
    wallet = tmp_path / "wallet"
    path = wallet / "records.sqlite"
    store = open_store(path)
    written = sample_records(400)
    written["prefs/empty"] = b""
    written["wallet/changeset/big"] = os.urandom(1_500_000)
    await store.batch(written)
    await store.batch(deletes=list(written)[:10])
    await store.put(list(written)[20], b"overwritten")
    await store.put("local/cache/never-backed-up", b"x")
    service = service_for(store, backupd.url)
    await service.prepare()
    await service.backup_now()
    assert service.status.current.pending_changes == 0
    await service.stop()
    await store.aclose()
    expected = records_of(path)
    assert len(expected) == len(written) - 10

    shutil.rmtree(wallet)
    result = await restore_to(backupd.url, path)

    assert result.outcome is RestoreOutcome.RESTORED, result.detail
    assert result.records == len(expected)
    assert records_of(path) == expected
    assert not staging_path(path).exists()


@pytest.mark.asyncio
async def test_a_restored_wallet_carries_on_with_compare_and_swap(backupd, tmp_path):
    await back_up_records(tmp_path / "a.sqlite", sample_records(50), backupd.url)

    restored_path = tmp_path / "b.sqlite"
    result = await restore_to(backupd.url, restored_path)
    assert result.outcome is RestoreOutcome.RESTORED
    plain = SqliteStore(restored_path)
    assert plain.outbox_stats().count == 0  # nothing to upload again
    assert len(plain.scan(VERSIONS_PREFIX)) == 50
    assert plain.get(MANIFEST) is not None
    assert int(plain.get(LAST_GENERATION) or b"0") == result.generation
    plain.close()

    store = open_store(restored_path)
    name = next(iter(records_of(restored_path)))
    await store.put(name, b"changed after restore")
    service = service_for(store, backupd.url)
    await service.prepare()
    assert service.status.current.full_backup_reason is None
    assert await service.backup_now() == 1
    assert service.status.current.conflicts == 0
    await service.stop()
    await store.aclose()

    again = tmp_path / "c.sqlite"
    assert (await restore_to(backupd.url, again)).outcome is RestoreOutcome.RESTORED
    assert records_of(again)[name] == b"changed after restore"


@pytest.mark.asyncio
async def test_restore_reports_progress_through_every_phase(backupd, tmp_path):
    await back_up_records(tmp_path / "a.sqlite", sample_records(600), backupd.url)

    from cairn.backup.client import RemoteBackupClient
    from cairn.backup.restore import restore_store

    keys = keys_for()
    seen = []
    async with RemoteBackupClient(backupd.url, keys, "regtest") as client:
        result = await restore_store(client, keys, tmp_path / "b.sqlite", progress=seen.append)
    assert result.outcome is RestoreOutcome.RESTORED
    phases = [p.phase for p in seen]
    assert phases[0] is RestorePhase.CONNECTING
    assert RestorePhase.DOWNLOADING in phases and RestorePhase.VERIFYING in phases
    assert phases[-1] is RestorePhase.DONE
    assert seen[-1].done == 600 == seen[-1].total


@pytest.mark.asyncio
async def test_wrong_seed_finds_no_backup_and_creates_nothing(backupd, tmp_path):
    await back_up_records(tmp_path / "a.sqlite", sample_records(5), backupd.url)

    target = tmp_path / "restored" / "records.sqlite"
    target.parent.mkdir()
    result = await restore_to(backupd.url, target, keys_for(OTHER_WORDS))
    assert result.outcome is RestoreOutcome.NO_BACKUP
    assert list(target.parent.iterdir()) == []


@pytest.mark.asyncio
async def test_unreachable_server_is_its_own_outcome(backupd, tmp_path):
    backupd.stop()
    target = tmp_path / "records.sqlite"
    result = await restore_to(backupd.url, target)
    assert result.outcome is RestoreOutcome.UNREACHABLE
    assert not target.exists()


@pytest.mark.asyncio
async def test_restore_replaces_an_existing_file_and_drops_a_leftover_staging_file(
    backupd, tmp_path
):
    await back_up_records(tmp_path / "a.sqlite", sample_records(20), backupd.url)

    target = tmp_path / "b.sqlite"
    old = SqliteStore(target)
    old.put("labels/old", b"old state")
    old.close()
    staging_path(target).write_bytes(b"left by a crash")

    result = await restore_to(backupd.url, target)
    assert result.outcome is RestoreOutcome.RESTORED
    assert records_of(target) == records_of(tmp_path / "a.sqlite")
    assert not staging_path(target).exists()


@pytest.mark.asyncio
async def test_an_address_that_is_not_a_backup_server_is_not_taken_for_no_backup(
    backupd, devnet, tmp_path
):
    # A plain web server, the chain server given by mistake, and the right server under a path
    # that is not its own: each answers 404, and none of them means "no backup".
    static = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "0", "--directory", tmp_path],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert static.stdout is not None
        port = static.stdout.readline().split(" port ")[1].split()[0]
        for url in (f"http://127.0.0.1:{port}", devnet.url, backupd.url + "/v2"):
            result = await restore_to(url, tmp_path / "r.sqlite", keys_for(OTHER_WORDS))
            assert result.outcome is RestoreOutcome.UNREACHABLE, (url, result)
            assert "does not answer as a Cairn backup server" in result.detail
    finally:
        static.terminate()
        static.wait()
        if static.stdout is not None:
            static.stdout.close()
    # The right address still says there is no backup for these words.
    result = await restore_to(backupd.url, tmp_path / "r.sqlite", keys_for(OTHER_WORDS))
    assert result.outcome is RestoreOutcome.NO_BACKUP
