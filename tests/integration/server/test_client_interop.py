"""The wallet's own backup client against the server on both backends: the pieces fit."""

from __future__ import annotations

import os

import pytest

from cairn.backup.client import (
    BackupConflict,
    BackupNotFound,
    BackupUnsupported,
    RemoteBackupClient,
    ResyncRequired,
)
from cairn.keys import derive_backup_keys
from cairn.wire.addressing import new_incarnation, new_write_id
from cairn.wire.messages import Batch, DeleteItem, PutItem
from tests.support.backupd import BackupdFactory

A, B, C = "a" * 64, "b" * 64, "c" * 64


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
@pytest.mark.asyncio
async def test_the_backup_client_round_trips(backupd_factory: BackupdFactory, backend: str) -> None:
    server = backupd_factory(postgres=backend == "postgres")
    keys = derive_backup_keys(os.urandom(64))
    incarnation = new_incarnation()

    def batch(generation: int, *puts: PutItem, deletes: tuple[DeleteItem, ...] = ()) -> Batch:
        return Batch(incarnation, generation, new_write_id(), puts, deletes)

    async with RemoteBackupClient(server.url, keys, "regtest") as client:
        with pytest.raises(BackupNotFound):
            await client.store_info()
        result = await client.put_batch(batch(0, PutItem(A, 0, b"a"), PutItem(B, 0, b"b" * 5000)))
        assert result.generation == 1 and result.versions == {A: 1, B: 1}
        with pytest.raises(BackupConflict) as conflict:
            await client.put_batch(batch(1, PutItem(A, 0, b"again"), PutItem(C, 0, b"c")))
        assert conflict.value.info is not None and conflict.value.info.current == {A: 1, C: 0}
        await client.put_batch(batch(1, PutItem(C, 0, b"c"), deletes=(DeleteItem(B, 1, b"t"),)))
        assert (await client.get_object(A)).value == b"a"
        listed = [(v.key, v.version) async for v in client.list_versions(page_size=1)]
        assert listed == [(A, 1), (C, 2)]
        page = await client.changes(0)
        assert [(i.key, i.version, i.deleted) for i in page.items] == [
            (A, 1, False),
            (B, 2, True),
            (C, 2, False),
        ]
        async with client.export() as export:
            assert export.generation == 2
            exported = [(o.key, o.version, o.value) async for o in export]
        assert exported == [(A, 1, b"a"), (C, 2, b"c")]
        info = await client.store_info()
        assert (info.state.generation, info.objects, info.bytes) == (2, 2, 3)
        await client.delete_store()
        info = await client.store_info()
        assert info.state.erased and info.state.generation == 2
        with pytest.raises(ResyncRequired):
            await client.changes(0)
        with pytest.raises(BackupNotFound):
            await client.delete_store()


@pytest.mark.asyncio
async def test_a_v1_request_is_told_to_upgrade(backupd_factory: BackupdFactory) -> None:
    import httpx

    from cairn.backup.client import _error_from

    server = backupd_factory()
    async with httpx.AsyncClient(base_url=server.url) as http:
        r = await http.get(f"/v1/stores/{'02' + '11' * 32}/regtest")
    assert r.status_code == 410 and r.json()["error"] == "upgrade_required"
    assert isinstance(_error_from(r.status_code, r.content, r.headers), BackupUnsupported)
    async with httpx.AsyncClient(base_url=server.url) as http:
        for path in ("/v1", "/v1/", "/v1?x=1"):
            answer = await http.request("PUT", path)
            assert answer.status_code == 410, path
            assert answer.json()["error"] == "upgrade_required"
        assert (await http.get("/v3")).status_code == 404
