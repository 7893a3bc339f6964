"""Crashes during uploads lose nothing: the client SIGKILLed at random (32 runs) and the server
SIGKILLed mid-upload; after restarts, everything the local store committed is on the server."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cairn.backup.restore import RestoreOutcome
from tests.integration.backup.helpers import open_store, records_of, restore_to, service_for

CHILD = Path(__file__).with_name("crash_client.py")
ROOT = Path(__file__).resolve().parents[3]
RUNS = 32


def run_child_until_killed(path: Path, url: str, seed: int, server, rng: random.Random) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "app")])}
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(path), url, str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip() == b"ready", child.stderr.read() if child.stderr else b""
        time.sleep(rng.uniform(0.02, 0.35))
        if seed % 8 == 3:
            server.kill()  # the server dies in the middle of the client's uploads
            time.sleep(rng.uniform(0.0, 0.1))
            server.start()
            time.sleep(rng.uniform(0.0, 0.1))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL, child.stderr.read() if child.stderr else b""
    if child.stdout is not None:
        child.stdout.close()
    if child.stderr is not None:
        child.stderr.close()


@pytest.mark.slow
@pytest.mark.asyncio
async def test_nothing_committed_is_lost_when_client_and_server_are_killed(backupd, tmp_path):
    path = tmp_path / "records.sqlite"
    rng = random.Random(20261126)
    for seed in range(RUNS):
        run_child_until_killed(path, backupd.url, seed, backupd, rng)

    local = records_of(path)
    assert len(local) > 100  # the children did write a good deal

    # The app starts once more and finishes what the killed runs left pending.
    store = open_store(path)
    service = service_for(store, backupd.url)
    await service.prepare()
    pending_before = service.status.current.pending_changes
    await service.backup_now()
    assert service.status.current.pending_changes == 0
    assert service.status.current.full_backup_reason is None
    await service.stop()
    await store.aclose()
    assert pending_before < len(local)  # most had gone out before the kills

    restored = tmp_path / "restored.sqlite"
    result = await restore_to(backupd.url, restored)
    assert result.outcome is RestoreOutcome.RESTORED, result.detail
    assert records_of(restored) == local
