"""Every folder a command creates under the data dir is private (0700), all the way down,
whatever the umask; the restore names an unknown word by its place, counted from 1."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.exitcodes import EXIT_OK, EXIT_USAGE
from tests.integration.datadir_support import COMMANDS, cairn, write_settings
from tests.support.backupd import BackupServer
from tests.support.words import PHRASE, WORDS


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackupServer]:
    base = tmp_path_factory.mktemp("backupd")
    backupd = BackupServer(str(base / "backupd.sqlite"), base / "backupd.log").start()
    made = base / "source"
    write_settings(made, backupd.url)
    created = cairn(COMMANDS["wallet create"], made)  # and backed up: something to restore
    assert created.code == EXIT_OK, created.err
    yield backupd
    backupd.stop()


def _modes_below(root: Path, top: Path) -> dict[str, int]:
    folders = [p for p in (top, *top.rglob("*")) if p.is_dir()]
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in folders}


def test_restore_into_a_new_data_dir_makes_every_folder_private(
    server: BackupServer, tmp_path: Path
) -> None:
    data = tmp_path / "new" / "data"
    args = ["restore", "--server", server.url, "--network", "regtest"]
    ran = cairn(args, data)
    assert ran.code == EXIT_OK, ran.err
    modes = _modes_below(tmp_path, tmp_path / "new")
    assert {"new", "new/data", "new/data/wallets", "new/data/wallets/regtest"} <= set(modes)
    assert set(modes.values()) == {0o700}, modes


def test_wallet_create_into_a_new_data_dir_makes_every_folder_private(
    server: BackupServer, tmp_path: Path
) -> None:
    data = tmp_path / "fresh" / "data"
    ran = cairn([*COMMANDS["wallet create"], "--network", "regtest", "--no-backup"], data)
    assert ran.code == EXIT_OK, ran.err
    modes = _modes_below(tmp_path, tmp_path / "fresh")
    assert {"fresh", "fresh/data", "fresh/data/wallets/regtest"} <= set(modes)
    assert set(modes.values()) == {0o700}, modes


@pytest.mark.parametrize("place", [1, 5, 12])
def test_restore_names_the_unknown_word_by_its_place(
    place: int, server: BackupServer, tmp_path: Path
) -> None:
    words = list(WORDS)
    words[place - 1] = "zzzz"
    args = ["restore", "--server", server.url, "--network", "regtest"]
    ran = cairn(args, tmp_path / "data", stdin=" ".join(words) + "\n")
    assert ran.code == EXIT_USAGE
    assert f"word {place} is not in the BIP39 English word list" in ran.err
    assert "zzzz" not in ran.err and PHRASE.split()[1] not in ran.err
    assert not (tmp_path / "data").exists()  # a refused restore creates nothing
