"""`cairn backup` on a first-release wallet upgrades it first, as the app does, then backs it up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cairn.config import load_config, save_config
from cairn.upgrade import detect_format
from tests.integration.upgrade.helpers import NETWORK, copy_fixture
from tests.support.backupd import BackupServer


def cairn(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_backup_now_upgrades_a_format_1_wallet_then_runs_its_full_backup(
    tmp_path: Path, backupd: BackupServer
) -> None:
    data_dir = tmp_path / "data"
    wallet_dir = copy_fixture(data_dir)
    config = load_config(data_dir).with_changes(
        network=NETWORK, backup_server_url=backupd.url, esplora_url="http://127.0.0.1:9"
    )
    save_config(data_dir, config)
    assert detect_format(wallet_dir) == 1

    done = cairn("backup", "now", "--data-dir", str(data_dir), "--json")
    assert done.returncode == 0, done.stderr
    assert "upgraded" in done.stderr
    assert json.loads(done.stdout)["sent"] == 14  # every backed-up record of the fixture
    assert detect_format(wallet_dir) == 2

    status = json.loads(cairn("backup", "status", "--data-dir", str(data_dir), "--json").stdout)
    assert status["pending_changes"] == 0
    assert not status.get("full_backup_reason")
