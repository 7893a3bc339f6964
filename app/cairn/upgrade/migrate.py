"""Migrate a format-1 wallet directory (before backups) to format 2 (record store), crash-safely.

Steps, each safe to repeat:

1. Copy every legacy file into `upgrade-backup/`: wallet.sqlite through sqlite3's online backup
   API, settings.json and labels.jsonl as files (each written to a temp name, fsynced, renamed).
2. Build the record store in a staging file `records.sqlite.upgrading` from those copies
   (records.py): BDK's tables as one changeset record in cairn.wallet's format, the revealed
   indexes, settings as `prefs/...`, labels as `labels/...`, and the "full backup required"
   flag of the backup engine; then the wallet is opened once on it through cairn.wallet.
3. Rename the staging file to `records.sqlite`; write the seed file (cairn.seedfile).
4. Write `format` = 2: the commit point. Before it the directory is still a complete format-1
   directory (its legacy files are never changed), so a crash anywhere up to here means the
   next start builds everything again from the legacy files.
5. Only then remove the plain `seed.txt` and the legacy files (their copies stay in
   `upgrade-backup/`). A crash here is finished by the next start.

Nothing here logs the seed, record names or values.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cairn.config import CONFIG_NAME, AppConfig, load_config, save_config
from cairn.files import (
    fsync_dir,
    remove_if_there,
    sqlite_online_copy,
    sqlite_sidecars,
    take_lock,
    write_file_atomically,
)
from cairn.keys import InvalidMnemonic, Network, validate_mnemonic
from cairn.seedfile import SeedFileError, SeedKeyUnavailable, load_seed, save_seed, seed_exists
from cairn.upgrade.errors import UpgradeError
from cairn.upgrade.formats import (
    BACKUP_DIR,
    CURRENT_FORMAT,
    FORMAT_FILE,
    FULL_BACKUP_REASON,
    LEGACY_FORMAT,
    LEGACY_LABELS,
    LEGACY_SEED,
    LEGACY_SETTINGS,
    LEGACY_WALLET_DB,
    RECORDS_FILE,
    SEED_FILE,
    STAGING_FILE,
    detect_format,
    write_format,
)
from cairn.walletlock import WalletBusy, WalletLock

__all__ = [
    "BACKUP_DIR",
    "FULL_BACKUP_REASON",
    "STAGING_FILE",
    "UpgradeError",
    "UpgradeResult",
    "upgrade_data_dir",
    "upgrade_wallet_dir",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UpgradeResult:
    """What `upgrade_wallet_dir` found and did."""

    wallet_dir: Path
    format_before: int | None
    migrated: bool  # True: this call switched the directory from format 1 to 2
    records: int = 0  # records in the new store (when migrated)
    transactions: int = 0
    labels: int = 0
    skipped_labels: int = 0  # legacy label lines that are not valid BIP-329 (kept in the backup)
    preferences: list[str] = field(default_factory=list)
    cleaned: list[str] = field(default_factory=list)  # legacy leftovers removed


def upgrade_data_dir(data_dir: Path | str) -> list[UpgradeResult]:
    """Upgrade every wallet directory under `<data dir>/wallets/` that needs it.

    The first release kept its settings inside the wallet directory: when config.json does not
    exist yet, it is created from the legacy wallet's network and Esplora URL, so the app opens
    the upgraded wallet. Blocking (SQLite, fsync): run it in a worker thread from the event loop.
    """
    data_dir = Path(data_dir)
    wallets = data_dir / "wallets"
    found: list[tuple[Network, Path]] = []
    if wallets.is_dir():
        for network in Network:
            directory = wallets / network.value
            if directory.is_dir():
                found.append((network, directory))
    legacy = [(n, d) for n, d in found if detect_format(d) == LEGACY_FORMAT]
    if legacy:
        _adopt_legacy_config(data_dir, *legacy[0])
    return [upgrade_wallet_dir(directory, network) for network, directory in found]


def upgrade_wallet_dir(
    wallet_dir: Path | str, network: Network, *, use_keyring: bool = True
) -> UpgradeResult:
    """Bring `wallet_dir` to the current format; finish a migration a crash interrupted.

    A format-2 (or empty) directory is left alone apart from removing what an interrupted
    migration left behind. Raises UpgradeError (directory unchanged) when the legacy wallet
    cannot be read, and UnknownFormatError for a directory of a newer Cairn.
    """
    directory = Path(wallet_dir)
    if not directory.is_dir():
        return UpgradeResult(directory, None, migrated=False)
    with _exclusive(directory):
        return _upgrade_locked(directory, network, use_keyring=use_keyring)


@contextlib.contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on the wallet directory: two Cairns starting at once take turns.

    Without it, a second process could replace the staging file the first is about to rename.
    """
    fd = os.open(directory, os.O_RDONLY)
    try:
        take_lock(fd, blocking=True)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _upgrade_locked(directory: Path, network: Network, *, use_keyring: bool) -> UpgradeResult:
    before = detect_format(directory)
    if before != LEGACY_FORMAT:
        cleaned = _finish_unless_being_made(directory) if before == CURRENT_FORMAT else []
        return UpgradeResult(directory, before, migrated=False, cleaned=cleaned)
    log.info("upgrading a wallet from format %d to %d", LEGACY_FORMAT, CURRENT_FORMAT)
    # Building the store loads the wallet and BDK: only a migration pays for that, never the
    # start of an up-to-date wallet (issue #14).
    from cairn.upgrade.records import build_store

    phrase = _legacy_phrase(directory)
    _remove_leftovers(directory)
    backup = _back_up_legacy_files(directory)
    result = build_store(directory, backup, phrase, network)
    _discard_sidecars(directory / RECORDS_FILE)
    os.replace(directory / STAGING_FILE, directory / RECORDS_FILE)
    fsync_dir(directory)
    save_seed(directory, phrase, use_keyring=use_keyring)
    write_format(directory, CURRENT_FORMAT)  # the commit point
    cleaned = _finish(directory)
    log.info(
        "wallet upgraded: %d records in the new store (this machine's own bookkeeping included, "
        "which is never backed up), %d transactions, %d labels",
        result.records,
        result.transactions,
        result.labels,
    )
    return UpgradeResult(
        directory,
        LEGACY_FORMAT,
        migrated=True,
        records=result.records,
        transactions=result.transactions,
        labels=result.labels,
        skipped_labels=result.skipped_labels,
        preferences=result.preferences,
        cleaned=cleaned,
    )


# --- step 1: copies of the legacy files --------------------------------------------------------


def _legacy_phrase(directory: Path) -> str:
    path = directory / LEGACY_SEED
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UpgradeError(
            f"{directory} is an old-format wallet without its {LEGACY_SEED}; restore the "
            "wallet from its recovery phrase instead"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UpgradeError(f"{path} cannot be read ({type(exc).__name__})") from None
    try:
        return validate_mnemonic(text)
    except InvalidMnemonic:
        raise UpgradeError(
            f"{path} does not hold a valid recovery phrase; restore the wallet from its "
            "recovery phrase instead"
        ) from None


def _back_up_legacy_files(directory: Path) -> Path:
    """Copy the legacy files to upgrade-backup/ (the BDK file through the online backup API)."""
    backup = directory / BACKUP_DIR
    backup.mkdir(mode=0o700, exist_ok=True)
    source = directory / LEGACY_WALLET_DB
    if not source.is_file():
        raise UpgradeError(
            f"{directory} is an old-format wallet without its {LEGACY_WALLET_DB}; restore the "
            "wallet from its recovery phrase instead"
        )
    try:
        sqlite_online_copy(source, backup / LEGACY_WALLET_DB)
    except sqlite3.DatabaseError as exc:
        raise UpgradeError(f"{source} cannot be read as a database ({exc})") from None
    for name in (LEGACY_SETTINGS, LEGACY_LABELS):
        try:
            data = (directory / name).read_bytes()
        except FileNotFoundError:
            continue
        write_file_atomically(backup / name, data)
    fsync_dir(directory)
    return backup


# --- step 5: after the commit --------------------------------------------------------------------


def _finish_unless_being_made(directory: Path) -> list[str]:
    """`_finish`, unless another program is creating or restoring this wallet right now
    (cairn.walletlock): the temporary files it is writing are its own, not leftovers."""
    try:
        lock = WalletLock.take(directory)
    except WalletBusy:
        return []
    except OSError:
        return _finish(directory)  # a folder no one can write to: no one is making a wallet there
    with lock:
        return _finish(directory)


def _finish(directory: Path) -> list[str]:
    """Remove what a migration leaves once `format` is 2: staging files, plain seed, legacy files."""
    cleaned = _remove_leftovers(directory)
    plain_seed = directory / LEGACY_SEED
    if plain_seed.exists() and _secure_seed_file(directory) and remove_if_there(plain_seed):
        cleaned.append(LEGACY_SEED)
    backup = directory / BACKUP_DIR
    for name in (LEGACY_WALLET_DB, LEGACY_SETTINGS, LEGACY_LABELS):
        legacy = directory / name
        if legacy.exists() and (backup / name).exists():
            for path in (legacy, *_sidecar_paths(legacy)):
                if remove_if_there(path):
                    cleaned.append(path.name)
    if cleaned:
        fsync_dir(directory)
    return cleaned


def _remove_leftovers(directory: Path) -> list[str]:
    """Files a killed migration leaves: the staging store, temp files of atomic writes."""
    staging = directory / STAGING_FILE
    backup = directory / BACKUP_DIR
    leftovers = [staging, *_sidecar_paths(staging)]
    # Atomic writes go through `.<name>.<random>.tmp` (ours and cairn.seedfile's).
    leftovers += directory.glob(f".{FORMAT_FILE}.*.tmp")
    leftovers += directory.glob(f".{SEED_FILE}.*.tmp")
    if backup.is_dir():
        leftovers += backup.glob(".*.tmp")
    return [path.name for path in leftovers if remove_if_there(path)]


def _secure_seed_file(directory: Path) -> bool:
    """Whether the seed file holds the phrase of `seed.txt`, durably (written again if not).

    False when that cannot be checked now (the keyring is locked): the plain seed then stays
    until a later start can check, rather than a second copy being written in plain text.
    """
    phrase = _legacy_phrase(directory)
    if seed_exists(directory):
        try:
            if load_seed(directory)[0] == phrase:
                return True
        except SeedKeyUnavailable:
            return False
        except SeedFileError:
            pass  # damaged: written again below
    save_seed(directory, phrase)
    return True


def _sidecar_paths(path: Path) -> list[Path]:
    return list(sqlite_sidecars(path))


def _discard_sidecars(path: Path) -> None:
    # A stale WAL next to a file that is about to be replaced would be replayed into it.
    for sidecar in _sidecar_paths(path):
        remove_if_there(sidecar)


# --- config.json from the legacy settings ------------------------------------------------------


def _adopt_legacy_config(data_dir: Path, network: Network, directory: Path) -> None:
    """Create config.json from the legacy wallet's settings, or fill in a missing Esplora URL."""
    from cairn.upgrade.records import read_settings  # only for a legacy wallet, as above

    try:
        settings = read_settings(directory / LEGACY_SETTINGS)
    except UpgradeError:
        settings = {}
    url = settings.get("esplora_url")
    esplora = url if isinstance(url, str) and url else None
    if not (data_dir / CONFIG_NAME).exists():
        save_config(data_dir, AppConfig(network=network, esplora_url=esplora))
        return
    config = load_config(data_dir)
    if config.network is network and config.esplora_url is None and esplora is not None:
        save_config(data_dir, config.with_changes(esplora_url=esplora))
