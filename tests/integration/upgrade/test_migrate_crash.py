"""SIGKILL at random points of a migration never leaves a half-migrated wallet.

A forking child (migration_forker.py) migrates copies of the fixture; each migration is killed
after a random delay spread over a migration's measured duration. After every kill the
directory must be a complete format-1 directory (legacy files byte for byte as before) or a
complete format-2 one (records equal to an uninterrupted migration's, seed file readable), and
the next migration must finish it to exactly the reference.
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.seedfile import load_seed
from cairn.upgrade import detect_format, upgrade_wallet_dir
from tests.integration.upgrade.helpers import (
    INPUTS,
    NETWORK,
    copy_fixture,
    dump_records,
    legacy_bytes,
    sqlite_ok,
)

FORKER = Path(__file__).with_name("migration_forker.py")
KILLS = 20
MAX_ATTEMPTS = 40
FINAL_FILES = ["format", "records.sqlite", "seed", "upgrade-backup"]


class Forker:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(FORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def start(self, wallet_dir: Path) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{wallet_dir}\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line.startswith("pid "), line
        return int(line.split()[1])

    def wait(self) -> tuple[int, float | None]:
        """Reap the fork: its wait status, and how long it took when it finished."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("reap\n")
        self.process.stdin.flush()
        took = None
        line = self.process.stdout.readline()
        if line.startswith("done "):
            took = float(line.split()[1])
            line = self.process.stdout.readline()
        assert line.startswith("exit "), line
        return int(line.split()[1]), took

    def close(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        self.process.wait(10)
        self.process.stdout.close()


@pytest.fixture
def forker() -> Iterator[Forker]:
    child = Forker()
    yield child
    child.close()


def test_sigkill_at_random_points_never_leaves_half_a_wallet(
    tmp_path: Path, forker: Forker
) -> None:
    reference_dir = copy_fixture(tmp_path / "reference")
    legacy = legacy_bytes(reference_dir)
    durations: list[float] = []
    for run in range(2):  # the first run warms the file cache
        forker.start(copy_fixture(tmp_path / f"timing-{run}") if run else reference_dir)
        status, took = forker.wait()
        assert status == 0 and took is not None
        durations.append(took)
    reference = dump_records(reference_dir / "records.sqlite")
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    outcomes: Counter[str] = Counter()
    landed = 0
    for attempt in range(MAX_ATTEMPTS):
        if landed >= KILLS:
            break
        wallet_dir = copy_fixture(tmp_path / f"run-{attempt}")
        # The machine's load changes how long a migration takes: aim within the recent ones.
        duration = statistics.median(durations[-5:])
        # A third of the kills aim at the end, where the file switch and the commit happen.
        low = 0.75 if attempt % 3 == 2 else 0.0
        delay = rng.uniform(duration * low, duration)
        pid = forker.start(wallet_dir)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)  # a fork that finished is a zombie until reaped: no error
        status, took = forker.wait()
        if took is not None:
            durations.append(took)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        landed += killed
        where = f"seed {seed}, attempt {attempt}, delay {delay:.3f}s of {duration:.3f}s"
        outcomes[_check_complete(wallet_dir, legacy, reference, where)] += 1
        # The next start completes what the kill interrupted, to exactly the reference.
        upgrade_wallet_dir(wallet_dir, NETWORK)
        assert dump_records(wallet_dir / "records.sqlite") == reference, where
        assert sorted(p.name for p in wallet_dir.iterdir()) == FINAL_FILES, where
        assert load_seed(wallet_dir) == (INPUTS["mnemonic"], ""), where
    print(
        f"kills landed: {landed}, outcomes: {dict(outcomes)}, seed {seed}, durations {[round(d, 3) for d in durations]}"
    )
    assert landed >= KILLS, f"only {landed} kills landed inside a migration (seed {seed})"
    assert outcomes["format 1"] > 0


def _check_complete(
    wallet_dir: Path, legacy: dict[str, bytes], reference: dict[str, object], where: str
) -> str:
    """The directory is wholly one format; which one (with what the kill left behind)."""
    found = detect_format(wallet_dir)
    names = {p.name for p in wallet_dir.iterdir()}
    if found == 1:
        # Every legacy file is there and unchanged: the first release could still open it.
        assert legacy_bytes(wallet_dir) == legacy, where
        return "format 1"
    assert found == 2, where
    assert sqlite_ok(wallet_dir / "records.sqlite"), where
    assert dump_records(wallet_dir / "records.sqlite") == reference, where
    assert load_seed(wallet_dir) == (INPUTS["mnemonic"], ""), where
    assert sqlite_ok(wallet_dir / "upgrade-backup" / "wallet.sqlite"), where
    return "format 2, cleaning up" if "seed.txt" in names else "format 2"
