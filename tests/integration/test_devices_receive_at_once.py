"""Three machines on one seed, all online, asking for new addresses at the same moments: no
address is ever handed out twice, and none is skipped (a words-only recovery stops looking
after a gap of unused addresses, so skipped ones could hide a payment)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from cairn.config import AppConfig, save_config
from cairn.exitcodes import EXIT_REFUSED
from cairn.keys import Network, generate_mnemonic
from tests.support.backupd import BackupServer
from tests.support.devnet import DevnetProcess

DEVICES = 3
ROUNDS = 10
EVERY = 0.3  # seconds between one round of requests and the next


def cairn(*args: str, words: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        input=words,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_online_devices_never_hand_out_one_address_twice(
    tmp_path: Path, backupd: BackupServer, devnet: DevnetProcess
) -> None:
    words = generate_mnemonic()
    homes = [tmp_path / f"device{n}" for n in range(DEVICES)]
    for home in homes:
        home.mkdir(mode=0o700)
        config = AppConfig(
            network=Network.REGTEST, backup_server_url=backupd.url, esplora_url=devnet.url
        )
        save_config(home, config)
    made = cairn("wallet", "create", "--data-dir", str(homes[0]), "--words-stdin", words=words)
    assert made.returncode == 0, made.stderr
    for home in homes[1:]:
        restored = cairn("restore", "--data-dir", str(home), words=words)
        assert restored.returncode == 0, restored.stderr

    runs: list[subprocess.Popen[str]] = []
    for _ in range(ROUNDS):
        for home in homes:
            runs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "cairn", "wallet", "receive", "--data-dir", str(home)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    stdin=subprocess.DEVNULL,
                    text=True,
                )
            )
        time.sleep(EVERY)
    given: list[str] = []
    indexes: list[int] = []
    for run in runs:
        out, err = run.communicate(timeout=180)
        assert "Traceback" not in err, err
        if run.returncode == EXIT_REFUSED:
            # Only ever a refusal that says why and hands nothing out.
            assert "No new address could be reserved" in err, err
            assert out == ""
            continue
        assert run.returncode == 0, err
        address, index = out.split()
        given.append(address)
        indexes.append(int(index))
    assert len(given) >= len(runs) // 2, "most requests get an address"
    assert len(set(given)) == len(given), sorted(given)
    # Each index a device tried and lost was handed out by the device that won it.
    assert sorted(indexes) == list(range(min(indexes), min(indexes) + len(indexes))), sorted(
        indexes
    )
