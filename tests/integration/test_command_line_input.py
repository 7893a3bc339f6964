"""What the commands are given that is not text, or not there: bytes that are not UTF-8 in an
argument or a words file, standard input closed. Each is one clear line on stderr and the
usage exit code, never a traceback, and nothing stored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cairn.config import wallet_dir
from cairn.exitcodes import EXIT_USAGE
from cairn.keys import Network
from cairn.storage import SqliteStore
from tests.integration.datadir_support import offline_wallet
from tests.support.words import PHRASE

TXID = "f91d0a8a78462bc59398f2c5d7a84fcff491c26ba54c4833478b202796c8aafd"
ADDRESS = "bcrt1q6rz28mcfaxtmd6v789l9rrlrusdprr9pz3cppk"
NOT_UTF8 = b"\xff"
SERVER = "http://127.0.0.1:9"  # never reached: each command stops before it would be


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = offline_wallet(tmp_path / "data")
    return data


def cairn(*args: str | bytes, stdin: bytes | None = b"") -> tuple[int, str]:
    """`cairn ARGS` in a process of its own; `stdin=None` starts it with standard input
    closed (`<&-`). Its exit code and what it wrote on stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        input=stdin,
        stdin=subprocess.DEVNULL if stdin is None else None,
        preexec_fn=(lambda: os.close(0)) if stdin is None else None,
        capture_output=True,
        timeout=90,
        check=False,
    )
    return done.returncode, done.stderr.decode("utf-8", "replace")


def said_once(code: int, err: str, words: str) -> None:
    assert code == EXIT_USAGE, err
    assert "Traceback" not in err and "codec" not in err, err
    assert err.count("\n") == 1 and err.startswith("cairn: ") and words in err, err


def labels_stored(data: Path) -> list[str]:
    store = SqliteStore(wallet_dir(data, Network.REGTEST) / "records.sqlite")
    try:
        return [name for name, _ in store.scan("labels/")] + [n for n, _ in store.scan("prefs/")]
    finally:
        store.close()


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["wallet", "label", "set", "tx", TXID, NOT_UTF8], "a label must be UTF-8 text"),
        (["wallet", "label", "set", "addr", ADDRESS, b"rent " + NOT_UTF8], "UTF-8 text"),
        (["wallet", "label", "set", "pubkey", NOT_UTF8, "x"], "reference is not UTF-8 text"),
        (["wallet", "prefs", "set", "fiat_currency", NOT_UTF8], "must be UTF-8 text"),
        (["wallet", "prefs", "set", NOT_UTF8, "EUR"], "name that is not UTF-8 text"),
        (["wallet", "prefs", "get", NOT_UTF8], "name that is not UTF-8 text"),
    ],
)
def test_arguments_that_are_not_utf8_are_refused_in_words(
    data_dir: Path, argv: list[str | bytes], words: str
) -> None:
    code, err = cairn(*argv, "--data-dir", str(data_dir))
    said_once(code, err, words)
    assert labels_stored(data_dir) == []


def test_a_words_file_that_is_not_utf8_is_refused_in_words(tmp_path: Path) -> None:
    for name, content in [
        ("binary", b"\xff\xfe\n"),
        ("latin-1 passphrase", PHRASE.encode() + b"\nm\xf6we\n"),
    ]:
        words = tmp_path / name
        words.write_bytes(content)
        target = tmp_path / f"restored {name}"
        code, err = cairn(
            "restore",
            "--data-dir",
            str(target),
            "--server",
            SERVER,
            "--network",
            "regtest",
            "--words-file",
            str(words),
        )
        said_once(code, err, "the recovery words are not UTF-8 text")
        assert not target.exists()


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["restore", "--server", SERVER, "--network", "regtest"], "standard input is closed"),
        (["wallet", "create", "--words-stdin"], "standard input is closed"),
        (["wallet", "labels", "import", "-"], "standard input is closed"),
        (
            ["wallet", "send", ADDRESS, "1000 sat", "--fee-rate", "2"],
            "no terminal to confirm the payment on",
        ),
    ],
)
def test_closed_standard_input_is_told_as_such(
    data_dir: Path, tmp_path: Path, argv: list[str], words: str
) -> None:
    target = data_dir if argv[0] == "wallet" and argv[1] != "create" else tmp_path / "new"
    code, err = cairn(*argv, "--data-dir", str(target), stdin=None)
    said_once(code, err, words)
    assert labels_stored(data_dir) == []
    assert not (tmp_path / "new" / "wallets").exists()
