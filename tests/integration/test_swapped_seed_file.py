"""A seed file put beside another wallet's records (copied over, or data dirs mixed up): the
records of one wallet never go into the backup of the other seed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from cairn.config import AppConfig, save_config, wallet_dir
from cairn.exitcodes import EXIT_DAMAGED
from cairn.keys import Network, generate_mnemonic
from cairn.seedfile import seed_path
from tests.support.backupd import BackupServer
from tests.support.devnet import DevnetProcess


def cairn(*args: str, words: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        input=words,
        stdin=None if words is not None else subprocess.DEVNULL,
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


def created(base: Path, words: str) -> None:
    made = cairn("wallet", "create", "--data-dir", str(base), "--words-stdin", words=words)
    assert made.returncode == 0, made.stderr


def test_a_swapped_seed_file_sends_nothing_and_the_other_backup_stays_whole(
    tmp_path: Path, backupd: BackupServer, devnet: DevnetProcess
) -> None:
    mine, theirs = generate_mnemonic(), generate_mnemonic()
    home = data_dir(tmp_path / "home", backupd, devnet)
    work = data_dir(tmp_path / "work", backupd, devnet)
    created(home, mine)
    created(work, theirs)
    labelled = cairn("wallet", "label", "set", "tx", "ab" * 32, "rent", "--data-dir", str(home))
    assert labelled.returncode == 0, labelled.stderr

    # The work wallet's seed file ends up beside the home wallet's records.
    home_seed = seed_path(wallet_dir(home, Network.REGTEST))
    shutil.copy2(seed_path(wallet_dir(work, Network.REGTEST)), home_seed)
    for command in (("sync",), ("backup", "now"), ("wallet", "receive")):
        refused = cairn(*command, "--data-dir", str(home))
        assert refused.returncode == EXIT_DAMAGED, (command, refused.stdout, refused.stderr)
        assert "another recovery phrase" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr

    # The work words still bring back the work wallet alone, and it opens.
    elsewhere = data_dir(tmp_path / "elsewhere", backupd, devnet)
    restored = cairn("restore", "--data-dir", str(elsewhere), words=theirs)
    assert restored.returncode == 0, restored.stderr
    opened = cairn("wallet", "receive", "--data-dir", str(elsewhere))
    assert opened.returncode == 0, opened.stderr
    labels = cairn("wallet", "label", "list", "--data-dir", str(elsewhere))
    assert labels.returncode == 0, labels.stderr
    assert "rent" not in labels.stdout
