"""Every command on a damaged data dir: one line that names the file, a documented exit code,
no traceback, and every byte that was there still there.

The corpus: each way a data dir has been found broken (a truncated, random, empty or folder
records.sqlite, seed files that are not seeds, config.json that is not settings, unreadable
files), times every command a user runs on it, each in a process of its own. `restore --force`
is the documented recovery: it must work on all of them, with the damaged wallet kept whole.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cairn.exitcodes import (
    EXIT_CODES,
    EXIT_DAMAGED,
    EXIT_NOT_WRITTEN,
    EXIT_OK,
    EXIT_WALLET_EXISTS,
)
from cairn.seedfile import load_seed
from tests.integration.datadir_support import (
    COMMANDS,
    WALLET,
    Ran,
    cairn,
    fingerprint,
    write_settings,
)
from tests.support.backupd import BackupServer
from tests.support.words import PHRASE

Damage = Callable[[Path], None]


def _replace(path: Path, data: bytes) -> None:
    path.unlink()
    path.write_bytes(data)
    path.chmod(0o600)


def _folder_instead(path: Path) -> None:
    path.unlink()
    path.mkdir()
    (path / "something").write_bytes(b"kept as it is")


def _records(d: Path) -> Path:
    return d / WALLET / "records.sqlite"


def _seed(d: Path) -> Path:
    return d / WALLET / "seed"


def _plain_seed(phrase: str) -> bytes:
    return json.dumps(
        {"format": 1, "protection": "plain", "phrase": phrase, "passphrase": ""}
    ).encode()


def _truncate(d: Path) -> None:
    data = _records(d).read_bytes()
    _replace(_records(d), data[: len(data) // 2])


def _random_bytes(d: Path) -> None:
    _replace(_records(d), os.urandom(_records(d).stat().st_size))


def _zero_bytes(d: Path) -> None:
    _replace(_records(d), b"")


def _damaged_page(d: Path) -> None:
    # The header is fine (SQLite opens the file); a page of the records' tree is not.
    data = bytearray(_records(d).read_bytes())
    data[4096 : 2 * 4096] = b"\xa5" * 4096
    _replace(_records(d), bytes(data))


def _foreign_sqlite(d: Path) -> None:
    _records(d).unlink()
    conn = sqlite3.connect(_records(d))
    conn.execute("CREATE TABLE notes (text)")
    conn.execute("INSERT INTO notes VALUES ('not a wallet')")
    conn.commit()
    conn.close()


def _unreadable(which: Callable[[Path], Path]) -> Damage:
    def damage(d: Path) -> None:
        which(d).chmod(0)

    return damage


@dataclass(frozen=True)
class Case:
    damage: Damage
    file: str  # what the one line must name
    recoverable: bool = True  # restore --force sets the damage aside and recovers
    upgrade_refuses: bool = False  # the wallet folder's format cannot be read at all
    permissions: bool = False  # file modes: the command runs where they bind, even as root


CASES: dict[str, Case] = {
    "records.sqlite truncated": Case(_truncate, "records.sqlite"),
    "records.sqlite random bytes": Case(_random_bytes, "records.sqlite"),
    "records.sqlite zero bytes": Case(_zero_bytes, "records.sqlite"),
    "records.sqlite a damaged page": Case(_damaged_page, "records.sqlite"),
    "records.sqlite a folder": Case(lambda d: _folder_instead(_records(d)), "records.sqlite"),
    "records.sqlite unreadable": Case(_unreadable(_records), "records.sqlite", permissions=True),
    "seed words fail the checksum": Case(
        lambda d: _replace(_seed(d), _plain_seed("abandon " * 11 + "abandon")), "seed"
    ),
    "seed has an unknown word": Case(
        lambda d: _replace(_seed(d), _plain_seed("abandon " * 11 + "notaword")), "seed"
    ),
    "seed random bytes": Case(lambda d: _replace(_seed(d), os.urandom(143)), "seed"),
    "seed a JSON array": Case(lambda d: _replace(_seed(d), b"[1, 2]"), "seed"),
    "seed a folder": Case(lambda d: _folder_instead(_seed(d)), "seed"),
    "seed unreadable": Case(_unreadable(_seed), "seed", permissions=True),
    "wallet folder unreadable": Case(
        _unreadable(lambda d: d / WALLET), "regtest", recoverable=False, permissions=True
    ),
    "records.sqlite another program's SQLite file": Case(_foreign_sqlite, "records.sqlite"),
    "format file garbage": Case(
        lambda d: _replace(d / WALLET / "format", b"\x00zz\n"), "format", upgrade_refuses=True
    ),
    "config.json not UTF-8": Case(
        lambda d: _replace(d / "config.json", b'{"network": "\xff\xfe"}'),
        "config.json",
        recoverable=False,
    ),
    "config.json a JSON array": Case(
        lambda d: _replace(d / "config.json", b'["regtest"]'), "config.json", recoverable=False
    ),
    "config.json nested deeply": Case(
        lambda d: _replace(d / "config.json", b"[" * 100_000), "config.json", recoverable=False
    ),
    "config.json unknown network": Case(
        lambda d: _replace(d / "config.json", b'{"network": ["regtest"]}'),
        "config.json",
        recoverable=False,
    ),
    "config.json a folder": Case(
        lambda d: _folder_instead(d / "config.json"), "config.json", recoverable=False
    ),
    "config.json unreadable": Case(
        _unreadable(lambda d: d / "config.json"), "config.json", recoverable=False, permissions=True
    ),
}


def expected_code(case: Case, command: str) -> int:
    if not case.recoverable:
        # Without its settings no command knows what to act on; a folder Cairn may not read
        # is the user's to open up.
        return EXIT_DAMAGED
    if command == "restore --force":
        return EXIT_OK
    if command in ("restore", "wallet create") and not case.upgrade_refuses:
        return EXIT_WALLET_EXISTS  # a damaged wallet is still a wallet: never overwritten
    return EXIT_DAMAGED


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackupServer]:
    base = tmp_path_factory.mktemp("backupd")
    backupd = BackupServer(str(base / "backupd.sqlite"), base / "backupd.log").start()
    yield backupd
    backupd.stop()


@pytest.fixture(scope="module")
def healthy(server: BackupServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A regtest wallet made and backed up by `cairn wallet create`, as a user would."""
    data = tmp_path_factory.mktemp("healthy") / "data"
    write_settings(data, server.url)
    made = cairn(COMMANDS["wallet create"], data)
    assert made.code == EXIT_OK, made.err
    return data


def run_on_damaged(
    case: Case, args: list[str], healthy: Path, tmp_path: Path
) -> tuple[Path, dict[str, str], Ran]:
    """A copy of the healthy data dir with `case`'s damage, its fingerprint before, and
    `cairn ARGS` run on it (which never answers with a traceback)."""
    data = tmp_path / "data"
    shutil.copytree(healthy, data, symlinks=True)
    case.damage(data)
    before = fingerprint(data)
    ran = cairn(args, data, permissions_apply=case.permissions)
    assert "Traceback" not in ran.err, ran.err
    return data, before, ran


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("name", list(CASES))
def test_a_damaged_data_dir_is_refused_in_one_line_and_left_as_it_was(
    name: str, command: str, healthy: Path, tmp_path: Path
) -> None:
    case = CASES[name]
    data, before, ran = run_on_damaged(case, COMMANDS[command], healthy, tmp_path)

    expected = expected_code(case, command)
    assert ran.code == expected, (ran.code, EXIT_CODES.get(ran.code), ran.err)
    assert expected in EXIT_CODES
    if expected == EXIT_DAMAGED:
        assert len(ran.said) == 1, ran.err
        assert case.file in ran.said[0], ran.said
        if command != "app start":
            assert ran.err.strip() == ran.said[0]  # one line, nothing else
    if expected == EXIT_OK and command == "restore --force":
        _assert_set_aside_whole(before, fingerprint(data))
    else:
        assert fingerprint(data) == before


def _assert_set_aside_whole(before: dict[str, str], after: dict[str, str]) -> None:
    """The damaged wallet folder is kept whole beside the restored one; the rest is unchanged."""
    wallet = WALLET.as_posix()
    kept = [p for p in after if p.startswith(wallet + ".replaced-") and "/" not in p[len(wallet) :]]
    assert len(kept) == 1, sorted(after)
    for path, digest in before.items():
        if path.startswith(wallet + "/"):
            assert after[kept[0] + path[len(wallet) :]] == digest, path
        else:
            assert after[path] == digest, path
    assert after[f"{wallet}/seed"] != "folder"
    assert after[f"{wallet}/records.sqlite"] != "folder"


# --- a full disk ---------------------------------------------------------------------------

DISK_BYTES = 4 * 1024 * 1024
# From nothing free to enough for everything: each fails at another step, or succeeds.
FREE_BYTES = [0, 4096, 16 * 1024, 48 * 1024, 96 * 1024, 256 * 1024]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real file system of 4 MiB (tmpfs), mounted for this test only."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES},mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def _fill(disk: Path, leave: int) -> None:
    """Take every free byte of `disk` but `leave` (in whole pages, as tmpfs counts them)."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - leave))
    assert shutil.disk_usage(disk).free <= leave


def _check_full_disk_outcome(ran: Ran, before: dict[str, str], data: Path) -> None:
    assert "Traceback" not in ran.err, ran.err
    assert ran.code in (EXIT_OK, EXIT_NOT_WRITTEN), (ran.code, ran.err)
    if ran.code == EXIT_NOT_WRITTEN:
        assert len(ran.said) == 1 and str(data) in ran.said[0], ran.err
        assert "Free some space" in ran.said[0]
        assert fingerprint(data) == before


@pytest.mark.parametrize("free", FREE_BYTES)
def test_wallet_create_on_a_full_disk_leaves_nothing_behind(
    free: int, server: BackupServer, small_disk: Path
) -> None:
    data = small_disk / "data"
    write_settings(data, server.url)
    _fill(small_disk, free)
    before = fingerprint(data)

    ran = cairn(COMMANDS["wallet create"], data)

    _check_full_disk_outcome(ran, before, data)
    if ran.code == EXIT_OK:
        assert load_seed(data / WALLET) == (PHRASE, "")
    if free == 0:
        assert ran.code == EXIT_NOT_WRITTEN
    if free == FREE_BYTES[-1]:
        assert ran.code == EXIT_OK, ran.err  # the disk, not Cairn, was the trouble


@pytest.mark.parametrize("free", FREE_BYTES)
def test_restore_force_on_a_full_disk_keeps_the_wallet_it_replaces(
    free: int, healthy: Path, small_disk: Path
) -> None:
    data = small_disk / "data"
    shutil.copytree(healthy, data, symlinks=True)
    _fill(small_disk, free)
    before = fingerprint(data)

    ran = cairn(COMMANDS["restore --force"], data)

    _check_full_disk_outcome(ran, before, data)
    if ran.code == EXIT_OK:
        _assert_set_aside_whole(before, fingerprint(data))
    if free == 0:
        assert ran.code == EXIT_NOT_WRITTEN
    if free == FREE_BYTES[-1]:
        assert ran.code == EXIT_OK, ran.err


WALLET_COMMANDS = {
    "wallet label list": ["wallet", "label", "list"],
    "wallet label set": ["wallet", "label", "set", "addr", "bcrt1qexample", "a note"],
    "wallet prefs get": ["wallet", "prefs", "get", "unit"],
}
# The store and the settings, which every wallet command reads (labels and preferences do
# not need the seed).
WALLET_CASES = [n for n, c in CASES.items() if c.file in ("records.sqlite", "config.json")]


@pytest.mark.parametrize("command", list(WALLET_COMMANDS))
@pytest.mark.parametrize("name", WALLET_CASES)
def test_wallet_commands_refuse_a_damaged_data_dir_in_one_line(
    name: str, command: str, healthy: Path, tmp_path: Path
) -> None:
    case = CASES[name]
    data, before, ran = run_on_damaged(case, WALLET_COMMANDS[command], healthy, tmp_path)

    assert ran.code == EXIT_DAMAGED, (ran.code, ran.err)
    assert len(ran.said) == 1 and case.file in ran.said[0], ran.err
    assert fingerprint(data) == before
