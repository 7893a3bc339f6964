"""One cairn-backupd per test module (each test has its own seed, hence its own store), and a
fresh seed per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cairn.keys import generate_mnemonic
from tests.integration.backup.helpers import WORDS_ENV
from tests.support.backupd import BackupServer


@pytest.fixture(autouse=True)
def fresh_words(monkeypatch: pytest.MonkeyPatch) -> str:
    words = generate_mnemonic()
    monkeypatch.setenv(WORDS_ENV, words)
    return words


@pytest.fixture(scope="module")
def module_backupd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackupServer]:
    base = tmp_path_factory.mktemp("backupd")
    server = BackupServer(str(base / "backupd.sqlite"), base / "backupd.log")
    yield server
    server.stop()


@pytest.fixture
def backupd(module_backupd: BackupServer) -> BackupServer:
    """The module's server, running (a test before may have stopped or killed it)."""
    if module_backupd.process is None or module_backupd.process.poll() is not None:
        module_backupd.start()
    return module_backupd
