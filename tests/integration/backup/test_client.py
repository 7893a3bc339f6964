"""RemoteBackupClient against a real cairn-backupd: every endpoint, every typed error."""

from __future__ import annotations

import time

import pytest

from cairn.backup.client import (
    BackupConflict,
    BackupNotFound,
    BackupQuotaExceeded,
    BackupTooLarge,
    BackupUnauthorized,
    BackupUnreachable,
    DeleteItem,
    PutItem,
    RateLimited,
    RemoteBackupClient,
)
from tests.integration.backup.helpers import NETWORK, keys_for

KEY_A = "a" * 64
KEY_B = "b" * 64


def client(url, **options):
    return RemoteBackupClient(url, keys_for(), NETWORK, **options)


@pytest.mark.asyncio
async def test_every_endpoint_round_trips(backupd):
    async with client(backupd.url) as c:
        with pytest.raises(BackupNotFound):
            await c.store_info()
        result = await c.put_batch([PutItem(KEY_A, 0, b"blob a"), PutItem(KEY_B, 0, b"blob b")])
        assert result.versions == {KEY_A: 1, KEY_B: 1}
        assert result.generation >= 1
        info = await c.store_info()
        assert (info.objects, info.generation) == (2, result.generation)

        stored = await c.get_object(KEY_A)
        assert (stored.key, stored.version, stored.value) == (KEY_A, 1, b"blob a")
        with pytest.raises(BackupNotFound):
            await c.get_object("c" * 64)

        listed = [v async for v in c.list_versions(page_size=1)]  # two pages
        assert [(v.key, v.version) for v in listed] == [(KEY_A, 1), (KEY_B, 1)]

        async with c.export() as stream:
            exported = [obj async for obj in stream]
            assert stream.generation == result.generation
        assert [(o.key, o.value) for o in exported] == [(KEY_A, b"blob a"), (KEY_B, b"blob b")]

        second = await c.put_batch([PutItem(KEY_A, 1, b"a2")], [DeleteItem(KEY_B, 1)])
        assert second.versions == {KEY_A: 2, KEY_B: 0}
        assert second.generation == result.generation + 1

        await c.delete_store()
        with pytest.raises(BackupNotFound):
            await c.store_info()


@pytest.mark.asyncio
async def test_a_version_mismatch_is_a_conflict_with_the_current_versions(backupd):
    async with client(backupd.url) as c:
        await c.put_batch([PutItem(KEY_A, 0, b"x")])
        with pytest.raises(BackupConflict) as caught:
            await c.put_batch([PutItem(KEY_A, 0, b"y"), PutItem(KEY_B, 0, b"z")])
        assert caught.value.current == {KEY_A: 1, KEY_B: 0}
        assert (await c.get_object(KEY_A)).value == b"x"  # nothing applied


@pytest.mark.asyncio
async def test_a_stopped_server_is_unreachable(backupd):
    backupd.stop()
    async with client(backupd.url, timeout=2.0) as c:
        with pytest.raises(BackupUnreachable):
            await c.store_info()
        with pytest.raises(BackupUnreachable):
            async with c.export():
                pass


@pytest.mark.asyncio
async def test_a_wrong_clock_is_unauthorized_and_says_why(backupd):
    async with client(backupd.url, clock=lambda: time.time() - 3600) as c:
        with pytest.raises(BackupUnauthorized) as caught:
            await c.store_info()
    assert caught.value.code == "stale_timestamp"
    assert caught.value.status == 401


@pytest.mark.asyncio
async def test_limits_quota_and_rate_limit_are_typed(backupd_factory):
    small = backupd_factory(max_object_bytes=100, store_quota_bytes=150, rate_limit=4)
    async with client(small.url) as c:
        with pytest.raises(BackupTooLarge):
            await c.put_batch([PutItem(KEY_A, 0, bytes(101))])
        await c.put_batch([PutItem(KEY_A, 0, bytes(100))])
        with pytest.raises(BackupQuotaExceeded):
            await c.put_batch([PutItem(KEY_B, 0, bytes(100))])
        with pytest.raises(RateLimited) as caught:
            for _ in range(10):
                await c.get_object(KEY_A)
        assert caught.value.retry_after > 0
