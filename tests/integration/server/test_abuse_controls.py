"""Abuse controls of a real server: per-address limit, trusted proxies, store cap, registration."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cairn.backup.client import BackupUnauthorized, RemoteBackupClient
from cairn.wire.addressing import new_incarnation, new_write_id
from cairn.wire.messages import Batch, PutItem
from tests.integration.backup.helpers import (
    back_up_records,
    keys_for,
    records_of,
    restored_records,
    sample_records,
)
from tests.support.backupd import BackupdFactory, BackupServer
from tests.support.signing import Node

A = "a" * 64


def from_address(address: str) -> httpx.Client:
    """A client whose connections come from `address` (any 127.x.y.z is loopback on Linux)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


def create_store(
    server: BackupServer,
    node: Node,
    *,
    http: httpx.Client | None = None,
    headers: dict[str, str] | None = None,
    generation: int = 0,
) -> httpx.Response:
    target = node.path("/objects")
    version = 0 if generation == 0 else generation
    body = node.batch({A: (version, b"v")}, generation=generation)
    sent = {**node.headers("PUT", target, body), **(headers or {})}
    if http is None:
        return httpx.put(server.url + target, content=body, headers=sent, timeout=30)
    return http.put(server.url + target, content=body, headers=sent)


def unsigned_get(
    server: BackupServer, http: httpx.Client, forwarded: str | None = None
) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    return http.get(server.url + Node().path(), headers=headers)


def test_the_per_address_limit_refuses_with_retry_after(backupd_factory: BackupdFactory) -> None:
    server = backupd_factory(ip_rate_limit=3, ip_rate_window=60)
    with from_address("127.0.0.2") as mine, from_address("127.0.0.3") as other:
        # Counted before authentication: unsigned requests (401) use up the bucket too.
        assert [unsigned_get(server, mine).status_code for _ in range(3)] == [401] * 3
        refused = unsigned_get(server, mine)
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 20  # 60 s / 3 requests per token
        assert mine.get(server.url + "/healthz").status_code == 200  # exempt
        assert unsigned_get(server, other).status_code == 401  # another address, its own bucket


def test_a_forwarded_address_from_an_untrusted_peer_is_ignored(
    backupd_factory: BackupdFactory,
) -> None:
    server = backupd_factory(ip_rate_limit=2, env={"CAIRN_BACKUPD_TRUSTED_PROXIES": "192.0.2.1"})
    # From 127.0.0.1, which uvicorn's own proxy handling would trust by default.
    with from_address("127.0.0.1") as spoofer:
        answers = [
            unsigned_get(server, spoofer, forwarded=f"198.51.100.{i}").status_code
            for i in range(1, 4)
        ]
    assert answers == [401, 401, 429]


def test_a_trusted_proxy_names_the_client(backupd_factory: BackupdFactory) -> None:
    server = backupd_factory(ip_rate_limit=2, env={"CAIRN_BACKUPD_TRUSTED_PROXIES": "127.0.0.0/24"})
    with from_address("127.0.0.2") as proxy:
        first = [unsigned_get(server, proxy, "198.51.100.1").status_code for _ in range(3)]
        assert first == [401, 401, 429]
        assert unsigned_get(server, proxy, "198.51.100.2").status_code == 401
        # Read from the right: what a client wrote itself, left of the proxy's hop, is not
        # believed, so varying it does not escape the limit.
        chain = [
            unsigned_get(server, proxy, f"203.0.113.{i}, 198.51.100.3").status_code
            for i in range(3)
        ]
        assert chain == [401, 401, 429]


def test_new_stores_per_address_per_day(backupd_factory: BackupdFactory) -> None:
    server = backupd_factory(new_stores_per_ip=2)
    with from_address("127.0.0.2") as here, from_address("127.0.0.3") as elsewhere:
        first, second = Node(), Node()
        assert create_store(server, first, http=here).status_code == 200
        assert create_store(server, second, http=here).status_code == 200
        refused = create_store(server, Node(), http=here)
        assert refused.status_code == 429
        assert refused.json()["error"] == "too_many_stores"
        assert 0 < int(refused.headers["retry-after"]) <= 86400
        # Stores that exist carry on; a first batch to an existing store is still a conflict.
        assert create_store(server, first, http=here, generation=1).status_code == 200
        assert create_store(server, second, http=here).status_code == 409
        assert create_store(server, Node(), http=elsewhere).status_code == 200


def test_allowlist_mode_admits_listed_nodes_and_rereads_the_file(
    backupd_factory: BackupdFactory, tmp_path: Path
) -> None:
    listed, unlisted = Node(), Node()
    allowlist = tmp_path / "allowlist"
    allowlist.write_text(f"# operator's list\n{listed.node_id}\n\n")
    server = backupd_factory(
        env={"CAIRN_BACKUPD_REGISTRATION": "allowlist", "CAIRN_BACKUPD_ALLOWLIST": str(allowlist)}
    )
    assert create_store(server, listed).status_code == 200
    refused = create_store(server, unlisted)
    assert refused.status_code == 403 and refused.json()["error"] == "not_allowlisted"
    allowlist.write_text(f"{listed.node_id}\n{unlisted.node_id.upper()}  # added later\n")
    assert create_store(server, unlisted).status_code == 200


def test_allowlist_mode_without_a_readable_file_does_not_start(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cairn.server", "serve", "--db", str(tmp_path / "db.sqlite")],
        capture_output=True,
        text=True,
        timeout=60,
        env={"CAIRN_BACKUPD_REGISTRATION": "allowlist", "CAIRN_BACKUPD_ALLOWLIST": "/nonexistent"},
        check=False,
    )
    assert result.returncode == 2
    assert "cannot read the allowlist /nonexistent" in result.stderr


def invites(server: BackupServer, *args: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "cairn.server", "invite", "--db", server.db, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_invite_mode(backupd_factory: BackupdFactory, backend: str) -> None:
    server = backupd_factory(
        postgres=backend == "postgres", env={"CAIRN_BACKUPD_REGISTRATION": "invite"}
    )
    first, second = invites(server, "--count", "2")
    assert len(first) == 32 and first != second
    node, other = Node(), Node()
    refused = create_store(server, node)
    assert refused.status_code == 403 and refused.json()["error"] == "invite_required"
    wrong = create_store(server, node, headers={"Cairn-Invite": "0" * 32})
    assert wrong.status_code == 403 and wrong.json()["error"] == "invite_invalid"
    assert create_store(server, node, headers={"Cairn-Invite": first}).status_code == 200
    taken = create_store(server, other, headers={"Cairn-Invite": first})
    assert taken.status_code == 403 and taken.json()["error"] == "invite_invalid"
    # An invite admits a node: its store of another network needs no second invite.
    node.store_id = "signet"
    assert create_store(server, node).status_code == 200
    assert create_store(server, other, headers={"Cairn-Invite": second}).status_code == 200
    (expiring,) = invites(server, "--days", "0.00001")  # about a second
    time.sleep(1.5)
    late = create_store(server, Node(), headers={"Cairn-Invite": expiring})
    assert late.status_code == 403 and late.json()["error"] == "invite_invalid"
    if backend == "sqlite":
        assert Path(server.db).stat().st_mode & 0o777 == 0o600


@pytest.mark.asyncio
async def test_the_backup_engine_presents_an_invite_from_its_environment(
    backupd_factory: BackupdFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = backupd_factory(env={"CAIRN_BACKUPD_REGISTRATION": "invite"})
    (token,) = invites(server)
    monkeypatch.delenv("CAIRN_BACKUP_INVITE", raising=False)
    first = Batch(new_incarnation(), 0, new_write_id(), (PutItem(A, 0, b"x"),), ())
    async with RemoteBackupClient(server.url, keys_for(), "regtest") as client:
        with pytest.raises(BackupUnauthorized) as refused:
            await client.put_batch(first)
    assert refused.value.status == 403 and refused.value.code == "invite_required"
    monkeypatch.setenv("CAIRN_BACKUP_INVITE", token)
    wallet = tmp_path / "wallet.sqlite"
    await back_up_records(wallet, sample_records(30), server.url)
    assert await restored_records(server.url, tmp_path) == records_of(wallet)


def test_invites_are_never_made_for_a_database_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "typo.sqlite"
    result = subprocess.run(
        [sys.executable, "-m", "cairn.server", "invite", "--db", str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "no database at" in result.stderr
    assert result.stdout == "" and not missing.exists()
