"""The background uploader: urgent events flush at once, routine ones are debounced, and writes
made while the server is down wait in the outbox and go out when it is back."""

from __future__ import annotations

import asyncio

import pytest

from cairn.backup.client import RemoteBackupClient
from cairn.backup.localstate import SENT_RECENT
from cairn.backup.status import BackupState
from cairn.events import EventBus, LabelChanged, SyncCompleted
from tests.integration.backup.helpers import (
    NETWORK,
    keys_for,
    open_store,
    records_of,
    restored_records,
    service_for,
)
from tests.support.clock import ManualTimers
from tests.support.waiting import eventually as wait_for


@pytest.mark.asyncio
async def test_urgent_events_flush_at_once_routine_ones_after_the_debounce(backupd, tmp_path):
    # The debounce runs on a clock the test moves: "not yet" and "now" do not depend on how
    # fast the machine is.
    debounce = 1.5
    timers = ManualTimers()
    store = open_store(tmp_path / "a.sqlite")
    service = service_for(store, backupd.url, debounce=debounce, call_later=timers.call_later)
    bus = EventBus()
    await service.start()
    service.attach(bus)
    await wait_for(lambda: service.uploader.rounds >= 1)  # the round every start runs

    async def round_done(after: int) -> None:
        await wait_for(lambda: service.uploader.rounds > after)
        assert service.status.current.pending_changes == 0

    rounds = service.uploader.rounds
    await store.put("labels/tx/1", b"urgent")
    bus.publish(LabelChanged("tx", "1", "urgent"))
    assert timers.pending == [] and service.uploader.round_due  # no debounce: at once
    await round_done(rounds)

    rounds = service.uploader.rounds
    await store.put("wallet/changeset/000001", b"routine")
    bus.publish(SyncCompleted(height=101, full_scan=False))
    bus.publish(SyncCompleted(height=102, full_scan=False))
    assert timers.pending == [debounce]  # one debounce for both
    assert timers.advance(debounce - 0.1) == 0
    assert not service.uploader.round_due
    assert timers.advance(0.1) == 1
    assert service.uploader.round_due
    await round_done(rounds)

    # An urgent event during a debounce takes the routine change with it, at once.
    rounds = service.uploader.rounds
    await store.put("wallet/changeset/000002", b"routine")
    bus.publish(SyncCompleted(height=103, full_scan=False))
    await store.put("labels/tx/2", b"urgent")
    bus.publish(LabelChanged("tx", "2", "urgent"))
    assert timers.pending == [] and service.uploader.round_due
    await round_done(rounds)
    await service.stop()
    await store.aclose()


@pytest.mark.asyncio
async def test_publishing_from_another_thread_reaches_the_uploader(backupd, tmp_path):
    store = open_store(tmp_path / "a.sqlite")
    service = service_for(store, backupd.url)
    bus = EventBus()
    await service.start()
    service.attach(bus)
    await store.put("labels/tx/2", b"from a worker thread")
    await asyncio.to_thread(bus.publish, LabelChanged("tx", "2", "x"))
    await wait_for(
        lambda: service.status.current.pending_changes == 0 and service.status.current.last_success
    )
    await service.stop()
    await store.aclose()


@pytest.mark.asyncio
async def test_writes_while_the_server_is_down_queue_and_flush_when_it_is_back(backupd, tmp_path):
    path = tmp_path / "a.sqlite"
    store = open_store(path)
    service = service_for(store, backupd.url)
    await service.start()
    backupd.stop()
    for i in range(20):
        await store.put(f"labels/tx/{i}", f"label {i}".encode())
        service.notify(urgent=True)
    await wait_for(lambda: service.status.current.state is BackupState.OFFLINE)
    assert service.status.current.last_error
    stats = await store.outbox_stats()
    assert stats.count == 20

    await asyncio.to_thread(backupd.start)
    await wait_for(
        lambda: (
            service.status.current.state is BackupState.IDLE
            and service.status.current.pending_changes == 0
        ),
        timeout=15,
    )
    assert service.status.current.last_error is None
    await service.stop()
    await store.aclose()
    assert await restored_records(backupd.url, tmp_path) == records_of(path)


@pytest.mark.asyncio
async def test_pending_changes_from_before_a_restart_go_out_on_start(backupd, tmp_path):
    path = tmp_path / "a.sqlite"
    store = open_store(path)
    await store.batch({f"payments/{i}": b"memo" for i in range(30)})
    await store.aclose()  # the app quit before uploading anything

    store = open_store(path)
    service = service_for(store, backupd.url)
    changes = []
    service.status.subscribe(changes.append)
    await service.start()
    assert service.status.current.pending_changes in (0, 30)
    await wait_for(
        lambda: service.status.current.pending_changes == 0 and service.status.current.last_success
    )
    assert any(c.state is BackupState.UPLOADING for c in changes)
    await service.stop()
    await store.aclose()
    assert await restored_records(backupd.url, tmp_path) == records_of(path)


@pytest.mark.asyncio
async def test_batches_stay_within_the_item_and_byte_bounds(backupd_factory, tmp_path):
    server = backupd_factory(max_batch_items=11, max_batch_bytes=64 * 1024)
    path = tmp_path / "a.sqlite"
    store = open_store(path)
    await store.batch({f"labels/tx/{i:03d}": bytes(3000) + str(i).encode() for i in range(60)})
    service = service_for(store, server.url, max_items=10, max_bytes=40 * 1024)
    await service.prepare()
    assert await service.backup_now() == 60
    await service.stop()
    await store.aclose()
    assert await restored_records(server.url, tmp_path) == records_of(path)


@pytest.mark.asyncio
async def test_a_record_created_and_deleted_before_any_upload_costs_no_request(backupd, tmp_path):
    store = open_store(tmp_path / "a.sqlite")
    await store.put("labels/tx/brief", b"x")
    service = service_for(store, backupd.url)
    await service.prepare()
    await service.backup_now()
    generation = int(await store.get("local/backup/last_generation") or b"0")
    await store.put("labels/tx/fleeting", b"y")
    await store.delete("labels/tx/fleeting")
    assert (await store.outbox_stats()).count == 1
    await service.backup_now()
    assert (await store.outbox_stats()).count == 0
    assert int(await store.get("local/backup/last_generation") or b"0") == generation
    await service.stop()
    await store.aclose()


@pytest.mark.asyncio
async def test_stop_right_after_an_acknowledged_change_ends_the_uploader(backupd, tmp_path):
    # The app quits the moment a change is backed up: the status listener that says so and
    # the quit land in the same turns of the loop. On Python 3.11 asyncio.wait_for dropped a
    # cancellation that arrived as its event was set, and stop() waited forever.
    store = open_store(tmp_path / "a.sqlite")
    bus = EventBus()
    for i in range(6):
        service = service_for(store, backupd.url, poll_interval=1.5)  # the app's default
        acked = asyncio.Event()
        service.status.subscribe(
            lambda s, acked=acked: acked.set() if s.pending_changes == 0 else None
        )
        await service.start()
        service.attach(bus)
        for j in range(5):
            acked.clear()
            await store.put(f"labels/tx/{i}-{j}", b"x")
            bus.publish(LabelChanged("tx", f"{i}-{j}", "x"))
            async with asyncio.timeout(30):
                await acked.wait()
        async with asyncio.timeout(5):  # it takes milliseconds; a lost cancellation, forever
            await service.stop()
    await store.aclose()


class _Requests:
    """Counts the real client's feed reads and batch writes (the calls go through unchanged),
    and keeps their order with the pending count the status showed as each one started."""

    def __init__(self, service: object, monkeypatch: pytest.MonkeyPatch) -> None:
        self.changes = 0
        self.puts = 0
        self.order: list[tuple[str, int]] = []
        client = service.client  # type: ignore[attr-defined]
        status = service.status  # type: ignore[attr-defined]
        changes, put_batch = client.changes, client.put_batch

        async def counted_changes(*args: object, **kwargs: object) -> object:
            self.changes += 1
            self.order.append(("changes", status.current.pending_changes))
            return await changes(*args, **kwargs)

        async def counted_put(*args: object, **kwargs: object) -> object:
            self.puts += 1
            self.order.append(("put", status.current.pending_changes))
            return await put_batch(*args, **kwargs)

        monkeypatch.setattr(client, "changes", counted_changes)
        monkeypatch.setattr(client, "put_batch", counted_put)


@pytest.mark.asyncio
async def test_a_change_soon_after_a_pull_goes_up_in_one_request(backupd, tmp_path, monkeypatch):
    store = open_store(tmp_path / "a.sqlite")
    service = service_for(store, backupd.url, poll_interval=30.0)
    bus = EventBus()
    await service.start()
    service.attach(bus)
    await wait_for(lambda: service.uploader.rounds >= 1)  # the start's round pulled
    requests = _Requests(service, monkeypatch)
    rounds = service.uploader.rounds
    await store.put("labels/tx/1", b"at once")
    bus.publish(LabelChanged("tx", "1", "at once"))
    await wait_for(lambda: service.uploader.rounds > rounds)
    assert service.status.current.pending_changes == 0
    assert (requests.changes, requests.puts) == (0, 1)
    await service.stop()
    await store.aclose()
    assert (await restored_records(backupd.url, tmp_path))["labels/tx/1"] == b"at once"


@pytest.mark.asyncio
async def test_a_change_long_after_the_last_pull_goes_up_in_one_request_all_the_same(
    backupd, tmp_path, monkeypatch
):
    store = open_store(tmp_path / "a.sqlite")
    await store.put("labels/tx/0", b"before the start")
    service = service_for(store, backupd.url, poll_interval=30.0)
    bus = EventBus()
    requests = _Requests(service, monkeypatch)
    await service.start()
    service.attach(bus)
    await wait_for(lambda: service.uploader.rounds >= 1)
    # A change waiting from before the start goes up only after this process's first pull.
    assert [kind for kind, _ in requests.order] == ["changes", "put"]
    requests.order.clear()
    rounds = service.uploader.rounds
    service.uploader._pulled_at -= 60.0  # the last pull is long past its poll interval
    await store.put("labels/tx/1", b"later")
    bus.publish(LabelChanged("tx", "1", "later"))
    await wait_for(lambda: service.uploader.rounds > rounds)
    # The server took it at the generation this device knew: nobody else wrote, no pull needed.
    assert requests.order == [("put", 1)]
    assert service.status.current.pending_changes == 0
    await service.stop()
    await store.aclose()
    restored = await restored_records(backupd.url, tmp_path)
    assert restored["labels/tx/1"] == b"later"


@pytest.mark.asyncio
async def test_a_change_made_once_a_full_backup_is_required_waits_for_the_full_backup(
    backupd, tmp_path, monkeypatch
):
    store = open_store(tmp_path / "a.sqlite")
    service = service_for(store, backupd.url, poll_interval=30.0)
    bus = EventBus()
    await service.start()
    service.attach(bus)
    await wait_for(lambda: service.uploader.rounds >= 1)
    uploader = service.uploader
    requests = _Requests(service, monkeypatch)
    full_backup = uploader._full_backup
    assert full_backup is not None

    async def counted_full_backup() -> object:
        requests.order.append(("full backup", service.status.current.pending_changes))
        return await full_backup()

    monkeypatch.setattr(uploader, "_full_backup", counted_full_backup)
    await uploader.local.require_full("the records were compared and differ")
    rounds = uploader.rounds
    await store.put("labels/tx/1", b"after the requirement")
    bus.publish(LabelChanged("tx", "1", "after the requirement"))
    await wait_for(lambda: uploader.rounds > rounds)
    # The round ran the full backup (which took the change along) before any plain push.
    kinds = [kind for kind, _ in requests.order]
    assert kinds[0] == "full backup"
    assert kinds.count("full backup") == 1
    assert service.status.current.full_backup_reason is None
    assert service.status.current.pending_changes == 0
    await service.stop()
    await store.aclose()
    restored = await restored_records(backupd.url, tmp_path)
    assert restored["labels/tx/1"] == b"after the requirement"


@pytest.mark.parametrize("last_pull", ["fresh", "stale"])
@pytest.mark.asyncio
async def test_a_change_pushed_straight_up_after_an_erase_elsewhere_raises_the_notice(
    backupd, tmp_path, last_pull
):
    store = open_store(tmp_path / "a.sqlite")
    await store.put("labels/tx/0", b"first")
    service = service_for(store, backupd.url, poll_interval=30.0)
    bus = EventBus()
    await service.start()
    service.attach(bus)
    await wait_for(
        lambda: service.uploader.rounds >= 1 and not service.status.current.pending_changes
    )
    other_store = open_store(tmp_path / "b.sqlite")
    other = service_for(other_store, backupd.url)
    await other.delete_server_backup()  # the user, on another device
    await other.stop()
    await other_store.aclose()
    if last_pull == "stale":
        service.uploader._pulled_at -= 60.0
    await store.put("labels/tx/1", b"after the erase")
    bus.publish(LabelChanged("tx", "1", "after the erase"))
    await wait_for(lambda: service.status.current.notice_kind == "erased")
    assert service.status.current.state is BackupState.ERROR
    await service.stop()
    await store.aclose()
    async with RemoteBackupClient(backupd.url, keys_for(), NETWORK) as client:
        info = await client.store_info()
    assert info.state.erased and info.objects == 0  # nothing went up again unasked


@pytest.mark.asyncio
async def test_changes_pushed_without_a_break_still_bring_another_devices_change(
    backupd, tmp_path, monkeypatch
):
    poll = 0.4
    store = open_store(tmp_path / "a.sqlite")
    service = service_for(store, backupd.url, poll_interval=poll)
    bus = EventBus()
    await service.start()
    service.attach(bus)
    await wait_for(lambda: service.uploader.rounds >= 1)
    requests = _Requests(service, monkeypatch)
    loop = asyncio.get_running_loop()
    started, i = loop.time(), 0
    other_store = open_store(tmp_path / "b.sqlite")
    other = service_for(other_store, backupd.url)
    # A change every 50 ms wakes the uploader long before its poll interval runs out.
    while loop.time() - started < 6 * poll:
        await store.put(f"labels/tx/{i}", b"busy")
        bus.publish(LabelChanged("tx", str(i), "busy"))
        await asyncio.sleep(0.05)
        i += 1
        if i == 10:  # meanwhile, on another device
            await other_store.put("labels/tx/from-b", b"written on b")
            await other.backup_now()
    await wait_for(lambda: service.status.current.pending_changes == 0)
    # Each accepted batch told as much as a pull: the feed was read for the 409 that the other
    # device's write caused, not once per poll interval.
    assert requests.puts >= 6
    assert 1 <= requests.changes < 3
    assert await store.get("labels/tx/from-b") == b"written on b"
    await other.stop()
    await other_store.aclose()
    await service.stop()
    await store.aclose()


@pytest.mark.asyncio
@pytest.mark.parametrize("poll", [60.0, 0.02])
async def test_two_devices_pushing_straight_up_at_once_lose_nothing(backupd, tmp_path, poll):
    # Every round after the first pushes without pulling first, so the two devices' writes race
    # and meet only in the server's generation precondition; with a short poll interval each
    # push is followed by a pull as well.
    devices = []
    for name in ("a", "b"):
        store = open_store(tmp_path / f"{name}.sqlite")
        service = service_for(store, backupd.url, poll_interval=poll)
        bus = EventBus()
        await service.start()
        service.attach(bus)
        devices.append((name, store, service, bus))
    await wait_for(lambda: all(d[2].uploader.rounds >= 1 for d in devices))
    expected: dict[str, bytes] = {}
    for i in range(12):
        for name, store, _service, bus in devices:
            record = f"labels/tx/{name}{i:02d}"
            expected[record] = f"{name} {i}".encode()
            await store.put(record, expected[record])
            bus.publish(LabelChanged("tx", f"{name}{i:02d}", "x"))
        await asyncio.sleep(0)
    await wait_for(
        lambda: all(
            d[2].status.current.pending_changes == 0 and not d[2].uploader.round_due
            for d in devices
        ),
        timeout=30,
    )
    for _name, store, service, _bus in devices:
        await service.stop()
        await store.aclose()
    restored = await restored_records(backupd.url, tmp_path)
    assert {k: v for k, v in restored.items() if k in expected} == expected


@pytest.mark.asyncio
async def test_a_change_needs_no_local_write_before_its_put_and_no_write_id_is_used_twice(
    backupd_factory, tmp_path, monkeypatch
):
    server = backupd_factory()
    path = tmp_path / "a.sqlite"
    store = open_store(path)
    service = service_for(store, server.url)
    await service.start()
    await wait_for(lambda: service.uploader.rounds >= 1)
    batches: list[tuple[str, tuple[str, ...]]] = []  # (write id, keys) of every attempt
    local_writes_before_put: list[int] = []
    writes = 0
    # The wrapped store's own batch: the engine writes its bookkeeping on the store's thread.
    put_batch, batch = service.client.put_batch, store.store.batch

    def counted_batch(puts=None, deletes=()):  # type: ignore[no-untyped-def]
        nonlocal writes
        if SENT_RECENT in (puts or {}):
            writes += 1  # a write id remembered on its own
        batch(puts, deletes)

    async def recorded_put(sent):  # type: ignore[no-untyped-def]
        nonlocal writes
        batches.append((sent.write_id, sent.keys))
        local_writes_before_put.append(writes)
        writes = 0
        return await put_batch(sent)

    monkeypatch.setattr(store.store, "batch", counted_batch)
    monkeypatch.setattr(service.client, "put_batch", recorded_put)

    async def change(i: int) -> None:
        await store.put(f"labels/tx/{i}", f"label {i}".encode())
        service.notify(urgent=True)

    async def acknowledged(after_rounds: int, timeout: float = 30.0) -> None:
        await wait_for(
            lambda: (
                service.uploader.rounds > after_rounds
                and service.status.current.pending_changes == 0
            ),
            timeout=timeout,
        )

    for i in range(3):
        rounds = service.uploader.rounds
        await change(i)
        await acknowledged(rounds)
    # The first batch of this process writes its id first; each later one was remembered
    # with the batch before it.
    assert local_writes_before_put == [1, 0, 0]

    server.stop()  # a send fails: its id is used up, the retry gets a new one
    await change(3)
    await wait_for(lambda: service.status.current.state is BackupState.OFFLINE)
    rounds = service.uploader.rounds
    await asyncio.to_thread(server.start)
    await acknowledged(rounds, timeout=15)
    rounds = service.uploader.rounds
    await change(4)
    await acknowledged(rounds)
    ids = [write_id for write_id, _keys in batches]
    assert len(ids) >= 6 and len(set(ids)) == len(ids)
    await service.stop()
    await store.aclose()
    assert await restored_records(server.url, tmp_path) == records_of(path)


@pytest.mark.asyncio
async def test_back_up_now_also_sends_what_is_written_while_it_runs(backupd, tmp_path, monkeypatch):
    path = tmp_path / "a.sqlite"
    store = open_store(path)
    service = service_for(store, backupd.url)
    await service.prepare()
    await store.put("labels/tx/first", b"before the click")
    put_batch = service.client.put_batch
    written = False

    async def write_during_put(batch):  # type: ignore[no-untyped-def]
        nonlocal written
        if not written:
            written = True
            await store.put("labels/tx/second", b"while it was uploading")
        return await put_batch(batch)

    monkeypatch.setattr(service.client, "put_batch", write_during_put)
    await service.backup_now()
    assert (await store.outbox_stats()).count == 0
    assert service.status.current.pending_changes == 0
    await service.stop()
    await store.aclose()
    restored = await restored_records(backupd.url, tmp_path)
    assert restored["labels/tx/second"] == b"while it was uploading"


@pytest.mark.asyncio
async def test_a_round_the_caller_waits_on_waits_out_the_servers_429(backupd_factory, tmp_path):
    # An address reservation waits on such a round: a server that says "slow down" is there,
    # and giving up on it would hand out an index another device may be taking.
    limited = backupd_factory(rate_limit=2, rate_window=2)
    store = open_store(tmp_path / "a.sqlite")
    service = service_for(store, limited.url)
    await service.prepare()
    for n in range(4):
        await store.put(f"labels/tx/{n}", b"rent")
        await service.sync_now()
        assert service.status.current.pending_changes == 0
    await service.stop()
    await store.aclose()
