"""One conformance suite for both storage backends: SQLite files and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from cairn.backup.protocol import DeleteItem, PutItem
from cairn.server.backend import (
    Backend,
    Claim,
    Conflict,
    QuotaExceeded,
    RateLimited,
    Replayed,
    StoreRef,
)
from cairn.server.postgres_backend import PostgresBackend
from cairn.server.sqlite_backend import SqliteBackend

QUOTA = 1 << 30
NODE = "02" + "11" * 32
STORE = StoreRef(NODE, "regtest")
OTHER = StoreRef(NODE, "signet")


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


async def put(backend: Backend, *items: tuple[str, int, bytes], store: StoreRef = STORE) -> int:
    applied = await backend.apply_batch(
        store, [PutItem(k, v, val) for k, v, val in items], [], quota=QUOTA
    )
    return applied.generation


async def listing(backend: Backend, store: StoreRef = STORE, page: int = 1000) -> list[str]:
    keys: list[str] = []
    after = ""
    while True:
        rows = await backend.list_objects(store, after, page)
        keys += [r.key for r in rows]
        if len(rows) < page:
            return keys
        after = rows[-1].key


@pytest.mark.asyncio
async def test_version_zero_creates_only(backend: Backend) -> None:
    applied = await backend.apply_batch(STORE, [PutItem(key(1), 0, b"one")], [], quota=QUOTA)
    assert applied.versions == {key(1): 1}
    with pytest.raises(Conflict) as err:
        await backend.apply_batch(STORE, [PutItem(key(1), 0, b"again")], [], quota=QUOTA)
    assert err.value.current == {key(1): 1}
    stored = await backend.get_object(STORE, key(1))
    assert stored is not None
    assert (stored.version, stored.value) == (1, b"one")


@pytest.mark.asyncio
async def test_compare_and_swap_succeeds_on_the_seen_version_only(backend: Backend) -> None:
    await put(backend, (key(1), 0, b"v1"))
    applied = await backend.apply_batch(STORE, [PutItem(key(1), 1, b"v2")], [], quota=QUOTA)
    assert applied.versions == {key(1): 2}
    for stale in (1, 3):
        with pytest.raises(Conflict) as err:
            await backend.apply_batch(STORE, [PutItem(key(1), stale, b"x")], [], quota=QUOTA)
        assert err.value.current == {key(1): 2}
    with pytest.raises(Conflict) as err:
        await backend.apply_batch(STORE, [PutItem(key(2), 5, b"x")], [], quota=QUOTA)
    assert err.value.current == {key(2): 0}
    stored = await backend.get_object(STORE, key(1))
    assert stored is not None and stored.value == b"v2"


@pytest.mark.asyncio
async def test_a_batch_with_one_conflict_applies_nothing(backend: Backend) -> None:
    await put(backend, (key("a"), 0, b"a1"), (key("b"), 0, b"b1"))
    before = await backend.store_info(STORE)
    with pytest.raises(Conflict) as err:
        await backend.apply_batch(
            STORE,
            [PutItem(key("a"), 1, b"a2"), PutItem(key("c"), 0, b"c1"), PutItem(key("b"), 0, b"b!")],
            [DeleteItem(key("d"), 0)],
            quota=QUOTA,
        )
    assert err.value.current == {key("a"): 1, key("c"): 0, key("b"): 1, key("d"): 0}
    assert await backend.store_info(STORE) == before
    a = await backend.get_object(STORE, key("a"))
    assert a is not None and (a.version, a.value) == (1, b"a1")
    assert await backend.get_object(STORE, key("c")) is None


@pytest.mark.asyncio
async def test_a_conflict_on_a_new_store_does_not_create_it(backend: Backend) -> None:
    with pytest.raises(Conflict):
        await backend.apply_batch(STORE, [PutItem(key(1), 4, b"x")], [], quota=QUOTA)
    assert await backend.store_info(STORE) is None


@pytest.mark.asyncio
async def test_delete_semantics(backend: Backend) -> None:
    await put(backend, (key(1), 0, b"one"), (key(2), 0, b"two!"))
    with pytest.raises(Conflict):
        await backend.apply_batch(STORE, [], [DeleteItem(key(1), 0)], quota=QUOTA)
    applied = await backend.apply_batch(
        STORE, [], [DeleteItem(key(1), 1), DeleteItem(key(3), 0)], quota=QUOTA
    )
    assert applied.versions == {key(1): 0, key(3): 0}
    assert await backend.get_object(STORE, key(1)) is None
    info = await backend.store_info(STORE)
    assert info is not None and (info.objects, info.bytes, info.generation) == (1, 4, 2)
    # A deleted key is created again from version 0.
    recreated = await backend.apply_batch(STORE, [PutItem(key(1), 0, b"new")], [], quota=QUOTA)
    assert recreated.versions == {key(1): 1}


@pytest.mark.asyncio
async def test_deleting_a_store_erases_it_and_only_it(backend: Backend) -> None:
    await put(backend, (key(1), 0, b"x"))
    await put(backend, (key(1), 0, b"y"), store=OTHER)
    assert await backend.delete_store(STORE) is True
    assert await backend.delete_store(STORE) is False
    assert await backend.store_info(STORE) is None
    assert await backend.get_object(STORE, key(1)) is None
    assert await backend.list_objects(STORE, "", 10) == []
    assert await backend.open_export(STORE) is None
    assert (await backend.get_object(OTHER, key(1))) is not None
    # Written again, it starts over from generation 0 and version 0.
    assert await put(backend, (key(1), 0, b"z")) == 1


@pytest.mark.asyncio
async def test_store_info_counts_objects_and_bytes(backend: Backend) -> None:
    assert await backend.store_info(STORE) is None
    await put(backend, (key(1), 0, b"12345"), (key(2), 0, b"123"))
    await put(backend, (key(1), 1, b"1"))
    info = await backend.store_info(STORE)
    assert info is not None and (info.generation, info.objects, info.bytes) == (2, 2, 4)
    stats = await backend.stats()
    assert (stats.stores, stats.objects, stats.bytes) == (1, 2, 4)


@pytest.mark.asyncio
async def test_quota_refuses_growth_past_it_and_allows_shrinking(backend: Backend) -> None:
    quota = 100
    await backend.apply_batch(STORE, [PutItem(key(1), 0, b"x" * 60)], [], quota=quota)
    with pytest.raises(QuotaExceeded):
        await backend.apply_batch(STORE, [PutItem(key(2), 0, b"x" * 60)], [], quota=quota)
    assert await backend.get_object(STORE, key(2)) is None
    # Replacing a value counts only the difference.
    await backend.apply_batch(STORE, [PutItem(key(1), 1, b"x" * 90)], [], quota=quota)
    # Over a lowered quota, a store may still shrink.
    await backend.apply_batch(STORE, [PutItem(key(1), 2, b"x" * 80)], [], quota=10)
    info = await backend.store_info(STORE)
    assert info is not None and info.bytes == 80


@pytest.mark.asyncio
async def test_generation_grows_by_one_per_batch_and_never_decreases(backend: Backend) -> None:
    seen = [0]
    for i in range(5):
        seen.append(await put(backend, (key(i), 0, b"v")))
        with pytest.raises(Conflict):
            await put(backend, (key(i), 0, b"again"))
        info = await backend.store_info(STORE)
        assert info is not None and info.generation == seen[-1]
    assert seen == [0, 1, 2, 3, 4, 5]
    # Concurrent batches each get their own generation.
    results = await asyncio.gather(*(put(backend, (key(f"c{i}"), 0, b"v")) for i in range(20)))
    assert sorted(results) == list(range(6, 26))


@pytest.mark.asyncio
async def test_concurrent_compare_and_swap_lets_exactly_one_writer_win(backend: Backend) -> None:
    await put(backend, (key(1), 0, b"0"))
    outcomes = await asyncio.gather(
        *(
            backend.apply_batch(STORE, [PutItem(key(1), 1, str(i).encode())], [], quota=QUOTA)
            for i in range(10)
        ),
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
            # New keys land before, between and after the stable ones; stable ones get rewritten.
            await put(backend, (key(f"n{i}"), 0, b"n"))
            if i % 2:
                await backend.apply_batch(STORE, [], [DeleteItem(key(f"n{i - 1}"), 1)], quota=QUOTA)
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
    export = await backend.open_export(STORE)
    assert export is not None
    # Written after the export began: not part of it.
    await put(backend, (key("late"), 0, b"late"))
    exported = [obj async for obj in export.objects()]
    await export.close()
    assert export.generation == 5
    listed = await listing(backend, page=9)
    assert [o.key for o in exported] == [k for k in listed if k != key("late")]
    for obj in exported:
        stored = await backend.get_object(STORE, obj.key)
        assert stored == obj


@pytest.mark.asyncio
async def test_a_nonce_is_accepted_once(backend: Backend) -> None:
    nonce = secrets.token_hex(16)
    await backend.claim(claim(nonce))
    with pytest.raises(Replayed):
        await backend.claim(claim(nonce))
    with pytest.raises(Replayed):
        await backend.apply_batch(
            STORE, [PutItem(key(1), 0, b"x")], [], quota=QUOTA, claim=claim(nonce)
        )
    assert await backend.store_info(STORE) is None


@pytest.mark.asyncio
async def test_a_refused_batch_still_uses_up_its_nonce(backend: Backend) -> None:
    await put(backend, (key(1), 0, b"x"))
    nonce = secrets.token_hex(16)
    with pytest.raises(Conflict):
        await backend.apply_batch(
            STORE, [PutItem(key(1), 0, b"y")], [], quota=QUOTA, claim=claim(nonce)
        )
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
        await backend.apply_batch(
            STORE, [PutItem(key(1), 0, b"x")], [], quota=QUOTA, claim=claim(rate_limit=3)
        )
    assert await backend.store_info(STORE) is None


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
    results = await asyncio.gather(
        *(put(backend, (key(f"f{i}"), 0, b"v"), store=fresh) for i in range(12))
    )
    assert sorted(results) == list(range(1, 13))
    info = await backend.store_info(fresh)
    assert info is not None and (info.generation, info.objects) == (12, 12)


@pytest.mark.asyncio
async def test_concurrent_batches_keep_their_own_outcomes(backend: Backend) -> None:
    """Whatever the backend groups into one commit, each batch is answered as if alone."""
    await put(backend, (key("taken"), 0, b"x"))
    nonce = secrets.token_hex(16)
    outcomes = await asyncio.gather(
        backend.apply_batch(
            STORE, [PutItem(key("r1"), 0, b"1")], [], quota=QUOTA, claim=claim(nonce)
        ),
        backend.apply_batch(
            STORE, [PutItem(key("r2"), 0, b"2")], [], quota=QUOTA, claim=claim(nonce)
        ),
        backend.apply_batch(STORE, [PutItem(key("taken"), 0, b"y")], [], quota=QUOTA),
        backend.apply_batch(STORE, [PutItem(key("big"), 0, b"z" * 300_000)], [], quota=QUOTA),
        backend.apply_batch(OTHER, [PutItem(key("q"), 0, b"q" * 200)], [], quota=100),
        backend.apply_batch(OTHER, [PutItem(key("ok"), 0, b"fine")], [], quota=QUOTA),
        return_exceptions=True,
    )
    replay_pair = outcomes[:2]
    assert sum(isinstance(o, Replayed) for o in replay_pair) == 1
    assert sum(not isinstance(o, BaseException) for o in replay_pair) == 1
    assert isinstance(outcomes[2], Conflict)
    assert not isinstance(outcomes[3], BaseException)
    assert isinstance(outcomes[4], QuotaExceeded)
    assert not isinstance(outcomes[5], BaseException)
    written = {k for k in (key("r1"), key("r2")) if await backend.get_object(STORE, k)}
    assert len(written) == 1
    assert await backend.get_object(OTHER, key("q")) is None
    assert await backend.get_object(OTHER, key("ok")) is not None
