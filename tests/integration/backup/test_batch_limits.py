"""A server (or a proxy in front of it) that takes smaller batches than Cairn sends by default."""

from __future__ import annotations

import logging
import os

import pytest

from cairn.backup.errors import BackupTooLarge
from cairn.backup.localstate import require_full_backup
from tests.integration.backup.helpers import (
    open_store,
    restored_records,
    sample_records,
    service_for,
)


@pytest.mark.asyncio
async def test_batches_halve_until_the_server_takes_them_and_nothing_is_left_out(
    backupd_factory, tmp_path, caplog
):
    server = backupd_factory(max_batch_items=40)  # the default takes 1000
    store = open_store(tmp_path / "records.sqlite")
    written = sample_records(300)
    await store.batch(written)
    require_full_backup(store.store, "the test's upgrade")
    service = service_for(store, server.url)
    await service.prepare()
    with caplog.at_level(logging.INFO, logger="cairn.backup.sync"):
        result = await service.full_backup()
    assert result.completed and result.records == 300
    assert (await store.outbox_stats()).count == 0
    # Halved until a batch fitted (with its manifest, at most 40 items): 300, 150, 75, then 37.
    refusals = [r.getMessage() for r in caplog.records if "refused a batch" in r.getMessage()]
    assert [m.split(" records")[0].rsplit(" ", 1)[1] for m in refusals] == ["300", "150", "75"]
    assert refusals[-1].endswith("sending 37 at a time")
    # Later changes go up in batches of the size that worked.
    await store.batch({f"labels/tx/{i:04d}": b"later" for i in range(70)})
    await service.backup_now()
    assert service.status.current.pending_changes == 0
    await service.stop()
    await store.aclose()
    later = {f"labels/tx/{i:04d}": b"later" for i in range(70)}
    assert await restored_records(server.url, tmp_path) == {**written, **later}


@pytest.mark.asyncio
async def test_one_record_over_the_server_limit_is_an_error_and_stays_pending(
    backupd_factory, tmp_path
):
    server = backupd_factory(max_object_bytes=1000)
    store = open_store(tmp_path / "records.sqlite")
    service = service_for(store, server.url)
    await service.prepare()
    await store.put("labels/tx/big", os.urandom(5000))  # random: compression cannot shrink it
    with pytest.raises(BackupTooLarge):
        await service.backup_now()
    assert (await store.outbox_stats()).count == 1  # kept, to go up once the server takes it
    await service.stop()
    await store.aclose()
