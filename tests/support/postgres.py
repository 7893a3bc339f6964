"""Test support: a throwaway PostgreSQL cluster on loopback, started once per test session.

`postgres_dsn` is the session cluster's DSN (database `postgres`); `postgres_db` is a fresh, empty
database per test on that cluster. A machine without PostgreSQL fails loudly: `scripts/test`
installs it, and a suite that silently skips its PostgreSQL half proves nothing.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.ports import free_port

_PG_ROOT = Path("/usr/lib/postgresql")
_db_counter = itertools.count(1)


class PostgresMissing(RuntimeError):
    """PostgreSQL server binaries are not installed on this machine."""


def postgres_bin_dir() -> Path:
    """The newest installed PostgreSQL server's bin directory (15 preferred)."""
    preferred = _PG_ROOT / "15" / "bin"
    if (preferred / "initdb").exists():
        return preferred
    candidates = sorted(
        (p.parent for p in _PG_ROOT.glob("*/bin/initdb")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1]
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise PostgresMissing(
        "PostgreSQL server binaries (initdb, pg_ctl) were not found under /usr/lib/postgresql; "
        "install them with `apt-get install -y postgresql` (scripts/test does this when run as root)"
    )


@dataclass
class PostgresCluster:
    """A running throwaway cluster; `stop()` shuts it down and removes its files."""

    bin_dir: Path
    base_dir: Path
    port: int
    run_as: str | None

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir / "sock"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _cmd(self, *args: str) -> list[str]:
        if self.run_as is None:
            return list(args)
        return ["runuser", "-u", self.run_as, "--", *args]

    def psql(self, sql: str, database: str = "postgres") -> str:
        out = subprocess.run(
            self._cmd(
                str(self.bin_dir / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-c",
                sql,
            ),
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return out.stdout

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def stop(self) -> None:
        subprocess.run(
            self._cmd(
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-m",
                "immediate",
                "-w",
                "stop",
            ),
            capture_output=True,
            timeout=60,
            check=False,
        )
        # Hundreds of MB of throwaway databases: on a busy disk removing them takes seconds,
        # which nobody needs to wait for.
        # The shell returns at once and leaves `rm` running on its own.
        subprocess.run(
            ["sh", "-c", 'rm -rf -- "$1" >/dev/null 2>&1 &', "sh", str(self.base_dir)],
            check=False,
            timeout=60,
        )


def start_cluster(*, fsync: bool = False) -> PostgresCluster:
    """initdb and start a cluster on a free loopback port; as root, it runs as user postgres.

    fsync=off only trades durability against an OS crash, which no test exercises (the crash
    tests kill the backup server, not PostgreSQL); the benchmark starts one with fsync on.
    """
    bin_dir = postgres_bin_dir()
    run_as: str | None = None
    # A fresh directory directly under /tmp: pytest's tmp dirs are 0700 root-owned, and the
    # postgres user must be able to reach the data and socket directories.
    base_dir = Path(tempfile.mkdtemp(prefix="cairn-pg-", dir="/tmp"))
    os.chmod(base_dir, 0o755)
    if os.geteuid() == 0:
        run_as = "postgres"
        try:
            user = pwd.getpwnam(run_as)
        except KeyError as exc:
            raise PostgresMissing(
                "PostgreSQL is installed but the `postgres` user is missing"
            ) from exc
        os.chown(base_dir, user.pw_uid, user.pw_gid)
    cluster = PostgresCluster(bin_dir=bin_dir, base_dir=base_dir, port=free_port(), run_as=run_as)
    for sub in (cluster.socket_dir,):
        sub.mkdir()
        if run_as is not None:
            user = pwd.getpwnam(run_as)
            os.chown(sub, user.pw_uid, user.pw_gid)
    init = subprocess.run(
        cluster._cmd(
            str(bin_dir / "initdb"),
            "-D",
            str(cluster.data_dir),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if init.returncode != 0:
        shutil.rmtree(base_dir, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {init.stderr.strip()}")
    options = (
        f"-p {cluster.port} -k {cluster.socket_dir} -c listen_addresses=127.0.0.1 "
        f"-c max_connections=200 -c fsync={'on' if fsync else 'off'} "
        f"-c synchronous_commit={'on' if fsync else 'off'} -c full_page_writes={'on' if fsync else 'off'}"
    )
    start = subprocess.run(
        cluster._cmd(
            str(bin_dir / "pg_ctl"),
            "-D",
            str(cluster.data_dir),
            "-l",
            str(cluster.base_dir / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if start.returncode != 0:
        log = ""
        with contextlib.suppress(OSError):
            log = (cluster.base_dir / "server.log").read_text()
        shutil.rmtree(base_dir, ignore_errors=True)
        raise RuntimeError(f"pg_ctl start failed: {start.stderr.strip()}\n{log}")
    return cluster


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    try:
        cluster = start_cluster()
    except PostgresMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_dsn(postgres_cluster: PostgresCluster) -> str:
    """DSN of the session's throwaway cluster (superuser `postgres`, database `postgres`)."""
    return postgres_cluster.dsn()


@pytest.fixture
def postgres_db(postgres_cluster: PostgresCluster) -> str:
    """DSN of a fresh, empty database on the session cluster, for one test."""
    return postgres_cluster.create_database(f"t{os.getpid()}_{next(_db_counter)}")
