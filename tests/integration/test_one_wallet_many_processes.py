"""Several Cairn programs on one data dir at once (the app and a script, or scripts in
parallel): their backup rounds take turns, so the server's backup stays whole and honest, and
no two of them hand out one address."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cairn.config import AppConfig, save_config
from cairn.keys import Network, generate_mnemonic
from tests.support.backupd import BackupServer
from tests.support.devnet import DevnetProcess

AT_ONCE = 4
ROUNDS = 3


def cairn(*args: str, words: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        input=words,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def data_dir(base: Path, backupd: BackupServer, devnet: DevnetProcess) -> Path:
    base.mkdir(mode=0o700)
    config = AppConfig(
        network=Network.REGTEST, backup_server_url=backupd.url, esplora_url=devnet.url
    )
    save_config(base, config)
    return base


def test_programs_on_one_wallet_take_turns_and_lose_nothing(
    tmp_path: Path, backupd: BackupServer, devnet: DevnetProcess
) -> None:
    words = generate_mnemonic()
    first = data_dir(tmp_path / "first", backupd, devnet)
    created = cairn("wallet", "create", "--data-dir", str(first), "--words-stdin", words=words)
    assert created.returncode == 0, created.stderr

    given: list[str] = []
    for _ in range(ROUNDS):
        runs = [
            subprocess.Popen(
                [sys.executable, "-m", "cairn", "wallet", "receive", "--data-dir", str(first)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
            )
            for _ in range(AT_ONCE)
        ]
        for run in runs:
            out, err = run.communicate(timeout=180)
            assert run.returncode == 0, err
            # No false alarm about the server: nothing but these programs touched it.
            for alarm in ("rollback", "integrity", "another copy"):
                assert alarm not in err, err
            given.append(out.strip().split()[-1])

    # Each program read and wrote the next index in one step: no address went out twice.
    assert len(set(given)) == len(given), given

    now = cairn("backup", "now", "--data-dir", str(first), "--json")
    assert now.returncode == 0, now.stderr
    status = json.loads(cairn("backup", "status", "--data-dir", str(first), "--json").stdout)
    assert status["pending_changes"] == 0
    assert not status.get("full_backup_reason"), status

    # A new machine gets all of it, and goes on after the last address handed out.
    second = data_dir(tmp_path / "second", backupd, devnet)
    restored = cairn("restore", "--data-dir", str(second), words=words)
    assert restored.returncode == 0, restored.stderr
    fresh = cairn("wallet", "receive", "--data-dir", str(second))
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.strip().split()[-1] not in given
