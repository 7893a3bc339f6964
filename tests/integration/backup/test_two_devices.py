"""One seed on two machines, against a real cairn-backupd (SQLite and PostgreSQL).

Nothing either device wrote is lost: after both sync, their records are identical and equal to
what a restore brings back, and a genuinely concurrent edit is kept, visibly, on both.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time

import pytest

from cairn.backup.client import BackupUnauthorized, BackupUnreachable, RemoteBackupClient
from cairn.backup.conflicts import list_conflicts, resolve_conflict
from cairn.backup.localrecords import SENT_RECENT_KEPT
from cairn.backup.localstate import IN_DOUBT, NOTICE
from cairn.backup.restore import RestoreOutcome
from cairn.backup.sync import BackupErased
from cairn.storage.device import DEVICE_RECORD
from tests.integration.backup.helpers import (
    open_store,
    restore_to,
    restored_records,
    service_for,
)

BACKENDS = [
    pytest.param(False, id="sqlite"),
    pytest.param(True, id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def server(request, backupd_factory):
    return backupd_factory(postgres=request.param)


class Device:
    """One machine: its own store file and backup service on the same seed."""

    def __init__(self, path, url):
        self.path = path
        self.url = url
        self.store = open_store(path)
        self.service = service_for(self.store, url, poll_interval=None)
        self.notices = []

    async def start(self):
        await self.service.prepare()
        return self

    async def sync(self):
        return await self.service.backup_now()

    async def records(self):
        snapshot = await self.store.snapshot()
        return dict(snapshot.records)

    async def close(self):
        await self.service.stop()
        await self.store.aclose()


async def device(path, url):
    return await Device(path, url).start()


async def restored_device(tmp_path, name, url):
    path = tmp_path / f"{name}.sqlite"
    result = await restore_to(url, path)
    assert result.outcome is RestoreOutcome.RESTORED, result.detail
    return await device(path, url)


async def converged(*devices):
    """Sync every device until a whole round changes nothing; their records, all equal."""
    for _ in range(3):
        for d in devices:
            await d.sync()
    views = [await d.records() for d in devices]
    for view in views[1:]:
        assert view == views[0]
    for d in devices:
        status = d.service.status.current
        assert status.pending_changes == 0
        assert not status.rollback_detected, status.notice
        assert status.full_backup_reason is None
    return views[0]


@pytest.mark.asyncio
async def test_a_recreated_record_is_never_silently_overwritten(server, tmp_path):
    """The ABA case: B deletes and re-creates K while A still holds its first version."""
    a = await device(tmp_path / "a.sqlite", server.url)
    await a.store.put("labels/tx/k", b"A-first")
    await a.sync()
    b = await restored_device(tmp_path, "b", server.url)
    await b.store.delete("labels/tx/k")
    await b.sync()
    await b.store.put("labels/tx/k", b"B-value")
    await b.sync()
    await a.store.put("labels/tx/k", b"A-later")  # A never saw B's delete or re-create
    await a.sync()

    records = await converged(a, b)
    kept = {records.get("labels/tx/k")}
    conflicts = await list_conflicts(a.store)
    for conflict in conflicts:
        kept |= {c.value for c in conflict.candidates}
    assert {b"A-later", b"B-value"} <= kept  # B's value is live or a visible conflict
    assert [c.name for c in conflicts] == ["labels/tx/k"]
    assert a.service.status.current.conflicts == b.service.status.current.conflicts == 1
    for d in (a, b):
        await d.close()
    assert await restored_records(server.url, tmp_path) == records


@pytest.mark.asyncio
async def test_another_device_recreating_a_record_raises_no_rollback_alarm(server, tmp_path):
    a = await device(tmp_path / "a.sqlite", server.url)
    for text in (b"one", b"two", b"three"):
        await a.store.put("labels/tx/k", text)
        await a.sync()
    await a.store.put("labels/tx/l", b"A's L")
    await a.sync()
    b = await restored_device(tmp_path, "b", server.url)
    await b.store.delete("labels/tx/k")
    await b.sync()
    await b.store.batch({"labels/tx/k": b"B's K", "labels/tx/l": b"B's newer L"})
    await b.sync()
    await a.store.put("labels/tx/m", b"A's M")
    await a.sync()

    status = a.service.status.current
    assert not status.rollback_detected and status.full_backup_reason is None
    records = await converged(a, b)
    assert records["labels/tx/l"] == b"B's newer L"  # never A's stale value put back
    assert records["labels/tx/k"] == b"B's K"
    assert records["labels/tx/m"] == b"A's M"
    assert await list_conflicts(a.store) == []
    for d in (a, b):
        await d.close()


@pytest.mark.asyncio
async def test_changes_on_each_device_reach_the_other_without_conflicts(server, tmp_path):
    a = await device(tmp_path / "a.sqlite", server.url)
    await a.sync()
    b = await device(tmp_path / "b.sqlite", server.url)  # joins with nothing of its own
    await b.sync()
    for i in range(3):
        await a.store.put(f"labels/addr/a{i}", b"from a")
        await a.sync()
        await b.store.put(f"labels/addr/b{i}", b"from b")
        await b.sync()
    await a.store.put("prefs/fiat", b"EUR")
    await b.store.put("prefs/fiat", b"EUR")  # the same value is no conflict
    await a.sync()
    await b.sync()
    records = await converged(a, b)
    assert {n for n in records if n.startswith("labels/")} == {
        *(f"labels/addr/a{i}" for i in range(3)),
        *(f"labels/addr/b{i}" for i in range(3)),
    }
    assert records["prefs/fiat"] == b"EUR"
    assert await list_conflicts(a.store) == await list_conflicts(b.store) == []
    for d in (a, b):
        await d.close()


@pytest.mark.asyncio
async def test_a_delete_against_a_concurrent_edit_is_a_conflict(server, tmp_path):
    a = await device(tmp_path / "a.sqlite", server.url)
    await a.store.put("labels/tx/x", b"v1")
    await a.sync()
    b = await restored_device(tmp_path, "b", server.url)
    await b.store.put("labels/tx/x", b"v2 from b")
    await b.sync()
    await a.store.delete("labels/tx/x")  # based on v1: concurrent with B's edit
    await a.sync()
    await converged(a, b)
    [conflict] = await list_conflicts(b.store)
    assert {c.value for c in conflict.candidates} == {None, b"v2 from b"}
    # The user settles it on B by keeping B's edit; A follows.
    keep = next(i for i, c in enumerate(conflict.candidates) if c.value == b"v2 from b")
    await resolve_conflict(b.store, conflict, keep)
    records = await converged(a, b)
    assert records["labels/tx/x"] == b"v2 from b"
    assert await list_conflicts(a.store) == []
    for d in (a, b):
        await d.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("later_syncs_first", [True, False])
async def test_of_two_concurrent_edits_the_later_one_wins_whichever_device_syncs_last(
    server, tmp_path, later_syncs_first
):
    a = await device(tmp_path / "a.sqlite", server.url)
    await a.store.put("prefs/fiat", b"EUR")
    await a.sync()
    b = await restored_device(tmp_path, "b", server.url)
    await a.store.put("prefs/fiat", b"GBP")  # the earlier edit
    await _next_millisecond()
    await b.store.put("prefs/fiat", b"AUD")  # the later one, made without seeing GBP
    first, second = (b, a) if later_syncs_first else (a, b)
    await first.sync()
    await second.sync()
    view = await converged(a, b)
    assert view["prefs/fiat"] == b"AUD"
    (conflict,) = await list_conflicts(a.store)
    assert {c.value for c in conflict.candidates} == {b"GBP", b"AUD"}
    for d in (a, b):
        await d.close()


async def _next_millisecond():
    """Until the wall clock's millisecond (the outbox's resolution) has moved on."""
    start = time.time_ns() // 1_000_000
    while time.time_ns() // 1_000_000 <= start:
        await asyncio.sleep(0.001)


class LosesAnswers(RemoteBackupClient):
    """A connection that drops the server's answer to the next batch (the server applied it)."""

    lose_next = False

    async def put_batch(self, batch):
        result = await super().put_batch(batch)
        if self.lose_next:
            self.lose_next = False
            raise BackupUnreachable("the connection dropped before the answer arrived")
        return result


@pytest.mark.asyncio
@pytest.mark.parametrize("batches_before", [0, SENT_RECENT_KEPT + 3])
async def test_our_own_write_whose_answer_was_lost_is_not_a_conflict(
    server, tmp_path, batches_before
):
    a = await device(tmp_path / "a.sqlite", server.url)
    lossy = LosesAnswers(server.url, _keys(), "regtest")
    a.service.engine.client = lossy
    earlier = {f"labels/addr/{i}": b"before" for i in range(batches_before)}
    for name, value in earlier.items():  # past the recent write ids: some are older ones now
        await a.store.put(name, value)
        await a.sync()
    await a.store.batch({"labels/tx/1": b"one", "labels/tx/2": b"two"})
    lossy.lose_next = True
    with pytest.raises(BackupUnreachable):
        await a.sync()
    await a.store.put("labels/tx/1", b"one, edited")
    await a.sync()
    assert a.service.status.current.conflicts == 0
    assert await a.store.scan("conflicts/") == []
    assert a.service.status.current.notice_kind is None  # not taken for a copied data dir
    await lossy.aclose()
    await a.close()
    assert await restored_records(server.url, tmp_path) == {
        **earlier,
        "labels/tx/1": b"one, edited",
        "labels/tx/2": b"two",
    }


async def _a_write_whose_answer_is_lost(server, tmp_path):
    """Devices a and b; a wrote `labels/tx/1` = "from a", applied, its answer lost."""
    a = await device(tmp_path / "a.sqlite", server.url)
    await a.store.put("prefs/unit", b"sat")
    await a.sync()
    b = await restored_device(tmp_path, "b", server.url)
    lossy = LosesAnswers(server.url, _keys(), "regtest")
    a.service.engine.client = lossy
    await a.store.put("labels/tx/1", b"from a")
    lossy.lose_next = True
    with pytest.raises(BackupUnreachable):
        await a.sync()
    return a, b, lossy


@pytest.mark.asyncio
@pytest.mark.parametrize("edits_on_top", [1, 5])
async def test_an_edit_on_top_of_a_write_whose_answer_was_lost_is_not_a_conflict(
    server, tmp_path, edits_on_top
):
    """The other device overwrites the record before this one hears of its own write: the
    write's items are gone from the feed, and only the manifest can tell it went in."""
    a, b, lossy = await _a_write_whose_answer_is_lost(server, tmp_path)
    await b.sync()
    assert (await b.records())["labels/tx/1"] == b"from a"
    for i in range(edits_on_top):  # each in a batch of its own
        await b.store.put("labels/tx/1", f"from b, on top of a's ({i})".encode())
        await b.sync()
    view = await converged(a, b)
    assert view["labels/tx/1"] == f"from b, on top of a's ({edits_on_top - 1})".encode()
    assert await a.store.scan("conflicts/") == []
    assert a.service.status.current.conflicts == 0
    await lossy.aclose()
    for d in (a, b):
        await d.close()


@pytest.mark.asyncio
async def test_an_edit_by_a_device_restored_after_a_lost_answer_is_not_a_conflict(server, tmp_path):
    """A new laptop restored just after the lost answer edits the record first: its first
    batch carries on the manifest's recent write ids, which tell `a` that its write went in."""
    a, b, lossy = await _a_write_whose_answer_is_lost(server, tmp_path)
    c = await restored_device(tmp_path, "c", server.url)
    assert (await c.records())["labels/tx/1"] == b"from a"
    await c.store.put("labels/tx/1", b"from c, on top of a's")
    await c.sync()
    view = await converged(a, b, c)
    assert view["labels/tx/1"] == b"from c, on top of a's"
    assert await a.store.scan("conflicts/") == []
    assert a.service.status.current.conflicts == 0
    await lossy.aclose()
    for d in (a, b, c):
        await d.close()


class KilledBeforeTheAnswer(RemoteBackupClient):
    """The process dies once the server has applied the batch, before its answer is read."""

    async def put_batch(self, batch):
        await super().put_batch(batch)
        raise asyncio.CancelledError  # nothing after this runs, as in a kill


@pytest.mark.asyncio
async def test_a_device_killed_before_its_answer_knows_after_a_restart_that_its_write_went_in(
    server, tmp_path
):
    a = await device(tmp_path / "a.sqlite", server.url)
    await a.store.put("prefs/unit", b"sat")
    await a.sync()
    b = await restored_device(tmp_path, "b", server.url)
    await a.service.stop()
    await a.store.aclose()
    a = Device(tmp_path / "a.sqlite", server.url)  # a new process: no spare write id
    await a.service.prepare()
    killed = KilledBeforeTheAnswer(server.url, _keys(), "regtest")
    a.service.engine.client = killed
    await a.store.put("labels/tx/1", b"from a")
    with pytest.raises(asyncio.CancelledError):
        await a.service.engine.push()
    await killed.aclose()
    await a.store.aclose()  # the kill: nothing more is written
    await b.sync()
    await b.store.put("labels/tx/1", b"from b, on top of a's")
    await b.sync()
    a = await device(tmp_path / "a.sqlite", server.url)
    view = await converged(a, b)
    assert view["labels/tx/1"] == b"from b, on top of a's"
    assert await a.store.scan("conflicts/") == []
    for d in (a, b):
        await d.close()


class RefusesOnce(RemoteBackupClient):
    """A server that refuses the next batch outright (it applies nothing)."""

    refuse_next = True

    async def put_batch(self, batch):
        if self.refuse_next:
            self.refuse_next = False
            raise BackupUnauthorized("refused", status=401, code="stale_timestamp")
        return await super().put_batch(batch)


@pytest.mark.asyncio
async def test_a_refused_batch_leaves_no_doubt_for_every_pull_to_ask_about(server, tmp_path):
    a = await device(tmp_path / "a.sqlite", server.url)
    refusing = RefusesOnce(server.url, _keys(), "regtest")
    a.service.engine.client = refusing
    await a.store.put("labels/tx/1", b"from a")
    with pytest.raises(BackupUnauthorized):
        await a.service.engine.push()
    assert await a.store.get(IN_DOUBT) is None  # a refusal is an answer: nothing was applied
    await a.service.engine.push()
    assert await a.store.get(IN_DOUBT) is None
    await refusing.aclose()
    await a.close()
    assert await restored_records(server.url, tmp_path) == {"labels/tx/1": b"from a"}


@pytest.mark.asyncio
async def test_an_edit_made_after_the_lost_answer_still_meets_the_other_device_as_a_conflict(
    server, tmp_path
):
    a, b, lossy = await _a_write_whose_answer_is_lost(server, tmp_path)
    await a.store.put("labels/tx/1", b"from a again, offline")  # not yet seen by b
    await b.sync()
    await b.store.put("labels/tx/1", b"from b")
    await b.sync()
    await converged(a, b)
    (conflict,) = await list_conflicts(a.store)
    kept = {c.value for c in conflict.candidates}
    assert {b"from a again, offline", b"from b"} <= kept
    assert b"from a" not in kept  # b's edit was made on top of it: no conflict with it
    await lossy.aclose()
    for d in (a, b):
        await d.close()


def _keys():
    from tests.integration.backup.helpers import keys_for

    return keys_for()


@pytest.mark.asyncio
async def test_an_erase_from_another_device_is_reported_and_nothing_goes_up(server, tmp_path):
    a = await device(tmp_path / "a.sqlite", server.url)
    await a.store.put("labels/tx/a", b"from a")
    await a.sync()
    b = await restored_device(tmp_path, "b", server.url)
    await b.service.delete_server_backup()  # the user, on B
    await a.store.put("labels/tx/a2", b"more from a")
    with pytest.raises(BackupErased):
        await a.sync()
    status = a.service.status.current
    assert status.notice_kind == "erased" and "another device" in (status.notice or "")
    assert not status.rollback_detected
    async with RemoteBackupClient(server.url, _keys(), "regtest") as client:
        info = await client.store_info()
    assert info.state.erased and info.objects == 0  # nothing was silently uploaded again
    # The user chooses to back up here again: everything of A goes up in a new incarnation.
    await a.service.start_again()
    await a.sync()
    assert await a.store.get(NOTICE) is None
    await a.close()
    await b.close()
    assert await restored_records(server.url, tmp_path) == {
        "labels/tx/a": b"from a",
        "labels/tx/a2": b"more from a",
    }


@pytest.mark.asyncio
@pytest.mark.parametrize("erased_on", ["a", "b"])
async def test_an_edit_made_after_an_erase_wins_over_the_old_values_the_new_backup_copies(
    server, tmp_path, erased_on
):
    """The new backup after an erase uploads what its device held: copies of values synced
    long ago, which must not beat an edit another device made since."""
    a = await device(tmp_path / "a.sqlite", server.url)
    await a.store.batch({"prefs/fiat": b"GBP", "labels/tx/3": b"a's old label"})
    await a.sync()
    b = await restored_device(tmp_path, "b", server.url)
    await (a if erased_on == "a" else b).service.delete_server_backup()
    await b.store.put("prefs/fiat", b"NZD")  # the newer edits, made after the erase
    await b.store.put("labels/tx/3", b"b's new label")
    await _next_millisecond()
    await _back_up_again(a)  # the new backup, later than b's edits
    await _back_up_again(b)
    view = await converged(a, b)
    assert view["prefs/fiat"] == b"NZD"
    assert view["labels/tx/3"] == b"b's new label"
    for d in (a, b):
        await d.close()


async def _back_up_again(d):
    """A sync; after an erase told by the server, the user's choice to back up here again."""
    try:
        await d.sync()
    except BackupErased:
        await d.service.start_again()
        await d.sync()


@pytest.mark.asyncio
async def test_a_cloned_data_dir_is_told_apart_and_loses_nothing(server, tmp_path):
    a = await device(tmp_path / "a.sqlite", server.url)
    await a.store.put("wallet/changeset/x/000000000000", b"base")
    await a.sync()
    await a.close()
    shutil.copy(tmp_path / "a.sqlite", tmp_path / "c.sqlite")  # a copied data dir
    a = await device(tmp_path / "a.sqlite", server.url)
    c = await device(tmp_path / "c.sqlite", server.url)
    same_id = await a.store.get(DEVICE_RECORD)
    assert same_id == await c.store.get(DEVICE_RECORD)
    name = "wallet/changeset/x/000000000001"
    await a.store.put(name, b"written by a")
    await a.sync()
    await c.store.put(name, b"written by c")  # the same name, another value
    await c.sync()
    records = await converged(a, c)
    assert await c.store.get(DEVICE_RECORD) != same_id  # the copy took a new id
    values = {v for n, v in records.items() if n.startswith("wallet/changeset/")}
    assert {b"base", b"written by a", b"written by c"} <= values
    for d in (a, c):
        await d.close()


@pytest.mark.asyncio
async def test_the_next_address_index_is_the_largest_either_device_handed_out(server, tmp_path):
    a = await device(tmp_path / "a.sqlite", server.url)
    await a.store.put("wallet/revealed/external", b"4 aaaa")
    await a.sync()
    b = await restored_device(tmp_path, "b", server.url)
    await b.store.put("wallet/revealed/external", b"6 bbbb")
    await a.store.put("wallet/revealed/external", b"5 aaaa")
    await b.sync()
    await a.sync()
    records = await converged(a, b)
    assert records["wallet/revealed/external"] == b"6 bbbb"
    assert await list_conflicts(a.store) == []
    for d in (a, b):
        await d.close()


@pytest.mark.asyncio
async def test_an_idle_pull_costs_one_small_request(server, tmp_path):
    a = await device(tmp_path / "a.sqlite", server.url)
    await a.store.put("labels/tx/a", b"x" * 200)
    await a.sync()
    sizes = []
    engine = a.service.engine
    real = engine.client._http.send

    async def counting(request, **kwargs):
        response = await real(request, **kwargs)
        sizes.append(len(request.content) + len(response.content) + len(str(request.url)))
        return response

    engine.client._http.send = counting
    await engine.pull()
    assert len(sizes) == 1 and sizes[0] < 1024
    await a.close()


def test_the_conflict_record_names_both_devices_and_times(tmp_path):
    from cairn.backup.merge import Candidate, ConflictRecord

    record = ConflictRecord("labels/tx/k", ()).merged(
        Candidate(b"a", b"\x01" * 16, (2, 0)), Candidate(None, b"\x02" * 16, (1, 0))
    )
    data = json.loads(record.encode())
    assert [c["device"] for c in data["candidates"]] == ["01" * 16, "02" * 16]
    assert data["candidates"][1]["value"] is None


@pytest.mark.asyncio
async def test_conflicts_kept_by_the_first_engine_become_one_record_per_name(tmp_path):
    from cairn.backup.conflicts import migrate_v1_conflicts
    from cairn.storage import AsyncRecordStore, MemoryStore

    store = AsyncRecordStore(MemoryStore())
    await store.batch(
        {
            "labels/tx/abc": b"rent, March",
            "conflicts/labels/tx/abc/1": b"rent",
            "conflicts/labels/tx/abc/2": b"groceries",
            "conflicts/odd": b"not ours",
        }
    )
    assert await migrate_v1_conflicts(store) == 2
    [conflict] = await list_conflicts(store)
    assert conflict.name == "labels/tx/abc"
    assert {c.value for c in conflict.candidates} == {b"rent, March", b"rent", b"groceries"}
    assert conflict.candidates[0].value == b"rent, March"  # the value in use comes first
    assert await store.get("conflicts/odd") == b"not ours"  # not Cairn's: left untouched
    assert await migrate_v1_conflicts(store) == 0
    await store.aclose()
