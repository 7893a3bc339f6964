"""Wallet directory formats: which one a directory holds, and the `format` file that says so.

    format 1  the first release, before backups existed:
              format ("1"), seed.txt (the phrase, plain, 0600), wallet.sqlite (BDK's own SQLite
              persister), settings.json (network, Esplora URL, email, fiat currency, ...),
              labels.jsonl (BIP-329)
    format 2  the current one: format ("2"), seed (cairn.seedfile), records.sqlite (the record
              store, with its outbox)

The `format` file is written last when a directory changes format (atomically, after every
other file is durable), so it is the commit point of a migration: whatever else a crash leaves
behind, the directory is what its `format` file says.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
from pathlib import Path

FORMAT_FILE = "format"
LEGACY_FORMAT = 1
CURRENT_FORMAT = 2
KNOWN_FORMATS = (LEGACY_FORMAT, CURRENT_FORMAT)

# Format 1 files.
LEGACY_SEED = "seed.txt"
LEGACY_WALLET_DB = "wallet.sqlite"
LEGACY_SETTINGS = "settings.json"
LEGACY_LABELS = "labels.jsonl"
LEGACY_FILES = (LEGACY_SEED, LEGACY_WALLET_DB, LEGACY_SETTINGS, LEGACY_LABELS)

# Format 2 files (the names cairn.seedfile and the session use).
SEED_FILE = "seed"
RECORDS_FILE = "records.sqlite"


class UnknownFormatError(Exception):
    """The directory says it is in a format this version does not know (a newer Cairn's)."""


def format_path(wallet_dir: Path | str) -> Path:
    return Path(wallet_dir) / FORMAT_FILE


def detect_format(wallet_dir: Path | str) -> int | None:
    """The format of `wallet_dir`, or None when it holds no wallet at all.

    Without a `format` file: a record store means format 2 (the app may create the directory
    and its store before writing the file), a BDK database or a plain seed means format 1.
    Raises UnknownFormatError for a `format` file that is unreadable or names a newer format.
    """
    directory = Path(wallet_dir)
    try:
        text = format_path(directory).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        if (directory / RECORDS_FILE).exists():
            return CURRENT_FORMAT
        if (directory / LEGACY_WALLET_DB).exists() or (directory / LEGACY_SEED).exists():
            return LEGACY_FORMAT
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise UnknownFormatError(
            f"{format_path(directory)} cannot be read ({type(exc).__name__})"
        ) from None
    if not text.isdigit() or int(text) not in KNOWN_FORMATS:
        raise UnknownFormatError(
            f"{directory} holds a wallet in format {text[:20]!r}; this Cairn knows formats "
            f"{', '.join(map(str, KNOWN_FORMATS))}. Open it with a newer Cairn."
        )
    return int(text)


def write_format(wallet_dir: Path | str, version: int) -> None:
    """Write the `format` file atomically and durably (temp file, fsync, rename, fsync dir)."""
    if version not in KNOWN_FORMATS:
        raise ValueError(f"unknown wallet format {version}")
    write_file_atomically(format_path(wallet_dir), f"{version}\n".encode("ascii"))


def write_file_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Temp file created with `mode`, fsync, rename over `path`, fsync the directory."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sqlite_online_copy(source: Path, target: Path) -> None:
    """Copy the SQLite database at `source` to `target` (0600) with sqlite3's backup API.

    The copy is made under a temporary name, fsynced, then renamed: `target` is either absent,
    the previous copy, or a complete new one. `source` is opened as any reader would open it,
    so a journal left by a crash of the old version is rolled back first, as SQLite requires.
    """
    partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    os.close(os.open(partial, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600))
    try:
        reader = sqlite3.connect(source)
        try:
            copy = sqlite3.connect(partial)
            try:
                reader.backup(copy)
            finally:
                copy.close()
        finally:
            reader.close()
        fd = os.open(partial, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    fsync_dir(target.parent)
