"""Two programs creating or restoring the same wallet at once: one makes it, the other is
refused (busy, or the wallet is already there) and touches nothing; the wallet that is left is
whole and is the one whose program said so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cairn.config import AppConfig, save_config
from cairn.exitcodes import EXIT_BUSY, EXIT_OK, EXIT_WALLET_EXISTS
from cairn.keys import Network, generate_mnemonic
from cairn.seedfile import load_seed
from cairn.walletlock import WalletLock
from tests.integration.datadir_support import UNUSED_ESPLORA, WALLET, cairn, fingerprint
from tests.support.backupd import BackupServer

ATTEMPTS = 3
REFUSED = {EXIT_BUSY, EXIT_WALLET_EXISTS}


def settings(data_dir: Path, server: str) -> Path:
    data_dir.mkdir(mode=0o700)
    save_config(
        data_dir,
        AppConfig(network=Network.REGTEST, backup_server_url=server, esplora_url=UNUSED_ESPLORA),
    )
    return data_dir


def words_file(path: Path, words: str) -> Path:
    path.write_text(words + "\n", encoding="utf-8")
    return path


def at_once(commands: list[tuple[list[str], Path]]) -> list[tuple[int, str, str]]:
    """Each command (argv, its standard input) in a process of its own, all started together."""
    runs = []
    for argv, stdin in commands:
        with stdin.open("rb") as handle:
            runs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "cairn", *argv],
                    stdin=handle,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
                )
            )
    done = []
    for run in runs:
        out, err = run.communicate(timeout=120)
        done.append((run.returncode, out, err))
    return done


def one_made_it(done: list[tuple[int, str, str]], words: list[str]) -> str:
    """The words of the one program that succeeded; the other was refused in so many words."""
    codes = [code for code, _, _ in done]
    assert sorted(codes)[0] == EXIT_OK and set(codes) - {EXIT_OK} <= REFUSED, [
        e for _, _, e in done
    ]
    assert codes.count(EXIT_OK) == 1, done
    for code, _, err in done:
        assert "Traceback" not in err, err
        if code == EXIT_BUSY:
            assert "Another Cairn program is creating or restoring" in err, err
    return words[codes.index(EXIT_OK)]


def check_wallet(data_dir: Path, words: str) -> None:
    assert load_seed(data_dir / WALLET) == (words, "")
    status = cairn(["backup", "status"], data_dir)
    assert status.code == EXIT_OK, status
    assert not (data_dir / "wallets" / "regtest.lock").exists()


def test_two_creates_at_once_leave_the_one_wallet_that_was_reported(
    tmp_path: Path, backupd: BackupServer
) -> None:
    words = [generate_mnemonic(), generate_mnemonic()]
    stdin = [words_file(tmp_path / f"words{i}", w) for i, w in enumerate(words)]
    for attempt in range(ATTEMPTS):
        data = settings(tmp_path / f"create{attempt}", backupd.url)
        argv = ["wallet", "create", "--data-dir", str(data), "--words-stdin"]
        done = at_once([(argv, stdin[0]), (argv, stdin[1])])
        check_wallet(data, one_made_it(done, words))


def test_two_restores_at_once_leave_the_one_wallet_that_was_reported(
    tmp_path: Path, backupd: BackupServer
) -> None:
    words = [generate_mnemonic(), generate_mnemonic()]
    files = [words_file(tmp_path / f"words{i}", w) for i, w in enumerate(words)]
    for i, phrase in enumerate(words):  # a backup of each on the server
        source = settings(tmp_path / f"source{i}", backupd.url)
        made = cairn(["wallet", "create", "--words-stdin"], source, stdin=phrase)
        assert made.code == EXIT_OK, made
    for attempt in range(ATTEMPTS):
        data = tmp_path / f"restore{attempt}"
        argv = ["restore", "--data-dir", str(data), "--server", backupd.url, "--network", "regtest"]
        nothing = Path(os.devnull)
        done = at_once([([*argv, "--words-file", str(f)], nothing) for f in files])
        check_wallet(data, one_made_it(done, words))


@pytest.mark.parametrize("command", ["wallet create", "restore"])
def test_a_wallet_being_made_by_another_program_is_refused_and_left_alone(
    tmp_path: Path, backupd: BackupServer, command: str
) -> None:
    data = settings(tmp_path / "data", backupd.url)
    (data / "wallets").mkdir(mode=0o700)
    before = fingerprint(data)
    argv = (
        ["wallet", "create", "--words-stdin"]
        if command == "wallet create"
        else ["restore", "--server", backupd.url, "--network", "regtest"]
    )
    with WalletLock.take(data / WALLET):
        ran = cairn(argv, data, stdin=generate_mnemonic() + "\n")
        during = fingerprint(data)
    assert ran.code == EXIT_BUSY, ran
    assert ran.said == [
        f"cairn: Another Cairn program is creating or restoring the regtest wallet in {data} "
        "right now; nothing was changed. Let it finish, then try again."
    ], ran
    assert not (data / WALLET).exists()
    assert {k: v for k, v in during.items() if k != "wallets/regtest.lock"} == before
    assert fingerprint(data) == before


@pytest.mark.parametrize("command", ["wallet create", "restore"])
def test_a_lock_held_for_a_moment_by_a_start_does_not_refuse_a_creation(
    tmp_path: Path, backupd: BackupServer, command: str
) -> None:
    # Every start takes the lock for a moment to clear leftovers (`cairn backup status` run
    # beside a restore, say); a creation meeting it waits for it instead of calling it busy.
    words = generate_mnemonic()
    if command == "restore":
        source = settings(tmp_path / "source", backupd.url)
        assert cairn(["wallet", "create", "--words-stdin"], source, stdin=words).code == EXIT_OK
    data = settings(tmp_path / "data", backupd.url)
    argv = (
        ["wallet", "create", "--words-stdin"]
        if command == "wallet create"
        else ["restore", "--server", backupd.url, "--network", "regtest"]
    )
    with subprocess.Popen(
        [sys.executable, "-c", HOLD_FOR_A_MOMENT, str(data / WALLET)],
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        ran = cairn(argv, data, stdin=words + "\n")
        assert holder.wait(timeout=30) == 0
    assert ran.code == EXIT_OK, ran
    check_wallet(data, words)


HOLD_FOR_A_MOMENT = """
import sys, time
from pathlib import Path
from cairn.walletlock import WalletLock
with WalletLock.take(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(1.5)
"""
