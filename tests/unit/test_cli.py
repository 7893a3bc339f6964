"""The `cairn` command: dispatch, the no-display message, and `wallet create`."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from cairn import cli
from cairn.config import load_config
from cairn.exitcodes import (
    EXIT_CODES,
    EXIT_NO_WALLET,
    EXIT_NOT_FOUND,
    EXIT_NOT_WRITTEN,
    EXIT_USAGE,
    EXIT_WALLET_EXISTS,
    exit_code_table,
)
from cairn.keys import Network
from cairn.seedfile import load_seed

WORDS = (
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
)


def test_no_display_is_explained_not_a_crash(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(cli.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    assert cli.main(["--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no display" in err
    assert "xvfb-run" in err


def test_subcommand_options_do_not_hide_global_ones():
    args = cli.build_parser().parse_args(["--data-dir", "X", "--offscreen", "demo"])
    assert args.command == "demo"
    assert args.data_dir == "X"
    assert args.offscreen
    args = cli.build_parser().parse_args(["demo", "--data-dir", "Y"])
    assert args.data_dir == "Y"


def test_devnet_and_backup_are_dispatched(capsys):
    with pytest.raises(SystemExit) as devnet_help:
        cli.main(["devnet", "--help"])
    assert devnet_help.value.code == 0
    assert "cairn devnet" in capsys.readouterr().out
    with pytest.raises(SystemExit) as backup_help:
        cli.main(["backup", "--help"])
    assert backup_help.value.code == 0
    assert "status" in capsys.readouterr().out


def test_wallet_help_lists_every_wallet_tool(capsys):
    with pytest.raises(SystemExit) as shown:
        cli.main(["wallet", "--help"])
    assert shown.value.code == 0
    out = capsys.readouterr().out
    for tool in ("create", "label", "prefs", "receive"):
        assert f"    {tool} " in out, out


def test_the_data_dir_given_before_a_command_is_the_commands(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(cli.sys, "stdin", io.StringIO(WORDS + "\n"))
    created = ["--data-dir", str(tmp_path), "wallet", "create", "--network", "regtest"]
    assert cli.main([*created, "--words-stdin", "--no-backup"]) == 0
    assert load_seed(tmp_path / "wallets" / "regtest")[0] == WORDS
    capsys.readouterr()
    assert cli.main([f"--data-dir={tmp_path}", "wallet", "prefs", "set", "fiat", "EUR"]) == 0
    assert cli.main(["--data-dir", str(tmp_path), "wallet", "prefs", "get", "fiat"]) == 0
    assert capsys.readouterr().out == "EUR\n"
    # Not found has a code of its own, not that of a file that could not be written.
    missing = ["--data-dir", str(tmp_path), "wallet", "prefs", "get", "unit"]
    assert cli.main(missing) == EXIT_NOT_FOUND != EXIT_NOT_WRITTEN
    assert cli.main(["--data-dir", str(tmp_path / "none"), "backup", "status"]) == EXIT_NO_WALLET
    assert str(tmp_path / "none") in capsys.readouterr().err


def test_wallet_create_from_stdin_without_backup(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(cli.sys, "stdin", io.StringIO(WORDS + "\n"))
    argv = ["wallet", "create", "--data-dir", str(tmp_path), "--network", "regtest"]
    assert cli.main([*argv, "--words-stdin", "--no-backup"]) == 0
    assert load_config(tmp_path).network is Network.REGTEST
    assert load_seed(tmp_path / "wallets" / "regtest")[0] == WORDS
    assert (tmp_path / "wallets" / "regtest" / "records.sqlite").exists()
    # A second create never overwrites a wallet.
    monkeypatch.setattr(cli.sys, "stdin", io.StringIO(WORDS + "\n"))
    assert cli.main([*argv, "--words-stdin", "--no-backup"]) == EXIT_WALLET_EXISTS
    assert "already exists" in capsys.readouterr().err


def test_wallet_create_refuses_bad_words(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(cli.sys, "stdin", io.StringIO("abandon " * 12))
    argv = ["wallet", "create", "--data-dir", str(tmp_path), "--network", "regtest"]
    assert cli.main([*argv, "--words-stdin", "--no-backup"]) == EXIT_USAGE
    assert "checksum" in capsys.readouterr().err
    assert not (tmp_path / "wallets" / "regtest" / "seed").exists()


def test_a_word_not_in_the_list_is_named_by_its_position_never_quoted(
    monkeypatch, tmp_path, capsys
):
    words = WORDS.split()
    words[4] = "notaword"
    monkeypatch.setattr(cli.sys, "stdin", io.StringIO(" ".join(words)))
    argv = ["wallet", "create", "--data-dir", str(tmp_path), "--network", "regtest"]
    assert cli.main([*argv, "--words-stdin", "--no-backup"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "word 5 is not in the BIP39 English word list" in err
    assert "notaword" not in err


def test_help_and_readme_list_every_exit_code(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert exit_code_table() in capsys.readouterr().out
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    documented = {int(line.split("|")[1]) for line in readme.splitlines() if _is_code_row(line)}
    assert documented == set(EXIT_CODES)
    man = (Path(__file__).resolve().parents[2] / "packaging" / "man" / "cairn.1").read_text()
    status = man.split(".SH EXIT STATUS", 1)[1].split(".SH", 1)[0].splitlines()
    in_man = {int(line[3:]) for line in status if line.startswith(".B ")}
    assert in_man == set(EXIT_CODES)


def _is_code_row(line: str) -> bool:
    cells = line.split("|")
    return len(cells) > 2 and cells[1].strip().isdigit()


@pytest.mark.parametrize(
    "command",
    [["restore", "--data-dir", "/nowhere"], ["wallet", "label", "list"], ["backup", "status"]],
)
def test_words_typed_as_arguments_are_never_repeated(command):
    import subprocess
    import sys

    from tests.support.words import PHRASE

    result = subprocess.run(
        [sys.executable, "-m", "cairn", *command, *PHRASE.split()],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == EXIT_USAGE
    assert "--words-file" in result.stderr
    for word in set(PHRASE.split()):
        assert word not in result.stdout + result.stderr
