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

from pathlib import Path

from cairn.files import write_file_atomically

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

# A migration's own files and the reason it gives for the full backup it requires.
STAGING_FILE = RECORDS_FILE + ".upgrading"
BACKUP_DIR = "upgrade-backup"
FULL_BACKUP_REASON = "upgraded from a version without backups"


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
    if not text.isdigit():
        raise UnknownFormatError(
            f"{format_path(directory)} is damaged: it must hold a format number, not "
            f"{text[:20]!r}; restore the wallet with `cairn restore --force` (the folder is kept "
            "beside it)"
        )
    if int(text) not in KNOWN_FORMATS:
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
