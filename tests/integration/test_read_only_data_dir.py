"""A data dir on a read-only disk (a mounted copy, a locked-down folder): Cairn says it cannot
write there, never that the wallet is damaged and should be restored over."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.exitcodes import EXIT_NOT_WRITTEN
from tests.support.words import PHRASE


def cairn(*args: str, words: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        input=words if words is not None else "",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def read_only_data_dir(tmp_path: Path) -> Iterator[Path]:
    data = tmp_path / "data"
    made = cairn(
        "wallet", "create", "--data-dir", str(data), "--network", "regtest",
        "--words-stdin", "--no-backup", words=PHRASE,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert cairn("wallet", "prefs", "set", "fiat", "EUR", "--data-dir", str(data)).returncode == 0
    view = tmp_path / "view"
    view.mkdir()
    # A read-only bind mount: root ignores file modes, not a read-only mount.
    mounted = subprocess.run(["mount", "--bind", str(data), str(view)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount here: {mounted.stderr.decode().strip()}")
    try:
        remount = ["mount", "-o", "remount,bind,ro", str(view)]
        assert subprocess.run(remount, capture_output=True).returncode == 0
        yield view
    finally:
        subprocess.run(["umount", str(view)], check=True)


@pytest.mark.parametrize(
    "command", [("wallet", "prefs", "list"), ("wallet", "label", "list"), ("wallet", "receive")]
)
def test_a_read_only_data_dir_is_told_as_one(read_only_data_dir: Path, command: tuple[str, ...]):
    ran = cairn(*command, "--data-dir", str(read_only_data_dir))
    assert ran.returncode == EXIT_NOT_WRITTEN, ran.stderr
    assert ran.stderr.count("\n") == 1 and "Traceback" not in ran.stderr
    assert "cannot be written" in ran.stderr or "Read-only file system" in ran.stderr
    # Nothing to upgrade, nothing damaged: what is in the way is the disk.
    for misleading in ("upgrade", "restore", "damaged"):
        assert misleading not in ran.stderr, ran.stderr
