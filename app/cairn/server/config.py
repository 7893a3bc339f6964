"""Server settings: limits, listening address and database, from flags or CAIRN_BACKUPD_* env."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

import platformdirs

MIB = 1024 * 1024
ENV_PREFIX = "CAIRN_BACKUPD_"


@dataclass(frozen=True)
class Limits:
    """Every limit the server enforces; 0 disables the rate limit."""

    max_object_bytes: int = 4 * MIB
    max_batch_items: int = 1000
    max_batch_bytes: int = 16 * MIB
    store_quota_bytes: int = 512 * MIB
    rate_limit: int = 600
    rate_window: int = 60
    max_skew: int = 300
    # Per client address (limits.py), counted in each server process's memory; 0 disables each.
    ip_rate_limit: int = 0
    ip_rate_window: int = 60
    new_stores_per_ip: int = 0  # per day
    # Seconds for a request's headers, and the longest pause in its body (http_protocol.py).
    request_timeout: int = 60

    @property
    def max_body_bytes(self) -> int:
        """Largest PUT body accepted: the batch bytes in base64 plus JSON framing per item."""
        return self.max_batch_bytes * 4 // 3 + self.max_batch_items * 256 + 4096


@dataclass(frozen=True)
class Settings:
    """What `cairn-backupd serve` needs to run."""

    db: str
    host: str = "127.0.0.1"
    port: int = 8470
    log_level: str = "info"
    limits: Limits = field(default_factory=Limits)
    pg_pool_size: int = 20
    workers: int = 1
    # Seconds a stop waits for requests in flight before cancelling them.
    shutdown_timeout: int = 10
    # Peers whose X-Forwarded-For is believed (addresses or networks); none by default.
    trusted_proxies: tuple[str, ...] = ()
    registration: str = "open"  # open | invite | allowlist (registration.py)
    allowlist: str = ""  # the node-id file of allowlist mode

    @property
    def is_postgres(self) -> bool:
        return is_postgres_url(self.db)


LOG_LEVELS = ("debug", "info", "warning", "error")
REGISTRATION_MODES = ("open", "invite", "allowlist")


def is_postgres_url(db: str) -> bool:
    return db.startswith(("postgresql://", "postgres://"))


def sqlite_path(db: str) -> Path:
    """The file of a SQLite `--db`: a path, or a `sqlite:///absolute/path` URL.

    Any other URL is refused (ValueError) rather than taken as a relative file name.
    """
    if db.startswith("sqlite:///"):
        return Path("/" + db.removeprefix("sqlite:///").lstrip("/"))
    if "://" in db or db.startswith("sqlite:"):
        raise ValueError(
            f"--db {db!r} is neither a file path, a sqlite:///absolute/path URL nor a "
            "postgresql:// URL"
        )
    return Path(db)


def check_log_level(level: str, what: str) -> str:
    if level.lower() not in LOG_LEVELS:
        raise ValueError(f"{what} must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    return level.lower()


def parse_proxies(text: str, what: str) -> tuple[str, ...]:
    """Comma-separated addresses or networks (CIDR), each checked; empty means none."""
    chosen: list[str] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            chosen.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(f"{what}: {item!r} is not an IP address or network") from None
    return tuple(chosen)


def check_registration(mode: str, allowlist: str, what: str) -> str:
    if mode not in REGISTRATION_MODES:
        raise ValueError(f"{what} must be one of {', '.join(REGISTRATION_MODES)}, got {mode!r}")
    if mode == "allowlist" and not allowlist:
        raise ValueError(
            f"registration mode allowlist needs a file of node ids (--allowlist or "
            f"{env_name('allowlist')})"
        )
    return mode


def build_settings(pick: Callable[[str, str], str], limits: Limits) -> Settings:
    """Settings from `pick(option, default)`: the flag, else the environment, else the default."""
    allowlist = pick("allowlist", "")
    return Settings(
        db=pick("db", str(default_db_path())),
        host=pick("host", "127.0.0.1"),
        port=parse_non_negative(pick("port", "8470"), env_name("port")),
        log_level=check_log_level(pick("log_level", "info"), env_name("log_level")),
        limits=limits,
        pg_pool_size=max(
            1, parse_non_negative(pick("pg_pool_size", "20"), env_name("pg_pool_size"))
        ),
        shutdown_timeout=parse_non_negative(
            pick("shutdown_timeout", "10"), env_name("shutdown_timeout")
        ),
        trusted_proxies=parse_proxies(pick("trusted_proxies", ""), env_name("trusted_proxies")),
        registration=check_registration(
            pick("registration", "open"), allowlist, env_name("registration")
        ),
        allowlist=allowlist,
        workers=parse_workers(pick("workers", "1")),
    )


def default_db_path() -> Path:
    """The embedded default: a SQLite file under the user's data directory."""
    return Path(platformdirs.user_data_dir("cairn-backupd", appauthor=False)) / "backupd.sqlite"


def env_name(option: str) -> str:
    return ENV_PREFIX + option.upper()


def limits_from(values: Mapping[str, int | None], env: Mapping[str, str]) -> Limits:
    """Limits from explicit values (flags) first, then CAIRN_BACKUPD_<NAME> env, then defaults."""
    chosen: dict[str, int] = {}
    for f in fields(Limits):
        flag_value = values.get(f.name)
        if flag_value is not None:
            chosen[f.name] = parse_non_negative(str(flag_value), "--" + f.name.replace("_", "-"))
        elif env_name(f.name) in env:
            chosen[f.name] = parse_non_negative(env[env_name(f.name)], env_name(f.name))
    return Limits(**chosen)


def parse_non_negative(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{what} must be a whole number, got {text!r}") from None
    if value < 0:
        raise ValueError(f"{what} must not be negative, got {value}")
    return value


MAX_WORKERS = 64


def parse_workers(text: str) -> int:
    workers = parse_non_negative(text, "workers")
    if not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"workers must be between 1 and {MAX_WORKERS}, got {workers}")
    return workers


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment alone (used when the app is built by an ASGI factory)."""
    chosen = os.environ if env is None else env
    return build_settings(
        lambda name, default: chosen.get(env_name(name), default), limits_from({}, chosen)
    )
