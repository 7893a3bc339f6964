"""A protocol v1 server database upgrades in place: nothing is renumbered, and writes go on."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from cairn.server import schema_postgres, sqlite_schema
from cairn.server.backend import Backend, Claim, Replayed, StoreRef
from cairn.server.postgres_backend import PostgresBackend
from cairn.server.sqlite_backend import SqliteBackend
from cairn.wire.envelope import unseal
from cairn.wire.messages import Batch, PutItem
from tests.support.postgres import PostgresCluster

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "backupd-v1"
NODE = "02" + "11" * 32
STORE, OTHER = StoreRef(NODE, "regtest"), StoreRef(NODE, "signet")
A, B, C = "a" * 64, "b" * 64, "c" * 64
DATA_KEY = bytes(range(32))
INC, WRITE = "5" * 32, "6" * 32


async def check_migrated(backend: Backend) -> None:
    info = await backend.store_info(STORE)
    assert info is not None
    assert (info.state.generation, info.state.incarnation, info.state.erased) == (4, None, False)
    assert (info.compacted, info.objects, info.bytes) == (0, 2, 37)
    a = await backend.get_object(STORE, A)
    assert a is not None and (a.version, a.write_id) == (3, None)
    # A v1 client's envelope still opens under its v1 binding.
    assert unseal(DATA_KEY, "regtest", A, 3, a.value) == b"a3"
    assert [(o.key, o.version) for o in await backend.list_objects(STORE, "", 10)] == [
        (A, 3),
        (B, 1),
    ]
    page = await backend.changes(STORE, 0, 100)
    assert page is not None and page.next is None
    assert [(i.key, i.version, i.deleted, i.write_id) for i in page.items] == [
        (B, 1, False, None),
        (A, 3, False, None),
    ]
    # The first v2 write: the store takes its incarnation, and every version is above all others.
    batch = Batch(INC, 4, WRITE, (PutItem(A, 3, b"new a"), PutItem(C, 0, b"c again")), ())
    applied = await backend.apply_batch(STORE, batch, quota=1 << 30)
    assert applied.generation == 5 and applied.versions == {A: 5, C: 5}
    info = await backend.store_info(STORE)
    assert info is not None and info.state.incarnation == INC
    b = await backend.get_object(STORE, B)
    assert b is not None and (b.version, b.value) == (1, b"b1")
    other = await backend.store_info(OTHER)
    assert other is not None and (other.state.generation, other.objects) == (1, 1)


@pytest.mark.asyncio
async def test_a_v1_sqlite_file_migrates_without_renumbering(tmp_path: Path) -> None:
    path = tmp_path / "backupd.sqlite"
    shutil.copyfile(FIXTURES / "backupd.sqlite", path)
    backend = SqliteBackend(path)
    await backend.open()
    try:
        await check_migrated(backend)
    finally:
        await backend.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [
            (sqlite_schema.SCHEMA_VERSION,)
        ]
    # Opening it again migrates nothing twice.
    backend = SqliteBackend(path)
    await backend.open()
    try:
        info = await backend.store_info(STORE)
        assert info is not None and info.state.generation == 5
    finally:
        await backend.close()


@pytest.mark.postgres
@pytest.mark.asyncio
async def test_a_v1_postgres_database_migrates_without_renumbering(
    postgres_cluster: PostgresCluster,
) -> None:
    dsn = postgres_cluster.create_database("backupd_v1_upgrade")
    dump = (FIXTURES / "postgres.sql").read_text(encoding="utf-8")
    subprocess.run(
        postgres_cluster._cmd(
            str(postgres_cluster.bin_dir / "psql"),
            "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
            "-p", str(postgres_cluster.port), "-U", "postgres", "-d", "backupd_v1_upgrade",
        ),
        input=dump, text=True, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    assert postgres_cluster.psql("SELECT version FROM cairn_schema", "backupd_v1_upgrade") == "1\n"
    backend = PostgresBackend(dsn, pool_size=2)
    await backend.open()
    try:
        await check_migrated(backend)
    finally:
        await backend.close()
    version = postgres_cluster.psql("SELECT version FROM cairn_schema", "backupd_v1_upgrade")
    assert version == f"{schema_postgres.SCHEMA_VERSION}\n"


@pytest.mark.asyncio
async def test_nonces_seen_before_the_v3_upgrade_stay_seen(tmp_path: Path) -> None:
    path = tmp_path / "backupd.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(sqlite_schema.VERSION_TABLE)
    for script in (sqlite_schema.SCHEMA_V1, sqlite_schema.MIGRATION_V2):
        conn.executescript(script)
    conn.execute("INSERT INTO schema_version (version) VALUES (2)")
    now = int(time.time())
    seen = Claim(NODE, "ab" * 16, now + 300, now - now % 3600, 3600, 0)
    expired = Claim(NODE, "cd" * 16, now - 10, now - now % 3600, 3600, 0)
    conn.executemany(
        "INSERT INTO nonces (node_id, nonce, expires_at) VALUES (?, ?, ?)",
        [(c.node_id, c.nonce, c.nonce_expires) for c in (seen, expired)],
    )
    conn.close()
    backend = SqliteBackend(path)
    await backend.open()
    try:
        with pytest.raises(Replayed):
            await backend.claim(seen)
        # The same nonce from another node is another request.
        await backend.claim(Claim("03" + NODE[2:], seen.nonce, now + 300, 0, 3600, 0))
        await backend.purge_expired(now)
        await backend.claim(Claim(NODE, "ef" * 16, now + 300, 0, 3600, 0))
    finally:
        await backend.close()
    with sqlite3.connect(path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert "nonces" not in tables and "seen_nonces" in tables
        assert conn.execute("SELECT count(*) FROM seen_nonces").fetchone() == (3,)
