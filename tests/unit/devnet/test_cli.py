"""The `cairn-devnet` command line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cairn.devnet.cli import build_parser, main


def test_defaults_match_the_documented_ones() -> None:
    args = build_parser().parse_args([])
    assert (args.host, args.port, args.block_interval, args.verify_signatures) == (
        "127.0.0.1",
        3002,
        0.0,
        True,
    )
    assert build_parser().parse_args(["--no-verify-signatures"]).verify_signatures is False


def test_a_negative_block_interval_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--block-interval", "-1"])
    assert exited.value.code == 2
    assert "--block-interval" in capsys.readouterr().err


def test_the_module_runs_as_a_program() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cairn.devnet", "--help"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0
    assert "--state" in done.stdout
