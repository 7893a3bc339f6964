"""PostgreSQL lanes: statements queued for tasks that hold a pooled connection, on a real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

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
