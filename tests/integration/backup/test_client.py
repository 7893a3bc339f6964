"""RemoteBackupClient against a real cairn-backupd: every endpoint, every typed error (v2)."""

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
    RateLimited,
    RemoteBackupClient,
)
from cairn.wire.addressing import new_incarnation, new_write_id
from cairn.wire.messages import Batch, DeleteItem, PutItem
from tests.integration.backup.helpers import NETWORK, keys_for

KEY_A = "a" * 64
KEY_B = "b" * 64
INCARNATION = new_incarnation()


def client(url, **options):
    return RemoteBackupClient(url, keys_for(), NETWORK, **options)


def batch(generation, puts=(), deletes=(), incarnation=INCARNATION):
    return Batch(incarnation, generation, new_write_id(), tuple(puts), tuple(deletes))


@pytest.mark.asyncio
async def test_every_endpoint_round_trips(backupd):
    async with client(backupd.url) as c:
        with pytest.raises(BackupNotFound):
            await c.store_info()
        first = await c.put_batch(batch(0, [PutItem(KEY_A, 0, b"blob a"), PutItem(KEY_B, 0, b"b")]))
        assert first.generation == 1
        assert first.versions == {KEY_A: 1, KEY_B: 1}
        info = await c.store_info()
        assert (info.objects, info.state.generation, info.state.incarnation) == (2, 1, INCARNATION)

        stored = await c.get_object(KEY_A)
        assert (stored.key, stored.version, stored.value) == (KEY_A, 1, b"blob a")
        with pytest.raises(BackupNotFound):
            await c.get_object("c" * 64)

        listed = [v async for v in c.list_versions(page_size=1)]  # two pages
        assert [(v.key, v.version) for v in listed] == [(KEY_A, 1), (KEY_B, 1)]

        second = await c.put_batch(
            batch(1, [PutItem(KEY_A, 1, b"a2")], [DeleteItem(KEY_B, 1, b"tomb")])
        )
        assert second.versions == {KEY_A: 2, KEY_B: 2}  # every item: the new generation

        async with c.export() as stream:
            exported = [obj async for obj in stream]
            assert (stream.generation, stream.incarnation) == (2, INCARNATION)
        assert [(o.key, o.version, o.value) for o in exported] == [(KEY_A, 2, b"a2")]

        page = await c.changes(0)
        assert [(i.key, i.version, i.deleted) for i in page.items] == [
            (KEY_A, 2, False),
            (KEY_B, 2, True),
        ]
        assert page.next is None and page.state.generation == 2
        assert (await c.changes(2)).items == ()

        await c.delete_store()
        info = await c.store_info()
        assert info.state.erased and info.state.generation == 2 and info.objects == 0


@pytest.mark.asyncio
async def test_a_stale_generation_is_a_conflict_that_names_the_current_state(backupd):
    async with client(backupd.url) as c:
        await c.put_batch(batch(0, [PutItem(KEY_A, 0, b"x")]))
        with pytest.raises(BackupConflict) as caught:
            await c.put_batch(batch(0, [PutItem(KEY_B, 0, b"z")]))
        info = caught.value.info
        assert info is not None
        assert info.state.generation == 1 and info.state.incarnation == INCARNATION
        assert info.current == {KEY_B: 0}
        with pytest.raises(BackupNotFound):
            await c.get_object(KEY_B)  # nothing applied


@pytest.mark.asyncio
async def test_a_recreated_key_never_gets_a_version_it_had_before(backupd):
    async with client(backupd.url) as c:
        await c.put_batch(batch(0, [PutItem(KEY_A, 0, b"one")]))
        await c.put_batch(batch(1, [], [DeleteItem(KEY_A, 1, b"tomb")]))
        again = await c.put_batch(batch(2, [PutItem(KEY_A, 0, b"two")]))
        assert again.versions[KEY_A] == 3
        # A device that still thinks the key is at version 1 is refused, not silently obeyed.
        with pytest.raises(BackupConflict):
            await c.put_batch(batch(3, [PutItem(KEY_A, 1, b"stale")]))


@pytest.mark.asyncio
async def test_another_incarnation_is_refused(backupd):
    async with client(backupd.url) as c:
        await c.put_batch(batch(0, [PutItem(KEY_A, 0, b"x")]))
        with pytest.raises(BackupConflict) as caught:
            await c.put_batch(batch(1, [PutItem(KEY_B, 0, b"y")], incarnation=new_incarnation()))
        assert caught.value.info is not None
        assert caught.value.info.state.incarnation == INCARNATION


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
            await c.put_batch(batch(0, [PutItem(KEY_A, 0, bytes(101))]))
        await c.put_batch(batch(0, [PutItem(KEY_A, 0, bytes(100))]))
        with pytest.raises(BackupQuotaExceeded):
            await c.put_batch(batch(1, [PutItem(KEY_B, 0, bytes(100))]))
        with pytest.raises(RateLimited) as caught:
            for _ in range(10):
                await c.get_object(KEY_A)
        assert caught.value.retry_after > 0
