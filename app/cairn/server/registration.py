"""Who may create a store: registration modes, invites, the allowlist and the per-address cap.

Only a batch with generation 0 can create a store, so only those are looked at here, and only
after the body has been checked; the store's existence is read once (a first batch to a store
that exists is a conflict, not a registration). Then, in this order:

- the per-address cap (`--new-stores-per-ip`): at most N stores created per client address per
  UTC day, counted in each server process's memory; over it, 429 `too_many_stores`;
- the mode (`--registration`): `open` admits anyone; `allowlist` admits the node ids listed in
  a file (re-read when it changes); `invite` admits a node that presents an unused, unexpired
  invite in the `Cairn-Invite` header (docs/PROTOCOL.md section 7.1), or that redeemed one
  before. An invite admits one node: once redeemed it is bound to that node for good.

Invites live in the server's database (table `invites`, created on first use beside the
protocol schema), stored as SHA-256 hashes: a copy of the database admits no one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from starlette.types import Scope

from cairn.server.backend import Backend, StoreRef
from cairn.server.config import Settings
from cairn.server.errors import ApiError
from cairn.server.limits import address_key, client_address
from cairn.wire.messages import Batch

log = logging.getLogger("cairn.server")
INVITE_HEADER = b"cairn-invite"
INVITE_PATTERN = re.compile(r"[0-9a-f]{32}")
NODE_ID_PATTERN = re.compile(r"0[23][0-9a-f]{64}")
DAY = 86400
INVITES_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS invites (token_hash TEXT PRIMARY KEY, created_at BIGINT NOT NULL, "
    "expires_at BIGINT NOT NULL, node_id TEXT, used_at BIGINT)",
    "CREATE INDEX IF NOT EXISTS invites_node ON invites (node_id)",
)


def new_invite() -> str:
    return secrets.token_hex(16)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class InviteBook(Protocol):
    async def create(self, count: int, expires_at: int, now: int) -> list[str]: ...

    async def redeem(self, token: str, node_id: str, now: int) -> bool:
        """Bind an unused, unexpired invite to `node_id` (again: True for the same node)."""

    async def admitted(self, node_id: str) -> bool:
        """Whether `node_id` redeemed an invite before."""


class SqliteInvites:
    """Invites in the server's SQLite file, on a connection of their own (used rarely)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ready = False

    def _run(self, fn: Any, *, write: bool) -> Any:
        from cairn.server.sqlite_worker import connect

        conn = connect(self.path)
        try:
            if not self._ready:
                conn.execute("BEGIN IMMEDIATE")
                for statement in INVITES_SCHEMA:
                    conn.execute(statement)
                conn.execute("COMMIT")
                self._ready = True
            if not write:
                return fn(conn)
            conn.execute("BEGIN IMMEDIATE")
            result = fn(conn)
            conn.execute("COMMIT")
            return result
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.close()

    async def create(self, count: int, expires_at: int, now: int) -> list[str]:
        tokens = [new_invite() for _ in range(count)]

        def insert(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO invites (token_hash, created_at, expires_at) VALUES (?, ?, ?)",
                [(token_hash(t), now, expires_at) for t in tokens],
            )

        await asyncio.to_thread(self._run, insert, write=True)
        return tokens

    async def redeem(self, token: str, node_id: str, now: int) -> bool:
        def update(conn: sqlite3.Connection) -> bool:
            return (
                conn.execute(
                    "UPDATE invites SET node_id = ?, used_at = coalesce(used_at, ?) "
                    "WHERE token_hash = ? AND (node_id = ? OR (node_id IS NULL AND expires_at > ?))",
                    (node_id, now, token_hash(token), node_id, now),
                ).rowcount
                > 0
            )

        return bool(await asyncio.to_thread(self._run, update, write=True))

    async def admitted(self, node_id: str) -> bool:
        def read(conn: sqlite3.Connection) -> bool:
            return (
                conn.execute("SELECT 1 FROM invites WHERE node_id = ?", (node_id,)).fetchone()
                is not None
            )

        return bool(await asyncio.to_thread(self._run, read, write=False))


class PostgresInvites:
    """Invites in the shared PostgreSQL database, so every instance honours every invite."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self._ready = False

    async def _schema(self, conn: Any) -> None:
        if not self._ready:
            for statement in INVITES_SCHEMA:
                await conn.execute(statement)
            self._ready = True

    async def create(self, count: int, expires_at: int, now: int) -> list[str]:
        tokens = [new_invite() for _ in range(count)]
        async with self.pool.acquire() as conn:
            await self._schema(conn)
            await conn.executemany(
                "INSERT INTO invites (token_hash, created_at, expires_at) VALUES ($1, $2, $3)",
                [(token_hash(t), now, expires_at) for t in tokens],
            )
        return tokens

    async def redeem(self, token: str, node_id: str, now: int) -> bool:
        async with self.pool.acquire() as conn:
            await self._schema(conn)
            found = await conn.fetchval(
                "UPDATE invites SET node_id = $2, used_at = coalesce(used_at, $3) "
                "WHERE token_hash = $1 AND (node_id = $2 OR (node_id IS NULL AND expires_at > $3)) "
                "RETURNING 1",
                token_hash(token),
                node_id,
                now,
            )
        return found is not None

    async def admitted(self, node_id: str) -> bool:
        async with self.pool.acquire() as conn:
            await self._schema(conn)
            found = await conn.fetchval("SELECT 1 FROM invites WHERE node_id = $1", node_id)
        return found is not None


def invites_for(backend: Backend) -> InviteBook:
    """The invite book in the backend's database (the backend must be open)."""
    from cairn.server.sqlite_backend import SqliteBackend

    if isinstance(backend, SqliteBackend):
        return SqliteInvites(backend.path)
    from cairn.server.postgres_backend import PostgresBackend

    if isinstance(backend, PostgresBackend):
        return PostgresInvites(backend.pool)
    raise TypeError(f"no invite book for {type(backend).__name__}")


def read_allowlist(path: Path) -> frozenset[str]:
    """Node ids, one per line; blank lines and `#` comments ignored; anything else refused."""
    ids: set[str] = set()
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip().lower()
        if not line:
            continue
        if NODE_ID_PATTERN.fullmatch(line) is None:
            raise ValueError(f"{path}:{number}: not a node id (66 hex characters)")
        ids.add(line)
    return frozenset(ids)


@dataclass
class Allowlist:
    """The allowlist file, read again whenever its modification time changes."""

    path: Path
    _ids: frozenset[str] = frozenset()
    _mtime: tuple[int, int] | None = None

    def __contains__(self, node_id: str) -> bool:
        try:
            stat = self.path.stat()
            mtime = (stat.st_mtime_ns, stat.st_size)
            if mtime != self._mtime:
                self._ids = read_allowlist(self.path)
                self._mtime = mtime
        except (OSError, ValueError) as exc:
            # A file being edited or gone: keep the list read last rather than admit anyone.
            log.warning(
                "allowlist unreadable; keeping the last one read",
                extra={"fields": {"exception": type(exc).__name__}},
            )
        return node_id in self._ids


@dataclass
class Admitted:
    """A store creation let through; `created()` counts it once the batch is applied."""

    admission: StoreAdmission
    address: str
    day: int

    def created(self) -> None:
        self.admission.count_created(self.address, self.day)


@dataclass
class StoreAdmission:
    backend: Backend
    mode: str = "open"
    per_address_per_day: int = 0
    allowlist: Allowlist | None = None
    _created: dict[tuple[str, int], int] = field(default_factory=dict)
    _invites: InviteBook | None = None

    @classmethod
    def from_settings(cls, settings: Settings, backend: Backend) -> StoreAdmission:
        allowlist = (
            Allowlist(Path(settings.allowlist)) if settings.registration == "allowlist" else None
        )
        return cls(backend, settings.registration, settings.limits.new_stores_per_ip, allowlist)

    @property
    def checks_anything(self) -> bool:
        return self.mode != "open" or self.per_address_per_day > 0

    async def admit(self, scope: Scope, store: StoreRef, batch: Batch) -> Admitted | None:
        """Refuse (ApiError) or let through a batch; an Admitted when it would create a store."""
        if batch.generation != 0 or not self.checks_anything:
            return None
        if await self.backend.store_info(store) is not None:
            return None
        now = int(time.time())
        address, day = address_key(client_address(scope)), now // DAY
        if self.per_address_per_day and (
            self._created.get((address, day), 0) >= self.per_address_per_day
        ):
            raise ApiError(
                429,
                "too_many_stores",
                f"this address created {self.per_address_per_day} stores today, the most this "
                "server allows; retry tomorrow",
                headers={"Retry-After": str((day + 1) * DAY - now)},
            )
        if self.mode == "allowlist":
            assert self.allowlist is not None
            if store.node_id not in self.allowlist:
                raise ApiError(
                    403,
                    "not_allowlisted",
                    "this server creates stores only for the node ids its operator listed; "
                    "ask the operator to add yours",
                )
        elif self.mode == "invite":
            await self._check_invite(scope, store.node_id, now)
        return Admitted(self, address, day)

    async def _check_invite(self, scope: Scope, node_id: str, now: int) -> None:
        if self._invites is None:
            self._invites = invites_for(self.backend)
        # Spaces or tabs around a header's value are not part of it (RFC 9110 section 5.5).
        tokens = [
            v.decode("latin-1").strip(" \t") for k, v in scope["headers"] if k == INVITE_HEADER
        ]
        token = tokens[0] if len(tokens) == 1 else ("" if tokens else None)
        if token is None:
            if await self._invites.admitted(node_id):
                return
            raise ApiError(
                403,
                "invite_required",
                "this server creates stores only with an invite from its operator: send it in "
                "the Cairn-Invite header of the first batch",
            )
        if INVITE_PATTERN.fullmatch(token) is None or not await self._invites.redeem(
            token, node_id, now
        ):
            raise ApiError(
                403,
                "invite_invalid",
                "the invite is unknown, expired or used by another node; ask the operator for "
                "a new one",
            )

    def count_created(self, address: str, day: int) -> None:
        if not self.per_address_per_day:
            return
        if any(d < day for _, d in self._created):
            self._created = {k: v for k, v in self._created.items() if k[1] >= day}
        self._created[(address, day)] = self._created.get((address, day), 0) + 1
