"""Crash safety: a writer killed with SIGKILL at random moments loses nothing it committed.

A child process (storage_crash_writer.py) writes to one SqliteStore in a loop and reports every
write before and after its commit. After each kill the file must pass ``PRAGMA integrity_check``,
hold every reported write, and have an outbox that matches the records exactly: one pending entry
per name changed since its last acknowledgement, with the op of the latest change.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cairn.storage import SqliteStore, is_local
from tests.integration.storage_crash_writer import value_of

WRITER = Path(__file__).with_name("storage_crash_writer.py")
KILLS = 60


@dataclass
class Model:
    """What the store must contain: records, and pending (name -> op) in seq order."""

    records: dict[str, bytes] = field(default_factory=dict)
    pending: dict[str, str] = field(default_factory=dict)

    def copy(self) -> Model:
        return Model(dict(self.records), dict(self.pending))

    def apply(self, write: dict[str, Any]) -> None:
        kind = write["k"]
        if kind == "put":
            self._put(write["name"], value_of(write["v"], write["n"]))
        elif kind == "del":
            self._delete(write["name"])
        elif kind == "batch":
            for name, token, reps in write["puts"]:
                self._put(name, value_of(token, reps))
            for name in write["dels"]:
                self._delete(name)
        else:
            for name in write["names"]:
                del self.pending[name]

    def _put(self, name: str, value: bytes) -> None:
        self.records[name] = value
        self._enqueue(name, "put")

    def _delete(self, name: str) -> None:
        if self.records.pop(name, None) is not None:
            self._enqueue(name, "delete")

    def _enqueue(self, name: str, op: str) -> None:
        if not is_local(name):
            self.pending.pop(name, None)
            self.pending[name] = op


def reported(stdout: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Writes the child reported committed, and the one it had started, if any."""
    committed: list[dict[str, Any]] = []
    started: dict[str, Any] | None = None
    for line in stdout.splitlines(keepends=True):
        if not line.endswith("\n"):
            break  # cut off by the kill
        if line.startswith("I "):
            assert started is None
            started = json.loads(line[2:])
        elif line == "C\n":
            assert started is not None
            committed.append(started)
            started = None
    return committed, started


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return "; ".join(str(r[0]) for r in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()


def on_disk(path: Path) -> Model:
    with SqliteStore(path) as store:
        records = dict(store.scan())
        entries = store.outbox_pending(limit=100_000)
    seqs = [e.seq for e in entries]
    assert seqs == sorted(set(seqs))
    for entry in entries:
        # The outbox agrees with the records: a pending put has a value, a pending delete none.
        assert (entry.op == "put") == (entry.name in records), entry
        assert not is_local(entry.name)
    return Model(records, {e.name: e.op for e in entries})


def run_and_kill(path: Path, seed: int, rng: random.Random) -> tuple[str, str]:
    child = subprocess.Popen(
        [sys.executable, str(WRITER), str(path), str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stderr is not None
    if rng.random() < 0.15:
        time.sleep(rng.uniform(0, 0.06))  # sometimes while it starts or opens the file
    else:
        if child.stdout.readline() != "ready\n":
            child.kill()
            raise AssertionError(f"writer failed to start: {child.communicate()[1]}")
        time.sleep(rng.uniform(0, 0.12))
    child.send_signal(signal.SIGKILL)
    # Read through the same buffered pipe objects as readline() above: communicate() would
    # skip what they already buffered.
    with child.stdout, child.stderr:
        out, err = child.stdout.read(), child.stderr.read()
    child.wait()
    assert child.returncode == -signal.SIGKILL, f"writer died on its own: {err}"
    return out, err


def test_sigkilled_writer_loses_no_committed_write(tmp_path: Path) -> None:
    base_seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(base_seed)
    path = tmp_path / "records.sqlite"
    model = Model()
    total_committed = 0
    for run in range(KILLS):
        out, _ = run_and_kill(path, base_seed * 1000 + run, rng)
        committed, in_flight = reported(out)
        for write in committed:
            model.apply(write)
        total_committed += len(committed)
        where = f"seed {base_seed}, run {run}"
        if not path.exists():
            assert not committed, where
            continue
        assert integrity(path) == "ok", where
        found = on_disk(path)
        candidates = [model]
        if in_flight is not None:
            # Killed between the commit and its report: the write may be there, whole, or not at all.
            done = model.copy()
            done.apply(in_flight)
            candidates.append(done)
        matching = [
            m
            for m in candidates
            if m.records == found.records and list(m.pending.items()) == list(found.pending.items())
        ]
        assert matching, f"{where}: the store differs from every write reported committed"
        model = matching[-1]
    assert total_committed > KILLS * 5  # the kills landed while the writer was busy
