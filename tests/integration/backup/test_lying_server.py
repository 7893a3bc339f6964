"""A server that lies in its change feed is caught, with several honest devices writing.

The feed is altered on its way to one device: an item left out, a deleted object served again
as live (a genuine old blob), the generation lowered, an older life of the store presented.
Each raises the rollback notice and a full backup; the honest feed never does (see
test_two_devices.py and the simulation).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import pytest

from cairn.backup.client import RemoteBackupClient
from cairn.wire.messages import FeedPage, StoreState
from tests.integration.backup.helpers import keys_for, open_store, service_for


class LyingFeed(RemoteBackupClient):
    """The real client, whose next feed page goes through `alter` first."""

    alter = None
    remembered: ClassVar[list] = []

    async def changes(self, since, *, limit=None):
        page = await super().changes(since, limit=limit)
        LyingFeed.remembered.extend(page.items)
        if self.alter is not None:
            alter, self.alter = self.alter, None
            page = alter(page)
        return page


async def two_devices(url, tmp_path):
    store_a, store_b = open_store(tmp_path / "a.sqlite"), open_store(tmp_path / "b.sqlite")
    a, b = service_for(store_a, url), service_for(store_b, url)
    liar = LyingFeed(url, keys_for(), "regtest")
    b.engine.client = liar
    for s in (a, b):
        await s.prepare()
    await store_a.put("prefs/unit", b"BTC")
    await a.backup_now()
    await b.backup_now()  # B joins A's backup: from here on it follows the feed
    assert not b.status.current.rollback_detected
    return (store_a, a), (store_b, b), liar


async def close(*devices):
    for store, service in devices:
        await service.engine.client.aclose()  # the lying client, where there is one
        await service.stop()
        await store.aclose()


def without_first_record(page: FeedPage) -> FeedPage:
    kept = [i for i in page.items if i.deleted or i is not _first_live(page)]
    return dataclasses.replace(page, items=tuple(kept))


def _first_live(page):
    return next(i for i in page.items if not i.deleted)


@pytest.mark.asyncio
async def test_an_object_left_out_of_the_feed_is_noticed(backupd, tmp_path):
    (sa, a), (sb, b), liar = await two_devices(backupd.url, tmp_path)
    await sa.batch({"labels/tx/1": b"one", "labels/tx/2": b"two"})
    await a.backup_now()
    liar.alter = lambda page: dataclasses.replace(page, items=page.items[1:])
    await b.backup_now()
    assert b.status.current.rollback_detected
    assert b.status.current.notice_kind == "rollback"
    # The full backup that follows brings the device back in step, with nothing lost.
    await b.backup_now()
    assert dict((await sb.snapshot()).records) == dict((await sa.snapshot()).records)
    await close((sa, a), (sb, b))


@pytest.mark.asyncio
async def test_a_deleted_object_served_again_is_noticed(backupd, tmp_path):
    (sa, a), (sb, b), liar = await two_devices(backupd.url, tmp_path)
    LyingFeed.remembered = []
    await sa.put("labels/tx/gone", b"soon deleted")
    await a.backup_now()
    await b.backup_now()
    old = next(i for i in LyingFeed.remembered if not i.deleted and i.key != _manifest_key())
    await sa.delete("labels/tx/gone")
    await a.backup_now()

    def resurrect(page):
        items = [i for i in page.items if i.key != old.key]
        return dataclasses.replace(page, items=(*items, old))

    liar.alter = resurrect
    await b.backup_now()
    assert b.status.current.rollback_detected
    await close((sa, a), (sb, b))


@pytest.mark.asyncio
async def test_a_lower_generation_is_noticed(backupd, tmp_path):
    (sa, a), (sb, b), liar = await two_devices(backupd.url, tmp_path)
    await sa.put("labels/tx/1", b"one")
    await a.backup_now()
    await b.backup_now()
    seen = await b.local.last_generation()
    liar.alter = lambda page: dataclasses.replace(
        page, state=StoreState(seen - 1, page.state.incarnation), items=()
    )
    await b.backup_now()
    assert b.status.current.rollback_detected
    await close((sa, a), (sb, b))


@pytest.mark.asyncio
async def test_another_life_of_the_store_that_does_not_follow_ours_is_noticed(backupd, tmp_path):
    (sa, a), (sb, b), liar = await two_devices(backupd.url, tmp_path)
    liar.alter = lambda page: dataclasses.replace(
        page, state=StoreState(page.state.generation, "f" * 32)
    )
    await b.backup_now()
    assert b.status.current.rollback_detected
    await close((sa, a), (sb, b))


def _manifest_key():
    from cairn.wire.payload import manifest_wire_key

    return manifest_wire_key(keys_for().key_name_key)
