"""Durable writes and private directories: what the seed file, config and wallet rely on."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from cairn.files import make_private_dir, sqlite_online_copy, write_file_atomically


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_private_dirs_and_their_missing_parents_are_0700(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        make_private_dir(tmp_path / "data" / "wallets" / "regtest")
    finally:
        os.umask(old)
    for path in (
        tmp_path / "data",
        tmp_path / "data" / "wallets",
        tmp_path / "data/wallets/regtest",
    ):
        assert mode(path) == 0o700, path
    make_private_dir(tmp_path / "data" / "wallets" / "regtest")  # again: nothing changes


def test_an_atomic_write_replaces_the_file_whole_with_the_mode_asked(tmp_path: Path) -> None:
    target = tmp_path / "config.json"
    write_file_atomically(target, b"old")
    assert mode(target) == 0o600
    write_file_atomically(target, b"new", 0o644)
    assert target.read_bytes() == b"new"
    assert mode(target) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temp file left


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "seed"
    write_file_atomically(target, b"old")

    def crash(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_file_atomically(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["seed"]


def test_an_online_copy_is_a_private_complete_database(tmp_path: Path) -> None:
    source = tmp_path / "wallet.sqlite"
    with sqlite3.connect(source) as conn:
        conn.execute("create table t (x)")
        conn.executemany("insert into t values (?)", [(i,) for i in range(1000)])
    conn.close()
    copy = tmp_path / "backup" / "wallet.sqlite"
    copy.parent.mkdir()
    sqlite_online_copy(source, copy)
    assert mode(copy) == 0o600
    with sqlite3.connect(copy) as check:
        assert check.execute("select count(*) from t").fetchone() == (1000,)
        assert check.execute("pragma integrity_check").fetchone() == ("ok",)
    check.close()
