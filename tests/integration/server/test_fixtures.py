"""The shared fixtures other suites rely on: a real server process, restartable, on both backends."""

from __future__ import annotations

import httpx
import pytest

from tests.support.backupd import BackupdFactory, BackupServer


def test_backupd_answers_health_and_survives_a_kill(backupd: BackupServer) -> None:
    assert httpx.get(backupd.url + "/healthz").json() == {"status": "ok"}
    port = backupd.port
    backupd.kill()
    with pytest.raises(httpx.TransportError):
        httpx.get(backupd.url + "/healthz", timeout=1)
    backupd.start()
    assert backupd.port == port
    assert httpx.get(backupd.url + "/healthz").json() == {"status": "ok"}


@pytest.mark.postgres
def test_backupd_factory_runs_on_postgres(backupd_factory: BackupdFactory) -> None:
    first = backupd_factory(postgres=True)
    second = backupd_factory(postgres=True)
    assert first.db == second.db  # one test, one database: instances share it
    for server in (first, second):
        assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
