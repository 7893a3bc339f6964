"""PostgreSQL lanes: statements queued for tasks that hold a pooled connection, on a real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from cairn.server.pg_lanes import Lanes

pytestmark = [pytest.mark.postgres, pytest.mark.asyncio]


@pytest_asyncio.fixture
async def pool(postgres_db: str) -> AsyncIterator[asyncpg.Pool]:
    created = await asyncpg.create_pool(postgres_db, min_size=3, max_size=3)
    try:
        yield created
    finally:
        await created.close()


async def until_all_idle(pool: asyncpg.Pool) -> None:
    """asyncpg releases a connection in a task of its own: wait for those to finish."""
    async with asyncio.timeout(10):
        while pool.get_idle_size() != pool.get_size():
            await asyncio.sleep(0.01)


async def test_many_callers_on_few_lanes_each_get_their_own_row(pool: asyncpg.Pool) -> None:
    lanes = Lanes(pool, 2)
    try:
        rows = await asyncio.gather(
            *(lanes.fetchrow("SELECT $1::int * 2, pg_backend_pid()", i) for i in range(50))
        )
    finally:
        await lanes.close()
    assert [row[0] for row in rows] == [i * 2 for i in range(50)]
    assert len({row[1] for row in rows}) <= 2  # two lanes: at most two connections ran them
    await until_all_idle(pool)  # every connection goes back to the pool


async def test_an_error_reaches_only_its_caller_and_the_lane_goes_on(pool: asyncpg.Pool) -> None:
    lanes = Lanes(pool, 1)
    try:
        outcomes = await asyncio.gather(
            lanes.fetchrow("SELECT 1"),
            lanes.fetchrow("SELECT 1 / 0"),
            lanes.fetchrow("SELECT 3"),
            return_exceptions=True,
        )
        assert outcomes[0][0] == 1  # type: ignore[index]
        assert isinstance(outcomes[1], asyncpg.DivisionByZeroError)
        assert outcomes[2][0] == 3  # type: ignore[index]
        assert (await lanes.fetchrow("SELECT 4"))[0] == 4
    finally:
        await lanes.close()


async def test_a_closed_lane_set_refuses_and_fails_what_was_in_flight(pool: asyncpg.Pool) -> None:
    lanes = Lanes(pool, 1)
    slow = asyncio.ensure_future(lanes.fetchrow("SELECT pg_sleep(30)"))
    queued = asyncio.ensure_future(lanes.fetchrow("SELECT 1"))
    async with asyncio.timeout(10):
        while pool.get_idle_size() == pool.get_size():  # until the lane runs the slow one
            await asyncio.sleep(0.01)
    await lanes.close()
    for caller in (slow, queued):
        with pytest.raises(RuntimeError, match="closed"):
            await caller
    with pytest.raises(RuntimeError, match="closed"):
        await lanes.fetchrow("SELECT 1")


def doubled_together(
    groups: list[int],
) -> Callable[[list[tuple[Any, ...]]], tuple[str, tuple[Any, ...]]]:
    """A `combine` for "SELECT $1::int * 2" that records the size of every group it makes."""

    def combine(jobs: list[tuple[Any, ...]]) -> tuple[str, tuple[Any, ...]]:
        groups.append(len(jobs))
        return (
            "SELECT x * 2, pg_backend_pid() FROM unnest($1::int[]) WITH ORDINALITY AS u(x, i) "
            "ORDER BY i",
            ([args[0] for args in jobs],),
        )

    return combine


async def busy_lane(lanes: Lanes, pool: asyncpg.Pool) -> asyncio.Future[Any]:
    """Keep the only lane on a slow statement, so that what callers queue meanwhile waits."""
    slow = asyncio.ensure_future(lanes.fetchrow("SELECT pg_sleep(1)", alone=True))
    async with asyncio.timeout(10):
        while pool.get_idle_size() == pool.get_size():
            await asyncio.sleep(0.01)
    return slow


async def test_statements_queued_together_run_as_one_and_each_caller_gets_its_row(
    pool: asyncpg.Pool,
) -> None:
    groups: list[int] = []
    lanes = Lanes(pool, 1, group=8, combine=doubled_together(groups))
    try:
        slow = await busy_lane(lanes, pool)
        rows = await asyncio.gather(*(lanes.fetchrow("SELECT $1::int * 2", i) for i in range(20)))
        await slow
    finally:
        await lanes.close()
    assert [row[0] for row in rows] == [i * 2 for i in range(20)]
    # Twenty queued behind the slow one: groups of at most eight, the last four together.
    assert groups == [8, 8, 4]
    await until_all_idle(pool)


async def test_a_statement_sent_alone_never_joins_a_group(pool: asyncpg.Pool) -> None:
    groups: list[int] = []
    lanes = Lanes(pool, 1, group=8, combine=doubled_together(groups))
    try:
        slow = await busy_lane(lanes, pool)
        rows = await asyncio.gather(
            *(lanes.fetchrow("SELECT $1::int * 2", i, alone=i % 2 == 0) for i in range(6))
        )
        await slow
    finally:
        await lanes.close()
    assert [row[0] for row in rows] == [i * 2 for i in range(6)]
    assert sum(groups) <= 3  # only the three that may be grouped were ever combined


async def test_a_failing_group_is_rolled_back_and_only_the_caller_at_fault_fails(
    pool: asyncpg.Pool,
) -> None:
    await pool.execute("CREATE TABLE lane_rows (k int PRIMARY KEY)")
    await pool.execute("INSERT INTO lane_rows VALUES (3)")

    groups: list[int] = []

    def inserted_together(jobs: list[tuple[Any, ...]]) -> tuple[str, tuple[Any, ...]]:
        groups.append(len(jobs))
        return (
            "INSERT INTO lane_rows SELECT k FROM unnest($1::int[]) WITH ORDINALITY AS u(k, i) "
            "ORDER BY i RETURNING k",
            ([args[0] for args in jobs],),
        )

    lanes = Lanes(pool, 1, group=8, combine=inserted_together)
    try:
        slow = await busy_lane(lanes, pool)
        outcomes = await asyncio.gather(
            *(lanes.fetchrow("INSERT INTO lane_rows VALUES ($1) RETURNING k", k) for k in range(6)),
            return_exceptions=True,
        )
        await slow
        assert groups == [6]  # tried as one statement first
        assert isinstance(outcomes[3], asyncpg.UniqueViolationError)
        assert [o[0] for i, o in enumerate(outcomes) if i != 3] == [0, 1, 2, 4, 5]  # type: ignore[index]
        # The group's own insert was rolled back: every row is there once, none twice.
        stored = [r[0] for r in await pool.fetch("SELECT k FROM lane_rows ORDER BY k")]
        assert stored == [0, 1, 2, 3, 4, 5]
        assert (await lanes.fetchrow("SELECT 7"))[0] == 7  # the lane goes on
    finally:
        await lanes.close()


async def test_a_group_holds_one_statement_per_key_in_key_order(pool: asyncpg.Pool) -> None:
    sent: list[list[int]] = []

    def doubled(jobs: list[tuple[Any, ...]]) -> tuple[str, tuple[Any, ...]]:
        sent.append([args[0] for args in jobs])
        return doubled_together([])(jobs)

    # The key: a number's tens. 12 and 15 share one, so they never go in one group.
    lanes = Lanes(pool, 1, group=8, combine=doubled, key=lambda args: -(args[0] // 10))
    try:
        slow = await busy_lane(lanes, pool)
        numbers = [5, 12, 33, 15, 41]
        rows = await asyncio.gather(*(lanes.fetchrow("SELECT $1::int * 2", n) for n in numbers))
        await slow
    finally:
        await lanes.close()
    assert [row[0] for row in rows] == [n * 2 for n in numbers]  # each answer to its own caller
    assert sent[0] == [33, 12, 5]  # in key order; 15 has 12's key: it waits for the next turn
    assert sorted(n for group in sent for n in group) == sorted(numbers)
    assert all(len({n // 10 for n in group}) == len(group) for group in sent)
