"""Settings precedence: flag, then CAIRN_BACKUPD_* environment, then default."""

from __future__ import annotations

import pytest

from cairn.server.cli import build_parser, settings_from
from cairn.server.config import MIB, Limits, Settings, default_db_path, from_env


def settings(argv: list[str], env: dict[str, str] | None = None) -> Settings:
    return settings_from(build_parser().parse_args(["serve", *argv]), env or {})


def test_defaults_are_the_protocol_limits_and_a_sqlite_file() -> None:
    s = settings([])
    assert s.limits == Limits()
    assert (s.limits.max_object_bytes, s.limits.max_batch_items) == (4 * MIB, 1000)
    assert (s.limits.max_batch_bytes, s.limits.store_quota_bytes) == (16 * MIB, 512 * MIB)
    assert s.db == str(default_db_path()) and not s.is_postgres
    assert (s.host, s.port) == ("127.0.0.1", 8470)


def test_flags_override_the_environment_which_overrides_defaults() -> None:
    env = {
        "CAIRN_BACKUPD_PORT": "9000",
        "CAIRN_BACKUPD_RATE_LIMIT": "5",
        "CAIRN_BACKUPD_STORE_QUOTA_BYTES": "1000",
        "CAIRN_BACKUPD_DB": "postgresql://db/cairn",
    }
    s = settings(["--port", "9100", "--rate-limit", "7"], env)
    assert s.port == 9100
    assert s.limits.rate_limit == 7
    assert s.limits.store_quota_bytes == 1000
    assert s.is_postgres


def test_the_environment_alone_builds_settings_for_an_asgi_factory() -> None:
    s = from_env({"CAIRN_BACKUPD_DB": "/srv/b.sqlite", "CAIRN_BACKUPD_MAX_BATCH_ITEMS": "10"})
    assert s.db == "/srv/b.sqlite" and s.limits.max_batch_items == 10


@pytest.mark.parametrize("value", ["many", "-1", "1.5"])
def test_a_bad_number_is_refused_by_name(value: str) -> None:
    with pytest.raises(ValueError, match="CAIRN_BACKUPD_MAX_OBJECT_BYTES"):
        settings([], {"CAIRN_BACKUPD_MAX_OBJECT_BYTES": value})


def test_a_body_limit_fits_the_largest_valid_batch() -> None:
    limits = Limits()
    # base64 of the batch bytes plus JSON framing for every item
    assert limits.max_body_bytes > limits.max_batch_bytes * 4 // 3 + limits.max_batch_items * 150


def test_a_negative_flag_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="--store-quota-bytes"):
        settings(["--store-quota-bytes", "-1"])
