"""One conformance suite for both storage backends: SQLite files and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from cairn.server.backend import (
    EXPORT_PAGE_BYTES,
    EXPORT_PAGE_ROWS,
    Backend,
    BatchApplied,
    Claim,
    Conflict,
    QuotaExceeded,
    RateLimited,
    Replayed,
    ResyncRequired,
    StoreRef,
)
from cairn.server.postgres_backend import PostgresBackend
from cairn.server.sqlite_backend import SqliteBackend
from cairn.wire.messages import Batch, DeleteItem, FeedItem, PutItem

QUOTA = 1 << 30
NODE = "02" + "11" * 32
STORE = StoreRef(NODE, "regtest")
OTHER = StoreRef(NODE, "signet")
INC = "1" * 32


def key(i: int | str) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def claim(nonce: str | None = None, *, rate_limit: int = 0, expires_in: int = 300) -> Claim:
    now = int(time.time())
    return Claim(
        node_id=NODE,
        nonce=nonce or secrets.token_hex(16),
        nonce_expires=now + expires_in,
        window_start=now - now % 3600,  # one window for the whole test
        window_seconds=3600,
        rate_limit=rate_limit,
    )


@pytest_asyncio.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    chosen: Backend
    if request.param == "sqlite":
        chosen = SqliteBackend(tmp_path / "backupd.sqlite")
    else:
        chosen = PostgresBackend(request.getfixturevalue("postgres_db"), pool_size=8)
    await chosen.open()
    try:
        yield chosen
    finally:
        await chosen.close()


Item = tuple[str, int, bytes]


async def generation_of(backend: Backend, store: StoreRef = STORE) -> int:
    info = await backend.store_info(store)
    return 0 if info is None else info.state.generation


async def apply(
    backend: Backend,
    puts: list[Item] | tuple[Item, ...] = (),
    deletes: list[Item] | tuple[Item, ...] = (),
    *,
    store: StoreRef = STORE,
    generation: int | None = None,
    incarnation: str = INC,
    write_id: str | None = None,
    quota: int = QUOTA,
    claim: Claim | None = None,
) -> BatchApplied:
    """One batch, by default at the store's current generation (a client that is up to date)."""
    seen = await generation_of(backend, store) if generation is None else generation
    batch = Batch(
        incarnation,
        seen,
        write_id or secrets.token_hex(16),
        tuple(PutItem(*item) for item in puts),
        tuple(DeleteItem(*item) for item in deletes),
    )
    return await backend.apply_batch(store, batch, quota=quota, claim=claim)


async def put(backend: Backend, *items: Item, store: StoreRef = STORE) -> int:
    return (await apply(backend, items, store=store)).generation


async def put_retrying(backend: Backend, *items: Item, store: StoreRef = STORE) -> int:
    """A writer racing others: on a conflict it reads the generation again and retries."""
    while True:
        try:
            return await put(backend, *items, store=store)
        except Conflict:
            await asyncio.sleep(0)


async def listing(backend: Backend, store: StoreRef = STORE, page: int = 1000) -> list[str]:
    keys: list[str] = []
    after = ""
    while True:
        rows = await backend.list_objects(store, after, page)
        keys += [r.key for r in rows]
        if len(rows) < page:
            return keys
        after = rows[-1].key


async def feed(
    backend: Backend, since: int = 0, limit: int = 1000, store: StoreRef = STORE
) -> list[list[FeedItem]]:
    """Every page of the change feed from `since`, as a client pages through it."""
    pages: list[list[FeedItem]] = []
    while True:
        page = await backend.changes(store, since, limit)
        assert page is not None
        pages.append(list(page.items))
        if page.next is None:
            return pages
        assert page.next > since
        since = page.next


@pytest.mark.asyncio
async def test_version_zero_creates_only(backend: Backend) -> None:
    applied = await apply(backend, [(key(1), 0, b"one")])
    assert applied.versions == {key(1): 1}
    with pytest.raises(Conflict) as err:
        await apply(backend, [(key(1), 0, b"again")])
    assert err.value.info.current == {key(1): 1}
    stored = await backend.get_object(STORE, key(1))
    assert stored is not None
    assert (stored.version, stored.value) == (1, b"one")


@pytest.mark.asyncio
async def test_compare_and_swap_succeeds_on_the_seen_version_only(backend: Backend) -> None:
    await put(backend, (key(1), 0, b"v1"))
    await put(backend, (key(9), 0, b"other"))
    applied = await apply(backend, [(key(1), 1, b"v2")])
    assert applied.versions == {key(1): 3} and applied.generation == 3
    for stale in (1, 2, 4):
        with pytest.raises(Conflict) as err:
            await apply(backend, [(key(1), stale, b"x")])
        assert err.value.info.current == {key(1): 3}
    with pytest.raises(Conflict) as err:
        await apply(backend, [(key(2), 5, b"x")])
    assert err.value.info.current == {key(2): 0}
    stored = await backend.get_object(STORE, key(1))
    assert stored is not None and stored.value == b"v2"


@pytest.mark.asyncio
async def test_the_generation_is_a_store_wide_precondition(backend: Backend) -> None:
    await put(backend, (key(1), 0, b"a"))
    await put(backend, (key(2), 0, b"b"))
    for behind in (0, 1, 3):
        with pytest.raises(Conflict) as err:
            await apply(backend, [(key(3), 0, b"c")], generation=behind)
        assert err.value.info.state.generation == 2
    assert await backend.get_object(STORE, key(3)) is None


@pytest.mark.asyncio
async def test_another_incarnation_is_refused(backend: Backend) -> None:
    await put(backend, (key(1), 0, b"a"))
    with pytest.raises(Conflict) as err:
        await apply(backend, [(key(2), 0, b"b")], incarnation="2" * 32)
    assert err.value.info.state.incarnation == INC
    assert await generation_of(backend) == 1


@pytest.mark.asyncio
async def test_a_conflict_reports_the_write_that_made_each_object(backend: Backend) -> None:
    await apply(backend, [(key(1), 0, b"a")], write_id="a" * 32)
    with pytest.raises(Conflict) as err:
        await apply(backend, [(key(1), 0, b"again"), (key(2), 0, b"b")], write_id="b" * 32)
    assert err.value.info.write_ids == {key(1): "a" * 32}
    assert err.value.info.current == {key(1): 1, key(2): 0}


@pytest.mark.asyncio
async def test_a_conflict_reports_tombstones_and_the_store_state(backend: Backend) -> None:
    await apply(backend, [(key(1), 0, b"a"), (key(2), 0, b"b")], write_id="a" * 32)
    await apply(backend, deletes=[(key(2), 1, b"t")], write_id="d" * 32)
    with pytest.raises(Conflict) as err:
        await apply(backend, [(key(1), 0, b"x"), (key(2), 0, b"y"), (key(3), 0, b"z")])
    info = err.value.info
    assert err.value.detail == "a version does not match the stored one"
    assert info.current == {key(1): 1, key(2): 2, key(3): 0}
    assert info.write_ids == {key(1): "a" * 32, key(2): "d" * 32}  # present keys only
    assert (info.state.generation, info.state.incarnation, info.state.erased) == (2, INC, False)
    await backend.delete_store(STORE)
    with pytest.raises(Conflict) as err:
        await apply(backend, [(key(1), 0, b"x")], generation=1, incarnation="3" * 32)
    assert err.value.detail == "the store has changed since the generation this batch is based on"
    assert err.value.info.state.erased and err.value.info.state.incarnation is None
    assert err.value.info.write_ids == {}  # an erase leaves no rows behind


@pytest.mark.asyncio
async def test_each_rule_is_reported_with_its_own_detail(backend: Backend) -> None:
    await put(backend, (key(1), 0, b"a"))
    with pytest.raises(Conflict) as err:
        await apply(backend, [(key(1), 1, b"b")], incarnation="4" * 32, generation=0)
    assert err.value.detail == (
        "the store has another incarnation (erased and started again elsewhere)"
    )
    with pytest.raises(Conflict) as err:
        await apply(backend, [(key(1), 1, b"b")], generation=0)
    assert err.value.detail == "the store has changed since the generation this batch is based on"
    with pytest.raises(QuotaExceeded) as quota:
        await apply(backend, [(key(2), 0, b"c" * 10)], quota=5)
    assert (quota.value.used, quota.value.quota) == (11, 5)


@pytest.mark.asyncio
async def test_a_batch_with_one_conflict_applies_nothing(backend: Backend) -> None:
    await put(backend, (key("a"), 0, b"a1"), (key("b"), 0, b"b1"))
    before = await backend.store_info(STORE)
    with pytest.raises(Conflict) as err:
        await apply(
            backend,
            [(key("a"), 1, b"a2"), (key("c"), 0, b"c1"), (key("b"), 0, b"b!")],
            [(key("d"), 0, b"tomb")],
        )
    assert err.value.info.current == {key("a"): 1, key("c"): 0, key("b"): 1, key("d"): 0}
    assert await backend.store_info(STORE) == before
    a = await backend.get_object(STORE, key("a"))
    assert a is not None and (a.version, a.value) == (1, b"a1")
    assert await backend.get_object(STORE, key("c")) is None


@pytest.mark.asyncio
async def test_a_conflict_on_a_new_store_does_not_create_it(backend: Backend) -> None:
    with pytest.raises(Conflict):
        await apply(backend, [(key(1), 4, b"x")])
    assert await backend.store_info(STORE) is None
    with pytest.raises(Conflict):
        await apply(backend, [(key(1), 0, b"x")], generation=3)
    assert await backend.store_info(STORE) is None


@pytest.mark.asyncio
async def test_a_delete_leaves_a_tombstone_and_a_recreate_gets_a_new_version(
    backend: Backend,
) -> None:
    await put(backend, (key(1), 0, b"one"), (key(2), 0, b"two!"))
    with pytest.raises(Conflict):
        await apply(backend, deletes=[(key(1), 0, b"t")])  # 0 does not match a live object
    applied = await apply(backend, deletes=[(key(1), 1, b"tomb"), (key(3), 0, b"tomb")])
    assert applied.versions == {key(1): 2, key(3): 2}
    assert await backend.get_object(STORE, key(1)) is None
    assert await listing(backend) == [key(2)]
    info = await backend.store_info(STORE)
    # Live: key(2) (4 bytes); the two tombstones count 4 bytes each.
    assert info is not None and (info.objects, info.bytes, info.state.generation) == (1, 12, 2)
    # Created again, from 0 (or from the tombstone's version), at a version never used before.
    recreated = await apply(backend, [(key(1), 0, b"new"), (key(3), 2, b"three")])
    assert recreated.versions == {key(1): 3, key(3): 3}


@pytest.mark.asyncio
async def test_versions_never_repeat_across_delete_recreate_and_erase(backend: Backend) -> None:
    seen: list[int] = []
    for round_ in range(3):
        life = f"{round_ + 5:x}" * 32  # each life after an erase has an incarnation of its own
        v = (await apply(backend, [(key(1), 0, b"x%d" % round_)], incarnation=life)).versions
        seen.append(v[key(1)])
        again = await apply(backend, [(key(1), seen[-1], b"y")], incarnation=life)
        seen.append(again.versions[key(1)])
        gone = await apply(backend, deletes=[(key(1), seen[-1], b"t")], incarnation=life)
        seen.append(gone.versions[key(1)])
        assert await backend.delete_store(STORE) is True
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert await generation_of(backend) == seen[-1]


@pytest.mark.asyncio
async def test_no_erased_life_comes_back(backend: Backend) -> None:
    await put(backend, (key(1), 0, b"x"))
    assert await backend.delete_store(STORE) is True
    with pytest.raises(Conflict) as err:
        await apply(backend, [(key(1), 0, b"x")], generation=1)  # under the erased life
    assert err.value.detail == "the batch's incarnation is of a life of the store that was erased"
    assert (err.value.info.state.incarnation, err.value.info.state.erased) == (None, True)
    await apply(backend, [(key(1), 0, b"y")], generation=1, incarnation="6" * 32)
    assert await backend.delete_store(STORE) is True
    for erased in (INC, "6" * 32):
        with pytest.raises(Conflict):
            await apply(backend, [(key(1), 0, b"z")], generation=2, incarnation=erased)
    # Another store of the node is another history: its first life may have any incarnation.
    await put(backend, (key(1), 0, b"x"), store=OTHER)
    assert await generation_of(backend) == 2


@pytest.mark.asyncio
async def test_an_erase_keeps_the_generation_and_starts_no_incarnation(backend: Backend) -> None:
    await put(backend, (key(1), 0, b"x"), (key(2), 0, b"y"))
    await apply(backend, deletes=[(key(2), 1, b"t")])
    await put(backend, (key(1), 0, b"x"), store=OTHER)
    assert await backend.delete_store(STORE) is True
    assert await backend.delete_store(STORE) is False  # already erased
    info = await backend.store_info(STORE)
    assert info is not None
    assert (info.state.generation, info.state.incarnation, info.state.erased) == (2, None, True)
    assert (info.compacted, info.objects, info.bytes) == (2, 0, 0)
    assert await backend.get_object(STORE, key(1)) is None
    assert await backend.list_objects(STORE, "", 10) == []
    export = await backend.open_export(STORE)
    assert export is not None and export.generation == 2
    assert [obj async for obj in export.objects()] == []
    await export.close()
    with pytest.raises(ResyncRequired) as err:
        await backend.changes(STORE, 0, 100)
    assert err.value.compacted == 2 and err.value.state.erased
    page = await backend.changes(STORE, 2, 100)
    assert page is not None and page.items == () and page.next is None
    assert (await backend.get_object(OTHER, key(1))) is not None
    # A new incarnation carries on from the generation the erase left.
    applied = await apply(backend, [(key(1), 0, b"z")], generation=2, incarnation="3" * 32)
    assert applied.versions == {key(1): 3}
    info = await backend.store_info(STORE)
    assert info is not None and (info.state.incarnation, info.state.erased) == ("3" * 32, False)
    assert (await backend.stats()).stores == 2


@pytest.mark.asyncio
async def test_the_feed_holds_objects_and_tombstones_in_version_and_key_order(
    backend: Backend,
) -> None:
    await apply(backend, [(key(1), 0, b"a"), (key(2), 0, b"b")], write_id="a" * 32)
    await apply(backend, [(key(1), 1, b"a2")], [(key(2), 1, b"tomb")], write_id="b" * 32)
    await apply(backend, [(key(3), 0, b"c")], write_id="c" * 32)
    page = await backend.changes(STORE, 0, 1000)
    assert page is not None and page.next is None
    assert (page.state.generation, page.state.incarnation, page.compacted) == (3, INC, 0)
    expected_first = sorted([key(1), key(2)])
    assert [(i.key, i.version, i.deleted, i.write_id, i.value) for i in page.items] == [
        *[(k, 2, k == key(2), "b" * 32, b"tomb" if k == key(2) else b"a2") for k in expected_first],
        (key(3), 3, False, "c" * 32, b"c"),
    ]
    later = await backend.changes(STORE, 2, 1000)
    assert later is not None and [i.key for i in later.items] == [key(3)]
    assert await backend.changes(OTHER, 0, 10) is None  # never existed
    # Beyond the generation (a client that was rolled back): empty, and the generation says so.
    ahead = await backend.changes(STORE, 7, 1000)
    assert ahead is not None and ahead.items == () and ahead.next is None
    assert ahead.state.generation == 3


@pytest.mark.asyncio
async def test_feed_pages_never_split_a_generation(backend: Backend) -> None:
    sizes = [3, 1, 5, 2, 4, 1, 1]
    for g, size in enumerate(sizes):
        await put(backend, *((key(f"g{g}k{i}"), 0, b"v") for i in range(size)))
    for limit in (1, 2, 3, 4, 6, 1000):
        pages = await feed(backend, limit=limit)
        flat = [i for page in pages for i in page]
        assert [i.version for i in flat] == [g + 1 for g, n in enumerate(sizes) for _ in range(n)]
        for page in pages:
            versions = [i.version for i in page]
            assert versions == sorted(versions)
            assert len(page) <= limit or len(set(versions)) == 1  # one oversized generation
        generations = [{i.version for i in page} for page in pages]
        for a, b in itertools.pairwise(generations):
            assert not a & b


@pytest.mark.asyncio
async def test_the_feed_is_stable_under_concurrent_writes(backend: Backend) -> None:
    for g in range(10):
        await put(backend, *((key(f"s{g}-{i}"), 0, b"s") for i in range(3)))
    stop = asyncio.Event()

    async def churn() -> None:
        i = 0
        while not stop.is_set():
            await put_retrying(backend, *((key(f"n{i}-{j}"), 0, b"n") for j in range(1 + i % 4)))
            i += 1
            await asyncio.sleep(0)

    writer = asyncio.create_task(churn())
    try:
        walks = [await feed(backend, limit=4) for _ in range(3)]
    finally:
        stop.set()
        await writer
    final = {(i.key, i.version) for page in await feed(backend) for i in page}
    for pages in walks:
        flat = [i for page in pages for i in page]
        versions = [i.version for i in flat]
        assert versions == sorted(versions) and len({(i.key) for i in flat}) == len(flat)
        # Every generation a walk saw, it saw whole.
        for version in set(versions):
            whole = {k for k, v in final if v == version}
            assert {i.key for i in flat if i.version == version} == whole
        assert {(i.key, i.version) for i in flat} >= {(k, v) for k, v in final if v <= 10}


@pytest.mark.asyncio
async def test_compaction_drops_old_tombstones_and_requires_a_resync_from_before(
    backend: Backend,
) -> None:
    await put(backend, (key(1), 0, b"a"), (key(2), 0, b"b"))
    await apply(backend, deletes=[(key(1), 1, b"tomb")])
    await put(backend, (key(3), 0, b"c"))
    assert await backend.compact(int(time.time()) - 3600) == 0  # nothing that old
    assert await backend.compact(int(time.time()) + 10) == 1
    info = await backend.store_info(STORE)
    assert info is not None and info.compacted == 2 and info.bytes == 2
    with pytest.raises(ResyncRequired) as err:
        await backend.changes(STORE, 1, 100)
    assert err.value.compacted == 2 and err.value.state.generation == 3
    page = await backend.changes(STORE, 2, 100)
    assert page is not None and [i.key for i in page.items] == [key(3)]
    # The key whose tombstone went is absent (PROTOCOL.md section 4): at version 0, with no
    # write id, and the tombstone's version no longer matches it.
    with pytest.raises(Conflict) as conflict:
        await apply(backend, [(key(1), 2, b"again")])
    assert conflict.value.info.current == {key(1): 0} and conflict.value.info.write_ids == {}
    # Version 0 creates it, at a new version.
    assert (await apply(backend, [(key(1), 0, b"again")])).versions == {key(1): 4}


@pytest.mark.asyncio
async def test_store_info_counts_objects_and_bytes(backend: Backend) -> None:
    assert await backend.store_info(STORE) is None
    await put(backend, (key(1), 0, b"12345"), (key(2), 0, b"123"))
    await apply(backend, [(key(1), 1, b"1")])
    info = await backend.store_info(STORE)
    assert info is not None and (info.state.generation, info.objects, info.bytes) == (2, 2, 4)
    stats = await backend.stats()
    assert (stats.stores, stats.objects, stats.bytes) == (1, 2, 4)


@pytest.mark.asyncio
async def test_quota_refuses_growth_past_it_and_allows_shrinking(backend: Backend) -> None:
    await apply(backend, [(key(1), 0, b"x" * 60)], quota=100)
    with pytest.raises(QuotaExceeded):
        await apply(backend, [(key(2), 0, b"x" * 60)], quota=100)
    assert await backend.get_object(STORE, key(2)) is None
    await apply(backend, [(key(1), 1, b"x" * 90)], quota=100)  # only the difference counts
    await apply(backend, [(key(1), 2, b"x" * 80)], quota=10)  # over a lowered quota: shrinking
    info = await backend.store_info(STORE)
    assert info is not None and info.bytes == 80


@pytest.mark.asyncio
async def test_a_conflict_wins_over_the_quota(backend: Backend) -> None:
    await put(backend, (key(1), 0, b"x"))
    with pytest.raises(Conflict):
        await apply(backend, [(key(2), 0, b"x" * 200)], generation=0, quota=100)


@pytest.mark.asyncio
async def test_generation_grows_by_one_per_batch_and_never_decreases(backend: Backend) -> None:
    seen = [0]
    for i in range(5):
        seen.append(await put(backend, (key(i), 0, b"v")))
        with pytest.raises(Conflict):
            await put(backend, (key(i), 0, b"again"))
        assert await generation_of(backend) == seen[-1]
    assert seen == [0, 1, 2, 3, 4, 5]
    # Concurrent writers that retry on a conflict each get their own generation.
    results = await asyncio.gather(
        *(put_retrying(backend, (key(f"c{i}"), 0, b"v")) for i in range(20))
    )
    assert sorted(results) == list(range(6, 26))


@pytest.mark.asyncio
async def test_concurrent_batches_at_one_generation_let_exactly_one_win(backend: Backend) -> None:
    await put(backend, (key(1), 0, b"0"))
    outcomes = await asyncio.gather(
        *(apply(backend, [(key(f"x{i}"), 0, b"v")], generation=1) for i in range(10)),
        return_exceptions=True,
    )
    assert sum(not isinstance(o, BaseException) for o in outcomes) == 1
    assert all(isinstance(o, Conflict) for o in outcomes if isinstance(o, BaseException))


@pytest.mark.asyncio
async def test_pagination_is_stable_under_concurrent_writes(backend: Backend) -> None:
    stable = [key(f"s{i}") for i in range(120)]
    for start in range(0, len(stable), 40):
        await put(backend, *((k, 0, b"s") for k in stable[start : start + 40]))
    stop = asyncio.Event()

    async def churn() -> None:
        i = 0
        while not stop.is_set():
            # New keys land before, between and after the stable ones, and are deleted again.
            await put_retrying(backend, (key(f"n{i}"), 0, b"n"))
            if i % 2:
                gone = await backend.get_object(STORE, key(f"n{i - 1}"))
                assert gone is not None
                while True:
                    try:
                        await apply(backend, deletes=[(key(f"n{i - 1}"), gone.version, b"t")])
                        break
                    except Conflict:
                        await asyncio.sleep(0)
            i += 1
            await asyncio.sleep(0)

    writer = asyncio.create_task(churn())
    try:
        walks = [await listing(backend, page=7) for _ in range(3)]
    finally:
        stop.set()
        await writer
    for walk in walks:
        assert walk == sorted(walk) and len(walk) == len(set(walk))
        assert set(stable) <= set(walk)


@pytest.mark.asyncio
async def test_export_equals_listing_and_is_a_snapshot(backend: Backend) -> None:
    for start in range(0, 50, 10):
        await put(backend, *((key(i), 0, bytes([i]) * (i + 1)) for i in range(start, start + 10)))
    await apply(backend, deletes=[(key(0), 1, b"t")])
    export = await backend.open_export(STORE)
    assert export is not None
    # Written after the export began: not part of it.
    await put(backend, (key("late"), 0, b"late"))
    exported = [obj async for obj in export.objects()]
    await export.close()
    assert export.generation == 6 and export.incarnation == INC
    listed = await listing(backend, page=9)
    assert [o.key for o in exported] == [k for k in listed if k != key("late")]
    assert key(0) not in {o.key for o in exported}
    for obj in exported:
        stored = await backend.get_object(STORE, obj.key)
        assert stored == obj and obj.write_id is not None


@pytest.mark.asyncio
async def test_export_pages_are_bounded_and_cover_the_store_in_key_order(backend: Backend) -> None:
    big = EXPORT_PAGE_BYTES // 2 + 1  # two of these never share a page
    for i in range(3):
        await put(backend, (key(f"big{i}"), 0, bytes([i]) * big))
    for start in range(0, 600, 200):
        await put(backend, *((key(i), 0, b"v%d" % i) for i in range(start, start + 200)))
    export = await backend.open_export(STORE)
    assert export is not None
    pages = [page async for page in export.pages()]
    await export.close()
    for page in pages:
        assert 0 < len(page) <= EXPORT_PAGE_ROWS
        assert len(page) == 1 or sum(len(o.value) for o in page) <= EXPORT_PAGE_BYTES
    keys = [o.key for page in pages for o in page]
    assert keys == sorted(keys) and len(keys) == 603
    assert set(keys) == {key(f"big{i}") for i in range(3)} | {key(i) for i in range(600)}
    # Closed after its first page, with the next one being read meanwhile.
    export = await backend.open_export(STORE)
    assert export is not None
    async for _page in export.pages():
        break
    await export.close()


@pytest.mark.asyncio
async def test_a_nonce_is_accepted_once(backend: Backend) -> None:
    nonce = secrets.token_hex(16)
    await backend.claim(claim(nonce))
    with pytest.raises(Replayed):
        await backend.claim(claim(nonce))
    with pytest.raises(Replayed):
        await apply(backend, [(key(1), 0, b"x")], claim=claim(nonce))
    assert await backend.store_info(STORE) is None


@pytest.mark.asyncio
async def test_a_refused_batch_still_uses_up_its_nonce(backend: Backend) -> None:
    await put(backend, (key(1), 0, b"x"))
    nonce = secrets.token_hex(16)
    with pytest.raises(Conflict):
        await apply(backend, [(key(1), 0, b"y")], claim=claim(nonce))
    with pytest.raises(Replayed):
        await backend.claim(claim(nonce))
    nonce = secrets.token_hex(16)
    with pytest.raises(QuotaExceeded):
        await apply(backend, [(key(2), 0, b"y" * 10)], claim=claim(nonce), quota=5)
    with pytest.raises(Replayed):
        await backend.claim(claim(nonce))


@pytest.mark.asyncio
async def test_expired_nonces_are_purged(backend: Backend) -> None:
    nonce = secrets.token_hex(16)
    await backend.claim(claim(nonce, expires_in=-10))
    await backend.purge_expired(int(time.time()))
    await backend.claim(claim(nonce))


@pytest.mark.asyncio
async def test_rate_limit_counts_requests_per_node_and_window(backend: Backend) -> None:
    for _ in range(3):
        await backend.claim(claim(rate_limit=3))
    with pytest.raises(RateLimited) as err:
        await backend.claim(claim(rate_limit=3))
    assert 1 <= err.value.retry_after <= 3600
    with pytest.raises(RateLimited):
        await apply(backend, [(key(1), 0, b"x")], claim=claim(rate_limit=3))
    assert await backend.store_info(STORE) is None


@pytest.mark.asyncio
async def test_the_rate_limit_is_checked_before_the_nonce(backend: Backend) -> None:
    """Both backends alike: a replay counts as a hit; a request over the limit keeps its nonce."""
    seen = secrets.token_hex(16)
    await backend.claim(claim(seen, rate_limit=2))
    with pytest.raises(Replayed):
        await backend.claim(claim(seen, rate_limit=2))  # the second hit of the window
    fresh = secrets.token_hex(16)
    with pytest.raises(RateLimited):
        await backend.claim(claim(seen, rate_limit=2))  # over the limit: not even a replay
    with pytest.raises(RateLimited):
        await backend.claim(claim(fresh, rate_limit=2))
    await backend.claim(claim(fresh))  # its nonce was not used up


@pytest.mark.asyncio
async def test_export_pages_through_many_rows_and_large_values(backend: Backend) -> None:
    big = {key(f"big{i}"): bytes([i]) * (600 * 1024) for i in range(10)}  # > one page of bytes
    small = {key(f"small{i}"): str(i).encode() for i in range(300)}  # > one page of rows
    for name, value in big.items():
        await put(backend, (name, 0, value))
    await put(backend, *((k, 0, v) for k, v in small.items()))
    export = await backend.open_export(STORE)
    assert export is not None
    exported = {obj.key: obj.value async for obj in export.objects()}
    await export.close()
    assert exported == {**big, **small}
    assert list(exported) == sorted(exported)


@pytest.mark.asyncio
async def test_concurrent_first_writes_create_the_store_once(backend: Backend) -> None:
    fresh = StoreRef(NODE, "testnet")
    outcomes = await asyncio.gather(
        *(apply(backend, [(key(f"f{i}"), 0, b"v")], store=fresh, generation=0) for i in range(12)),
        return_exceptions=True,
    )
    assert sum(not isinstance(o, BaseException) for o in outcomes) == 1
    assert all(isinstance(o, Conflict) for o in outcomes if isinstance(o, BaseException))
    info = await backend.store_info(fresh)
    assert info is not None and (info.state.generation, info.objects) == (1, 1)


@pytest.mark.asyncio
async def test_concurrent_batches_keep_their_own_outcomes(backend: Backend) -> None:
    await put(backend, (key("taken"), 0, b"x"))
    nonce = secrets.token_hex(16)
    outcomes = await asyncio.gather(
        apply(backend, [(key("r1"), 0, b"1")], generation=1, claim=claim(nonce)),
        apply(backend, [(key("r2"), 0, b"2")], generation=1, claim=claim(nonce)),
        apply(backend, [(key("q"), 0, b"q" * 200)], store=OTHER, generation=0, quota=100),
        return_exceptions=True,
    )
    replay_pair = outcomes[:2]
    assert sum(isinstance(o, Replayed) for o in replay_pair) == 1
    assert sum(not isinstance(o, BaseException) for o in replay_pair) == 1
    assert isinstance(outcomes[2], QuotaExceeded)
    written = {k for k in (key("r1"), key("r2")) if await backend.get_object(STORE, k)}
    assert len(written) == 1
    assert await backend.get_object(OTHER, key("q")) is None
    assert await backend.store_info(OTHER) is None


@pytest.mark.asyncio
async def test_batches_that_arrive_together_each_get_their_own_outcome(backend: Backend) -> None:
    """Applied, conflicting, replayed and over-quota batches of many stores at once: each
    caller hears its own answer, and only the applied ones are stored (PostgreSQL commits
    batches that come together in one statement)."""
    stores = [StoreRef(NODE, f"s{i}") for i in range(24)]
    for store in stores:
        await put(backend, (key("seed"), 0, b"v"), store=store)
    seen = secrets.token_hex(16)
    await backend.claim(claim(seen))
    kinds = [Conflict, QuotaExceeded, Replayed, BatchApplied]
    calls = []
    for i, store in enumerate(stores):
        kind = kinds[i % 4]
        if kind is Conflict:  # a generation the store is not at
            calls.append(apply(backend, [(key("new"), 0, b"v")], store=store, generation=9))
        elif kind is QuotaExceeded:
            calls.append(apply(backend, [(key("new"), 0, b"x" * 200)], store=store, quota=100))
        elif kind is Replayed:
            calls.append(apply(backend, [(key("new"), 0, b"v")], store=store, claim=claim(seen)))
        else:
            calls.append(apply(backend, [(key("new"), 0, b"v")], store=store, claim=claim()))
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert [type(o) for o in outcomes] == [kinds[i % 4] for i in range(len(stores))]
    for i, store in enumerate(stores):
        applied = kinds[i % 4] is BatchApplied
        assert set(await listing(backend, store)) == {key("seed"), *([key("new")] * applied)}
        assert await generation_of(backend, store) == 1 + applied
