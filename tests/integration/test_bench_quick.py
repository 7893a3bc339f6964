"""scripts/bench.py still runs end to end: every part prints its figures, baselines and ratios.

Its quick mode is small and brief, so its timings say little, and it never fails on one; the
targets are checked by the full run (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.postgres
def test_the_benchmark_runs_every_part_and_prints_ratios() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for section in ("cairn-backupd", "restore and full backup", "one change", "cold start"):
        assert f"== {section}" in out, out
    checks = re.findall(r"^  (ok|MISSED) +(.+): .+ = ([0-9.]+)x \(target", out, re.MULTILINE)
    names = {name for _, name, _ in checks}
    for expected in (
        "SQLite server CPU per PUT",
        "PostgreSQL PUT/s with 64 clients",
        "restore of 3,000 records",
        "full backup per record at 3,000 against 1,000",
        "client restore memory growth from 1,000 to 3,000 records",
        "event -> server acknowledgement, p99",
        "cold start to the main window",
        "memory with the main window showing",
    ):
        assert expected in names, (expected, out)
    assert all(float(ratio) >= 0 for _, _, ratio in checks)  # a growth can be nil
    assert re.search(r"\d+ of \d+ targets met", out)
    assert "load average" in out
