"""One check of the backup server address, the same answer in the wizard, Settings and the CLI."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cairn.commands import backup as commands
from cairn.config import AppConfig
from cairn.exitcodes import EXIT_USAGE
from cairn.onboarding.validation import server_url_problem as wizard_problem
from cairn.serverurl import checked_server_url, server_url_problem
from cairn.session import Session, SessionError

ACCEPTED = [
    "https://backup.example.org",
    "https://backup.example.org:8443/",
    "http://127.0.0.1:8470",
    "http://localhost:8470/",
    "http://[::1]:8470",
]
REFUSED = [
    "",
    "backup.example.org",
    "ftp://backup.example.org",
    "http://backup.example.org",
    "http://192.168.1.20:8470",
    "https://backup.example.org/?x=1",
    "https://backup.example.org/#top",
    "https://backup.example.org:port",
    "https://",
]


@pytest.mark.parametrize("url", ACCEPTED)
def test_accepted_everywhere(url: str) -> None:
    assert server_url_problem(url) is None
    assert wizard_problem(url) is None
    assert checked_server_url(url) == url.rstrip("/")


@pytest.mark.parametrize("url", REFUSED)
def test_refused_everywhere_with_the_same_sentence(url: str, tmp_path: Path, capsys) -> None:
    problem = server_url_problem(url)
    assert problem is not None
    assert wizard_problem(url) == problem
    with pytest.raises(ValueError, match="^" + problem.replace("?", r"\?") + "$"):
        checked_server_url(url)
    if url:  # an empty address is how a session forgets its server
        with pytest.raises(SessionError):
            Session(tmp_path, AppConfig()).set_backup_server(url)
        assert not (tmp_path / "config.json").exists()
        argv = ["restore", "--data-dir", str(tmp_path), "--server", url, "--network", "regtest"]
        assert asyncio.run(asyncio.to_thread(commands.main, argv)) == EXIT_USAGE
        assert problem in capsys.readouterr().err
