"""PostgreSQL group commit: a group caught in a lock cycle is retried batch by batch.

Ordinary traffic cannot close a cycle (locks follow (node, store) order). Here another session
holds a nonce the group needs and then asks for a store row the group holds, so PostgreSQL must
abort one side; the group waits first, so it is the one aborted.
"""

from __future__ import annotations

import asyncio
import secrets
import time

import asyncpg
import pytest

from cairn.backup.protocol import PutItem
from cairn.server.backend import Claim, StoreRef
from cairn.server.pg_group import PendingBatch
from cairn.server.postgres_backend import PostgresBackend

NODE = "02" + "33" * 32


def pending(store_id: str, key: str, nonce: str) -> PendingBatch:
    now = int(time.time())
    claim = Claim(NODE, nonce, now + 300, now - now % 3600, 3600, 0)
    future = asyncio.get_running_loop().create_future()
    return PendingBatch(
        StoreRef(NODE, store_id), [PutItem(key, 0, b"v")], [], 1 << 30, claim, future
    )


@pytest.mark.postgres
@pytest.mark.asyncio
async def test_a_group_aborted_by_a_deadlock_is_applied_one_by_one(postgres_db: str) -> None:
    backend = PostgresBackend(postgres_db)
    await backend.open()
    other = await asyncpg.connect(postgres_db)
    try:
        await backend.apply_batch(
            StoreRef(NODE, "bitcoin"), [PutItem("0" * 64, 0, b"x")], [], quota=1 << 30
        )
        n1, n2 = secrets.token_hex(16), secrets.token_hex(16)
        group = [pending("bitcoin", "a" * 64, n1), pending("regtest", "b" * 64, n2)]
        async with asyncio.timeout(30):
            tx = other.transaction()
            await tx.start()
            await other.execute("INSERT INTO nonces VALUES ($1, $2, 0)", NODE, n2)
            sending = asyncio.create_task(backend.grouper._send(group))
            await asyncio.sleep(0.3)  # the group holds the bitcoin store row, waits for n2
            await other.execute(
                "SELECT 1 FROM stores WHERE node_id = $1 AND store_id = 'bitcoin' FOR UPDATE", NODE
            )
            await tx.rollback()  # n2 was never used after all
            await sending
            outcomes = [(await p.future)["outcome"] for p in group]
    finally:
        await other.close()
        await backend.close()
    assert outcomes == ["ok", "ok"]
