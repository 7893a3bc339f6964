"""Which format a wallet directory is in, and the `format` file that says so."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cairn.upgrade import UnknownFormatError, detect_format, write_format
from cairn.upgrade.formats import format_path


def test_an_empty_or_missing_directory_holds_no_wallet(tmp_path: Path) -> None:
    assert detect_format(tmp_path) is None
    assert detect_format(tmp_path / "absent") is None


def test_the_format_file_decides(tmp_path: Path) -> None:
    (tmp_path / "records.sqlite").write_bytes(b"")
    write_format(tmp_path, 1)  # a migration not yet committed: still format 1
    assert detect_format(tmp_path) == 1
    write_format(tmp_path, 2)
    assert detect_format(tmp_path) == 2
    assert format_path(tmp_path).read_text() == "2\n"
    assert stat.S_IMODE(format_path(tmp_path).stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (["records.sqlite"], 2),  # the app made the store before writing the file
        (["records.sqlite", "seed"], 2),
        (["wallet.sqlite"], 1),
        (["seed.txt", "wallet.sqlite", "settings.json"], 1),
    ],
)
def test_without_a_format_file_the_files_decide(
    tmp_path: Path, files: list[str], expected: int
) -> None:
    for name in files:
        (tmp_path / name).write_bytes(b"")
    assert detect_format(tmp_path) == expected


@pytest.mark.parametrize("text", ["3\n", "two", "", "1.5"])
def test_an_unknown_format_is_refused_not_guessed(tmp_path: Path, text: str) -> None:
    format_path(tmp_path).write_text(text)
    with pytest.raises(UnknownFormatError):
        detect_format(tmp_path)


def test_write_format_refuses_unknown_versions(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown wallet format"):
        write_format(tmp_path, 7)
