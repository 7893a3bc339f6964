"""The wallet's own backup client against the server on both backends: the pieces fit."""

from __future__ import annotations

import os

import pytest

from cairn.backup.client import (
    BackupConflict,
    BackupNotFound,
    DeleteItem,
    PutItem,
    RemoteBackupClient,
)
from cairn.keys import derive_backup_keys
from tests.support.backupd import BackupdFactory

A, B, C = "a" * 64, "b" * 64, "c" * 64


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
@pytest.mark.asyncio
async def test_the_backup_client_round_trips(backupd_factory: BackupdFactory, backend: str) -> None:
    server = backupd_factory(postgres=backend == "postgres")
    keys = derive_backup_keys(os.urandom(64))
    async with RemoteBackupClient(server.url, keys, "regtest") as client:
        with pytest.raises(BackupNotFound):
            await client.store_info()
        result = await client.put_batch([PutItem(A, 0, b"a"), PutItem(B, 0, b"b" * 5000)])
        assert result.generation == 1 and result.versions == {A: 1, B: 1}
        with pytest.raises(BackupConflict) as conflict:
            await client.put_batch([PutItem(A, 0, b"again"), PutItem(C, 0, b"c")])
        assert conflict.value.current == {A: 1, C: 0}
        await client.put_batch([PutItem(C, 0, b"c")], [DeleteItem(B, 1)])
        assert (await client.get_object(A)).value == b"a"
        listed = [(v.key, v.version) async for v in client.list_versions(page_size=1)]
        assert listed == [(A, 1), (C, 1)]
        async with client.export() as export:
            assert export.generation == 2
            exported = [(o.key, o.version, o.value) async for o in export]
        assert exported == [(A, 1, b"a"), (C, 1, b"c")]
        info = await client.store_info()
        assert (info.generation, info.objects, info.bytes) == (2, 2, 2)
        await client.delete_store()
        with pytest.raises(BackupNotFound):
            await client.store_info()
