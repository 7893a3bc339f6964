"""Never a half-restored wallet: a restore killed at any point leaves the old file or nothing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cairn.backup.restore import RestoreOutcome, discard_staging, staging_path
from cairn.storage import SqliteStore
from tests.integration.backup.helpers import (
    back_up_records,
    records_of,
    restore_to,
    sample_records,
)

CHILD = Path(__file__).with_name("restore_child.py")
ROOT = Path(__file__).resolve().parents[3]


async def backed_up_wallet(tmp_path, url, count, size=1500):
    path = tmp_path / "source.sqlite"
    await back_up_records(path, sample_records(count, size=size), url)
    return records_of(path)


@pytest.mark.asyncio
async def test_a_restore_killed_at_random_leaves_the_old_state_or_the_new_one(backupd, tmp_path):
    expected = await backed_up_wallet(tmp_path, backupd.url, 3000)
    target = tmp_path / "records.sqlite"
    old = SqliteStore(target)
    old.put("labels/old", b"the state before the restore")
    old.close()
    old_records = records_of(target)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "app")])}
    rng = random.Random(7)
    outcomes = set()
    for _ in range(6):
        child = subprocess.Popen(
            [sys.executable, str(CHILD), str(target), backupd.url],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"started"
        time.sleep(rng.uniform(0.0, 0.6))
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        child.stdout.close()
        discard_staging(target)  # what the next start does
        got = records_of(target)
        assert got in (old_records, expected)
        outcomes.add("new" if got == expected else "old")
        if got == expected:  # put the old state back for the next round
            target.unlink()
            old = SqliteStore(target)
            old.put("labels/old", b"the state before the restore")
            old.close()
    assert "old" in outcomes  # some kills did land in the middle of a restore
    assert not staging_path(target).exists()


@pytest.mark.asyncio
async def test_a_server_killed_during_the_export_leaves_nothing_behind(backupd, tmp_path):
    # About 18 MB: more than the sockets between them can hold, so the server is still sending
    # when it is killed (a server that got everything out first makes a complete restore).
    await backed_up_wallet(tmp_path, backupd.url, 3000, size=6000)
    target = tmp_path / "restored" / "records.sqlite"
    target.parent.mkdir()

    from cairn.backup.client import RemoteBackupClient
    from cairn.backup.restore import restore_store
    from tests.integration.backup.helpers import NETWORK, keys_for

    keys = keys_for()

    def kill_midway(progress):
        if progress.done >= 500:
            backupd.kill()

    async with RemoteBackupClient(backupd.url, keys, NETWORK) as client:
        result = await restore_store(client, keys, target, progress=kill_midway)
    assert result.outcome is RestoreOutcome.UNREACHABLE
    assert list(target.parent.iterdir()) == []
    backupd.start()
    assert (await restore_to(backupd.url, target)).outcome is RestoreOutcome.RESTORED
