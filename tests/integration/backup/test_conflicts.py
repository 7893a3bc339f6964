"""Two devices on one seed: nothing either wrote is silently lost, and what happened is visible."""

from __future__ import annotations

import pytest

from cairn.backup.restore import RestoreOutcome
from tests.integration.backup.helpers import (
    open_store,
    restore_to,
    restored_records,
    service_for,
)


async def device(path, url):
    store = open_store(path)
    service = service_for(store, url)
    await service.prepare()
    return store, service


@pytest.mark.asyncio
async def test_same_record_written_on_two_devices_keeps_both_values(backupd, tmp_path):
    store_a, a = await device(tmp_path / "a.sqlite", backupd.url)
    store_b, b = await device(tmp_path / "b.sqlite", backupd.url)
    await store_a.put("labels/tx/abc", b"rent")
    await a.backup_now()
    await store_b.put("labels/tx/abc", b"groceries")  # B never saw A's label
    await b.backup_now()

    # B's value won on the server; A's is kept, on B and in the backup, and B says so.
    assert b.status.current.conflicts == 1
    assert await store_b.get("conflicts/labels/tx/abc/1") == b"rent"
    assert a.status.current.conflicts == 0

    # A changes the label again: it conflicts with B's write, which A now keeps.
    await store_a.put("labels/tx/abc", b"rent, March")
    await a.backup_now()
    assert a.status.current.conflicts == 1
    assert await store_a.get("conflicts/labels/tx/abc/2") == b"groceries"

    for s in (a, b):
        await s.stop()
    for st in (store_a, store_b):
        await st.aclose()
    got = await restored_records(backupd.url, tmp_path)
    assert got["labels/tx/abc"] == b"rent, March"
    assert got["conflicts/labels/tx/abc/1"] == b"rent"
    assert got["conflicts/labels/tx/abc/2"] == b"groceries"


@pytest.mark.asyncio
async def test_different_records_on_two_devices_are_merged_without_conflict(backupd, tmp_path):
    store_a, a = await device(tmp_path / "a.sqlite", backupd.url)
    store_b, b = await device(tmp_path / "b.sqlite", backupd.url)
    for i in range(3):
        await store_a.put(f"labels/addr/a{i}", b"from a")
        await a.backup_now()
        await store_b.put(f"labels/addr/b{i}", b"from b")
        await b.backup_now()
    # The same value written on both sides is not a conflict.
    await store_a.put("prefs/fiat", b"EUR")
    await a.backup_now()
    await store_b.put("prefs/fiat", b"EUR")
    await b.backup_now()
    assert a.status.current.conflicts == b.status.current.conflicts == 0
    for s in (a, b):
        await s.stop()
    for st in (store_a, store_b):
        await st.aclose()

    got = await restored_records(backupd.url, tmp_path)
    assert {n for n in got if n.startswith("labels/")} == {
        *(f"labels/addr/a{i}" for i in range(3)),
        *(f"labels/addr/b{i}" for i in range(3)),
    }
    assert got["prefs/fiat"] == b"EUR"
    assert not any(n.startswith("conflicts/") for n in got)


@pytest.mark.asyncio
async def test_a_deletion_on_one_device_keeps_the_other_devices_newer_value(backupd, tmp_path):
    store_a, a = await device(tmp_path / "a.sqlite", backupd.url)
    await store_a.put("labels/tx/x", b"v1")
    await a.backup_now()
    restored_b = tmp_path / "b.sqlite"
    assert (await restore_to(backupd.url, restored_b)).outcome is RestoreOutcome.RESTORED
    store_b, b = await device(restored_b, backupd.url)
    await store_b.put("labels/tx/x", b"v2 from b")
    await b.backup_now()
    await store_a.delete("labels/tx/x")
    await a.backup_now()
    assert a.status.current.conflicts == 1
    assert await store_a.get("conflicts/labels/tx/x/2") == b"v2 from b"
    for s in (a, b):
        await s.stop()
    for st in (store_a, store_b):
        await st.aclose()
    got = await restored_records(backupd.url, tmp_path)
    assert "labels/tx/x" not in got
    assert got["conflicts/labels/tx/x/2"] == b"v2 from b"


@pytest.mark.asyncio
async def test_our_own_write_whose_answer_was_lost_is_not_a_conflict(backupd, tmp_path):
    """The server applied a batch but the app died before writing down the new versions."""
    from cairn.backup.localstate import MANIFEST, VERSIONS_PREFIX

    store, service = await device(tmp_path / "a.sqlite", backupd.url)
    await store.batch({"labels/tx/1": b"one", "labels/tx/2": b"two"})
    await service.backup_now()
    forgotten = [n for n, _ in await store.scan(VERSIONS_PREFIX)]
    await store.batch(deletes=[*forgotten, MANIFEST])  # as if the bookkeeping never happened
    await store.put("labels/tx/1", b"one, edited")
    await store.put("labels/tx/2", b"two")  # same value again
    await service.backup_now()
    assert service.status.current.conflicts == 0
    assert await store.scan("conflicts/") == []
    await service.stop()
    await store.aclose()
    assert await restored_records(backupd.url, tmp_path) == {
        "labels/tx/1": b"one, edited",
        "labels/tx/2": b"two",
    }
