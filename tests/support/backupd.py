"""Test support: a real `cairn-backupd serve` process on a free loopback port.

    def test_x(backupd):                      # a running server on a SQLite file in tmp_path
        httpx.get(backupd.url + "/healthz")

    def test_y(backupd_factory):              # options: limits, PostgreSQL, no start
        server = backupd_factory(rate_limit=5, rate_window=60)
        pg = backupd_factory(postgres=True)   # the per-test database on the session cluster;
                                              # every postgres=True server of a test shares it
        server.kill(); server.start()         # SIGKILL, then restart on the same port and db

Every server started through these fixtures is stopped at the end of the test. The rate limit is
off unless a test asks for one, so suites that are not about it never meet a 429.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.ports import free_port

LIMIT_OPTIONS = (
    "max_object_bytes",
    "max_batch_items",
    "max_batch_bytes",
    "store_quota_bytes",
    "rate_limit",
    "rate_window",
    "ip_rate_limit",
    "ip_rate_window",
    "new_stores_per_ip",
    "request_timeout",
)
START_TIMEOUT = 30.0


class BackupServer:
    """One cairn-backupd process; `start()` after `stop()`/`kill()` reuses port and database."""

    def __init__(
        self,
        db: str,
        log_path: Path,
        *,
        port: int | None = None,
        limits: dict[str, int] | None = None,
        env: dict[str, str] | None = None,
        workers: int = 1,
    ) -> None:
        self.db = db
        self.workers = workers
        # A port picked here may be taken by someone else before the server binds it; then the
        # first start moves to another one (a restart always keeps its port).
        self._port_chosen_here = port is None
        self._started_once = False
        self.port = port or free_port()
        self.log_path = log_path
        self.limits = {"rate_limit": 0, **(limits or {})}
        self.extra_env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def is_postgres(self) -> bool:
        return self.db.startswith("postgresql://")

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "cairn.server", "serve", "--db", self.db]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port), "--log-level", "info"]
        for name, value in self.limits.items():
            cmd += ["--" + name.replace("_", "-"), str(value)]
        if self.workers != 1:
            cmd += ["--workers", str(self.workers)]
        return cmd

    def start(self) -> BackupServer:
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("the server is already running")
        for attempt in range(3):
            try:
                self._spawn()
                self._wait_ready()
                break
            except RuntimeError:
                port_lost = "address already in use" in self.log_text().lower()
                if (
                    self._started_once
                    or not self._port_chosen_here
                    or not port_lost
                    or attempt == 2
                ):
                    raise
                self.port = free_port()
        self._started_once = True
        return self

    def _spawn(self) -> None:
        env = {**os.environ, **self.extra_env}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, env=env
            )

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"cairn-backupd exited with {self.process.returncode}:\n{self.log_text()}"
                )
            try:
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"cairn-backupd did not become ready:\n{self.log_text()}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (graceful shutdown), then SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or power cut of the process."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.kill()
        self.process.wait(10)

    def restart(self) -> BackupServer:
        self.stop()
        return self.start()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


BackupdFactory = Callable[..., BackupServer]


@pytest.fixture
def backupd_factory(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[BackupdFactory]:
    """Start cairn-backupd processes: factory(postgres=False, db=None, start=True, env=None,
    port=None, workers=1, **limits) where limits are max_object_bytes, max_batch_items,
    max_batch_bytes, store_quota_bytes, rate_limit, rate_window, ip_rate_limit, ip_rate_window,
    new_stores_per_ip, request_timeout (settings without a limit flag go in env, as
    CAIRN_BACKUPD_*)."""
    servers: list[BackupServer] = []

    def make(
        *,
        postgres: bool = False,
        db: str | None = None,
        start: bool = True,
        env: dict[str, str] | None = None,
        port: int | None = None,
        workers: int = 1,
        **limits: int,
    ) -> BackupServer:
        unknown = set(limits) - set(LIMIT_OPTIONS)
        if unknown:
            raise TypeError(f"unknown cairn-backupd options: {sorted(unknown)}")
        base = tmp_path_factory.mktemp("backupd")
        if db is None:
            db = (
                str(request.getfixturevalue("postgres_db"))
                if postgres
                else str(base / "backupd.sqlite")
            )
        server = BackupServer(
            db, base / "backupd.log", port=port, limits=limits, env=env, workers=workers
        )
        servers.append(server)
        return server.start() if start else server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def backupd(backupd_factory: BackupdFactory) -> BackupServer:
    """A running cairn-backupd on a fresh SQLite database, rate limit off."""
    return backupd_factory()


WRITER = "backupd-writer"


def children(server: BackupServer) -> dict[int, str]:
    """The supervisor's processes, pid → name (the writer names itself)."""
    assert server.process is not None
    pid = server.process.pid
    found = {}
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            found[int(child)] = Path(f"/proc/{child}/comm").read_text().strip()
        except FileNotFoundError:
            continue
    return found


def writer_pid(server: BackupServer) -> int | None:
    return next((pid for pid, name in children(server).items() if name == WRITER), None)


def worker_pids(server: BackupServer) -> set[int]:
    return {pid for pid, name in children(server).items() if name != WRITER}


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
