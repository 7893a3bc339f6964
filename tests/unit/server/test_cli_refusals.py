"""cairn-backupd refuses unclear settings with one line, and never invents a database."""

from __future__ import annotations

import pytest

from cairn.server.cli import main
from cairn.server.config import sqlite_path


def test_stats_on_a_missing_database_is_refused_and_creates_nothing(tmp_path, capsys):
    missing = tmp_path / "nope" / "backupd.sqlite"
    assert main(["stats", "--db", str(missing)]) == 2
    assert "no database at" in capsys.readouterr().err
    assert not missing.parent.exists()


def test_an_unknown_log_level_is_one_line_not_a_traceback(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CAIRN_BACKUPD_LOG_LEVEL", "verbose")
    assert main(["migrate", "--db", str(tmp_path / "db.sqlite")]) == 2
    err = capsys.readouterr().err
    assert "CAIRN_BACKUPD_LOG_LEVEL must be one of" in err and "Traceback" not in err


def test_sqlite_urls_name_absolute_files_and_other_urls_are_refused(tmp_path):
    assert sqlite_path("sqlite:///var/lib/cairn/backupd.sqlite").as_posix() == (
        "/var/lib/cairn/backupd.sqlite"
    )
    assert sqlite_path("relative.sqlite").as_posix() == "relative.sqlite"
    for url in ("sqlite://relative.db", "mysql://host/db", "sqlite:x.db"):
        with pytest.raises(ValueError, match="neither a file path"):
            sqlite_path(url)


def test_migrate_accepts_a_sqlite_url_and_says_when_it_makes_the_folder(tmp_path, capsys):
    target = tmp_path / "new" / "backupd.sqlite"
    assert main(["migrate", "--db", f"sqlite:///{target}"]) == 0
    assert target.is_file()
    assert "creating" in capsys.readouterr().err
    assert not (tmp_path / "sqlite:").exists()
