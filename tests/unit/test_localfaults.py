"""Which errors are the data dir's fault (one line, exit 10 or 11) and which are bugs (None)."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest

from cairn.config import ConfigError
from cairn.exitcodes import EXIT_DAMAGED, EXIT_NOT_WRITTEN
from cairn.localfaults import local_fault
from cairn.storage import SqliteStore, StoreClosedError, StoreError


def test_a_full_disk_names_the_file_and_says_to_free_space() -> None:
    fault = local_fault(OSError(errno.ENOSPC, "No space left on device", "/d/wallets/regtest/seed"))
    assert fault is not None and fault.code == EXIT_NOT_WRITTEN
    assert "/d/wallets/regtest/seed" in fault.message and "Free some space" in fault.message


def test_sqlite_full_is_a_write_failure_not_damage() -> None:
    cause = sqlite3.OperationalError("database or disk is full")
    cause.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
    error = StoreError("/d/records.sqlite: database or disk is full")
    error.__cause__ = cause
    fault = local_fault(error)
    assert fault is not None and fault.code == EXIT_NOT_WRITTEN


def test_the_cause_chain_is_followed_and_the_message_is_one_line() -> None:
    try:
        try:
            raise ConfigError("/d/config.json is not valid JSON\n(line 2); fix it")
        except ConfigError as inner:
            raise RuntimeError("the session could not open") from inner
    except RuntimeError as outer:
        fault = local_fault(outer)
    assert fault is not None and fault.code == EXIT_DAMAGED
    assert "\n" not in fault.message and "config.json" in fault.message


@pytest.mark.parametrize(
    "error", [StoreClosedError(), ValueError("a bug"), KeyError("x"), RuntimeError("x")]
)
def test_bugs_are_not_passed_off_as_the_machines_fault(error: Exception) -> None:
    assert local_fault(error) is None


def test_a_store_that_is_not_ours_is_damage_with_the_recovery_named(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    path.write_bytes(b"\x00" * 5000)
    with pytest.raises(StoreError) as refused:
        SqliteStore(path)
    fault = local_fault(refused.value)
    assert fault is not None and fault.code == EXIT_DAMAGED
    assert str(path) in fault.message and "cairn restore --force" in fault.message
